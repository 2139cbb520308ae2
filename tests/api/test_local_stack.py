"""provision_api: the template's Cognito resources exist on moto with what CloudFormation would return."""

from __future__ import annotations

import boto3


def test_cognito_resources_are_created_on_moto(deployment):
    cognito = boto3.client("cognito-idp")
    refs, attributes = deployment.ctx.refs, deployment.ctx.attributes
    pool_id = refs["UserPool"]
    pool = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 14
    assert attributes["UserPool"]["Arn"].endswith(f":userpool/{pool_id}")
    assert attributes["UserPool"]["ProviderURL"] == f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}"

    machine = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=refs["MachineClient"])["UserPoolClient"]
    assert machine["AllowedOAuthFlows"] == ["client_credentials"]
    assert machine["AllowedOAuthScopes"] == ["tickerstream/quotes.read", "tickerstream/quotes.write"]
    assert machine["ClientSecret"] == attributes["MachineClient"]["ClientSecret"]
    user = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=refs["UserClient"])["UserPoolClient"]
    assert "ClientSecret" not in user and "ALLOW_USER_PASSWORD_AUTH" in user["ExplicitAuthFlows"]

    server = cognito.describe_resource_server(UserPoolId=pool_id, Identifier="tickerstream")["ResourceServer"]
    assert {s["ScopeName"] for s in server["Scopes"]} == {"quotes.read", "quotes.write"}
    domain = cognito.describe_user_pool_domain(Domain=refs["UserPoolDomain"])["DomainDescription"]
    assert domain["UserPoolId"] == pool_id and refs["UserPoolDomain"] == "tickerstream-123456789012-dev"
    assert refs["QuotesApi"] and "RootResourceId" in attributes["QuotesApi"]
