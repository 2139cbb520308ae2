"""template.yaml's API and Cognito resources, asserted on the CloudFormation the SAM transform produces."""

from __future__ import annotations

import pytest
import yaml

from tickerstream_local.template import REPO_ROOT, sam_template, transformed_template

API_FUNCTIONS = ("ApiIngest", "ApiQuery")
TRIGGERS = ("CognitoPreSignUp", "CognitoPreAuthentication", "CognitoPostAuthentication", "CognitoPreTokenGeneration")


@pytest.fixture(scope="module")
def cfn():
    return transformed_template()


def rest_api_body(cfn) -> dict:
    [api] = [r for r in cfn["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    return api["Properties"]["Body"]


def routes_in_template(cfn) -> dict[tuple[str, str], list[str] | None]:
    """(path, method) -> scopes, or None for a method without an authorizer; OPTIONS left out."""
    out = {}
    for path, methods in rest_api_body(cfn)["paths"].items():
        for method, spec in methods.items():
            if method == "options":
                continue
            [security] = spec["security"]
            [(name, scopes)] = security.items()
            out[(path, method)] = None if name == "NONE" else scopes
            if name != "NONE":
                assert name == "CognitoAuthorizer"
    return out


def test_every_route_but_health_needs_the_cognito_authorizer_with_its_scope(cfn):
    assert routes_in_template(cfn) == {
        ("/quotes", "post"): ["tickerstream/quotes.write"],
        ("/quotes", "get"): ["tickerstream/quotes.read"],
        ("/quotes/{ticker}", "get"): ["tickerstream/quotes.read"],
        ("/quotes/{ticker}/candles", "get"): ["tickerstream/quotes.read"],
        ("/sectors/{sector}", "get"): ["tickerstream/quotes.read"],
        ("/health", "get"): None,
    }
    scheme = rest_api_body(cfn)["components"]["securitySchemes"]["CognitoAuthorizer"]
    assert scheme["x-amazon-apigateway-authorizer"]["type"] == "cognito_user_pools"
    assert scheme["x-amazon-apigateway-authorizer"]["providerARNs"] == [{"Fn::GetAtt": ["UserPool", "Arn"]}]


def test_cors_preflight_needs_no_token(cfn):
    paths = rest_api_body(cfn)["paths"]
    for path in ("/quotes", "/quotes/{ticker}", "/sectors/{sector}"):
        options = paths[path]["options"]
        assert not options.get("security"), f"OPTIONS {path} must not use the authorizer"
        assert options["x-amazon-apigateway-integration"]["type"] == "mock"
        headers = options["responses"]["200"]["headers"]
        assert "Access-Control-Allow-Origin" in headers


def test_the_openapi_file_matches_the_routes(cfn):
    spec = yaml.safe_load((REPO_ROOT / "docs/openapi.yaml").read_text())
    documented = {}
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            security = operation.get("security", spec.get("security"))
            documented[(path, method)] = security[0]["CognitoAuthorizer"] if security else None
    assert documented == routes_in_template(cfn)


def test_stage_throttling_access_logs_and_tracing(cfn):
    [stage] = [r["Properties"] for r in cfn["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage"]
    [setting] = stage["MethodSettings"]
    assert (setting["ResourcePath"], setting["HttpMethod"]) == ("/*", "*")
    assert setting["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    assert stage["TracingEnabled"] is True
    assert "QuotesApiAccessLogGroup" in str(stage["AccessLogSetting"]["DestinationArn"])
    import json

    fields = json.loads(stage["AccessLogSetting"]["Format"])  # JSON access logs
    assert {"request_id", "status", "client_id", "username", "error"} <= set(fields)
    group = cfn["Resources"]["QuotesApiAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    [api] = [r["Properties"] for r in cfn["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}


def test_gateway_errors_use_the_api_error_shape(cfn):
    responses = rest_api_body(cfn)["x-amazon-apigateway-gateway-responses"]
    assert str(responses["UNAUTHORIZED"]["statusCode"]) == "401"
    assert str(responses["MISSING_AUTHENTICATION_TOKEN"]["statusCode"]) == "404"
    for name in ("UNAUTHORIZED", "ACCESS_DENIED", "THROTTLED", "DEFAULT_4XX", "DEFAULT_5XX"):
        template = responses[name]["responseTemplates"]["application/json"]
        assert template.startswith('{"error":{"code":') and "$context.requestId" in template
        assert "gatewayresponse.header.Access-Control-Allow-Origin" in responses[name]["responseParameters"]


def test_machine_client_can_only_use_client_credentials(cfn):
    client = cfn["Resources"]["MachineClient"]["Properties"]
    assert client["GenerateSecret"] is True
    assert client["AllowedOAuthFlows"] == ["client_credentials"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]  # no password, SRP or custom sign-in
    assert client["AllowedOAuthScopes"] == {"Ref": "MachineClientScopes"}
    assert cfn["Resources"]["MachineClient"]["DependsOn"] == "QuotesResourceServer"
    assert client["AccessTokenValidity"] == {"Ref": "MachineTokenValidityMinutes"}


def test_user_client_has_no_secret_and_cannot_write_admin_attributes_or_the_email(cfn):
    client = cfn["Resources"]["UserClient"]["Properties"]
    assert client["GenerateSecret"] is False
    assert set(client["ExplicitAuthFlows"]) == {"ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}
    # Never empty: Cognito reads a missing or empty list as "every standard attribute is writable".
    assert client["WriteAttributes"]
    assert not any(a.startswith("custom:") for a in client["WriteAttributes"])
    # No trigger sees an attribute change, so a user-written e-mail would escape AllowedEmailDomains.
    assert not {"email", "email_verified"} & set(client["WriteAttributes"])


def test_self_sign_up_is_closed_unless_email_domains_are_allowed(cfn):
    template = sam_template()
    pool = cfn["Resources"]["UserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": {"Fn::If": ["AllowsSelfSignUp", False, True]}}
    assert template["Conditions"]["AllowsSelfSignUp"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AllowedEmailDomains"}, ""]}]}
    assert template["Parameters"]["AllowedEmailDomains"]["Default"] == ""  # closed by default
    # The trigger enforcing the list gets the same parameter.
    env = template["Resources"]["CognitoPreSignUp"]["Properties"]["Environment"]["Variables"]
    assert env["ALLOWED_EMAIL_DOMAINS"] == {"Ref": "AllowedEmailDomains"}


def test_a_changed_email_counts_only_once_verified(cfn):
    pool = cfn["Resources"]["UserPool"]["Properties"]
    assert pool["UserAttributeUpdateSettings"] == {"AttributesRequireVerificationBeforeUpdate": ["email"]}
    assert pool["AutoVerifiedAttributes"] == ["email"]


def test_user_pool_policy_mfa_protection_and_triggers(cfn):
    pool = cfn["Resources"]["UserPool"]["Properties"]
    assert pool["UsernameAttributes"] == ["email"]
    policy = pool["Policies"]["PasswordPolicy"]
    assert all(policy[k] for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"))
    assert (pool["MfaConfiguration"], pool["EnabledMfas"]) == ("OPTIONAL", ["SOFTWARE_TOKEN_MFA"])
    assert pool["DeletionProtection"] == {"Fn::If": ["IsProd", "ACTIVE", "INACTIVE"]}
    config = pool["LambdaConfig"]
    assert config["PreTokenGenerationConfig"]["LambdaVersion"] == "V2_0"
    assert {config["PreSignUp"]["Fn::GetAtt"][0], config["PreAuthentication"]["Fn::GetAtt"][0],
            config["PostAuthentication"]["Fn::GetAtt"][0],
            config["PreTokenGenerationConfig"]["LambdaArn"]["Fn::GetAtt"][0]} == set(TRIGGERS)
    scopes = cfn["Resources"]["QuotesResourceServer"]["Properties"]
    assert scopes["Identifier"] == "tickerstream"
    assert {s["ScopeName"] for s in scopes["Scopes"]} == {"quotes.read", "quotes.write"}


def test_cognito_may_invoke_each_trigger_only_from_this_pool(cfn):
    permissions = [r["Properties"] for r in cfn["Resources"].values()
                   if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "cognito-idp.amazonaws.com"]
    assert sorted(p["FunctionName"]["Fn::GetAtt"][0] for p in permissions) == sorted(TRIGGERS)
    assert all(p["SourceArn"] == {"Fn::GetAtt": ["UserPool", "Arn"]} for p in permissions)


@pytest.mark.parametrize("logical_id", API_FUNCTIONS + TRIGGERS)
def test_each_function_logs_to_its_own_group_with_retention(cfn, logical_id):
    props = cfn["Resources"][logical_id]["Properties"]
    group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
    group = cfn["Resources"][group_id]["Properties"]
    assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}/{logical_id}"}
    assert group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}


def statements_of(cfn, logical_id):
    """What the function's role allows beyond writing its own log group and X-Ray traces."""
    role = cfn["Resources"][f"{logical_id}Role"]["Properties"]
    return [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]
            if policy["PolicyName"] != "own-log-group-and-traces"]


def test_ingest_may_only_put_records_and_query_may_only_read(cfn):
    ingest = statements_of(cfn, "ApiIngest")
    assert {a for s in ingest for a in s["Action"]} == {"kinesis:PutRecords", "kinesis:PutRecord"}
    assert all(s["Resource"] == {"Fn::GetAtt": ["QuoteStream", "Arn"]} for s in ingest)
    query = statements_of(cfn, "ApiQuery")
    actions = {(s["Action"] if isinstance(s["Action"], str) else tuple(s["Action"])) for s in query}
    assert actions == {"dynamodb:GetItem", "dynamodb:Query", ("kms:Decrypt", "kms:DescribeKey")}
    for logical_id in TRIGGERS:
        assert statements_of(cfn, logical_id) == []  # triggers need no AWS API at all


def test_no_statement_of_ours_grants_wildcard_actions(cfn):
    ours = [f"{f}Role" for f in API_FUNCTIONS + TRIGGERS] + ["ApiGatewayCloudWatchRole"]
    for logical_id in ours:
        for policy in cfn["Resources"][logical_id]["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert not any("*" in action for action in actions), (logical_id, actions)


def test_outputs_name_what_clients_need():
    outputs = sam_template()["Outputs"]
    assert {"ApiUrl", "UserPoolId", "UserPoolDomain", "TokenUrl", "MachineClientId", "UserClientId"} <= set(outputs)
    assert outputs["TokenUrl"]["Value"]["Fn::Sub"].endswith("/oauth2/token")


@pytest.mark.parametrize(("domains", "admin_only"), [("", True), ("example.com", False)])
def test_the_local_pool_follows_the_sign_up_setting(aws, domains, admin_only):
    from tickerstream_local.stack import deploy

    deployment = deploy(aws, parameter_overrides={"AllowedEmailDomains": domains})
    idp = deployment.client("cognito-idp")
    pool = idp.describe_user_pool(UserPoolId=deployment.ctx.refs["UserPool"])["UserPool"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is admin_only
    assert pool["UserAttributeUpdateSettings"]["AttributesRequireVerificationBeforeUpdate"] == ["email"]
    client = idp.describe_user_pool_client(UserPoolId=deployment.ctx.refs["UserPool"],
                                           ClientId=deployment.ctx.refs["UserClient"])["UserPoolClient"]
    assert "email" not in client["WriteAttributes"]
