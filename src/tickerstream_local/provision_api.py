"""Local provisioners for the API and Cognito resources of template.yaml (loaded by stack.deploy()).

Cognito user pools, resource servers, app clients and domains are created on moto (cognito-idp), and
record what CloudFormation's Ref / GetAtt return for them. API Gateway, Lambda permissions and the
account-wide API Gateway logging role have no local meaning (the local API server routes requests to
the functions in-process): they are recorded so references to them resolve, and nothing is created.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tickerstream_local.cognito import pool_signing_key
from tickerstream_local.stack import PROVISIONERS, Deployment, provisioner


def _list(value: Any) -> list[str]:
    """A list property: CloudFormation gives a list (parameter_values does too); a literal may be a string."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(item) for item in value]


def _pick(props: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: props[name] for name in names if name in props}


def _fake_id(deployment: Deployment, logical_id: str, length: int = 10) -> str:
    digest = hashlib.sha256(f"{deployment.ctx.stack_name}/{logical_id}".encode()).hexdigest()
    return digest[:length]


@provisioner("AWS::Cognito::UserPool")
def _user_pool(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    request: dict[str, Any] = {"PoolName": props.get("UserPoolName") or deployment.name_for(logical_id)}
    request.update(_pick(props, "UsernameAttributes", "AutoVerifiedAttributes", "MfaConfiguration",
                         "UsernameConfiguration", "AccountRecoverySetting", "DeletionProtection",
                         "UserAttributeUpdateSettings"))
    if "AdminCreateUserConfig" in props:  # whether people may sign themselves up (moto keeps, not enforces, it)
        request["AdminCreateUserConfig"] = {
            "AllowAdminCreateUserOnly": bool(props["AdminCreateUserConfig"].get("AllowAdminCreateUserOnly", False))}
    policy = (props.get("Policies") or {}).get("PasswordPolicy")
    if policy:
        request["Policies"] = {
            "PasswordPolicy": {
                key: (int(value) if key in ("MinimumLength", "TemporaryPasswordValidityDays") else bool(value))
                for key, value in policy.items()
            }
        }
    if props.get("Schema"):
        request["Schema"] = [
            {**attribute, "Mutable": bool(attribute.get("Mutable", True))} for attribute in props["Schema"]
        ]
    # LambdaConfig is left out: moto does not invoke triggers; the local runtime calls them in-process.
    pool = deployment.client("cognito-idp").create_user_pool(**request)["UserPool"]
    pool_id = pool["Id"]
    region = deployment.ctx.region
    pool_signing_key(deployment, pool_id)  # this stack's own token key, not the one moto ships
    if "SOFTWARE_TOKEN_MFA" in (props.get("EnabledMfas") or []) and props.get("MfaConfiguration", "OFF") != "OFF":
        deployment.client("cognito-idp").set_user_pool_mfa_config(
            UserPoolId=pool_id,
            SoftwareTokenMfaConfiguration={"Enabled": True},
            MfaConfiguration=props["MfaConfiguration"],
        )
    deployment.record(
        logical_id,
        pool_id,
        physical=request["PoolName"],
        Arn=pool.get("Arn") or f"arn:aws:cognito-idp:{region}:{deployment.ctx.account_id}:userpool/{pool_id}",
        ProviderName=f"cognito-idp.{region}.amazonaws.com/{pool_id}",
        ProviderURL=f"https://cognito-idp.{region}.amazonaws.com/{pool_id}",
        UserPoolId=pool_id,
    )


@provisioner("AWS::Cognito::UserPoolResourceServer")
def _resource_server(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    deployment.client("cognito-idp").create_resource_server(
        UserPoolId=props["UserPoolId"],
        Identifier=props["Identifier"],
        Name=props["Name"],
        Scopes=props.get("Scopes") or [],
    )
    deployment.record(logical_id, props["Identifier"])


@provisioner("AWS::Cognito::UserPoolClient")
def _user_pool_client(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    request: dict[str, Any] = {
        "UserPoolId": props["UserPoolId"],
        "ClientName": props.get("ClientName") or deployment.name_for(logical_id),
        "GenerateSecret": bool(props.get("GenerateSecret", False)),
    }
    for name in ("ExplicitAuthFlows", "AllowedOAuthFlows", "AllowedOAuthScopes", "SupportedIdentityProviders",
                 "ReadAttributes", "WriteAttributes", "CallbackURLs", "LogoutURLs"):
        if name in props:
            request[name] = _list(props[name])
    for name in ("AccessTokenValidity", "IdTokenValidity", "RefreshTokenValidity"):
        if name in props:
            request[name] = int(props[name])
    for name in ("AllowedOAuthFlowsUserPoolClient", "EnableTokenRevocation"):
        if name in props:
            request[name] = bool(props[name])
    request.update(_pick(props, "TokenValidityUnits", "PreventUserExistenceErrors"))
    client = deployment.client("cognito-idp").create_user_pool_client(**request)["UserPoolClient"]
    deployment.record(
        logical_id,
        client["ClientId"],
        physical=request["ClientName"],
        ClientId=client["ClientId"],
        ClientSecret=client.get("ClientSecret"),
        Name=request["ClientName"],
    )


@provisioner("AWS::Cognito::UserPoolDomain")
def _user_pool_domain(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    response = deployment.client("cognito-idp").create_user_pool_domain(
        Domain=props["Domain"], UserPoolId=props["UserPoolId"]
    )
    deployment.record(
        logical_id,
        props["Domain"],
        CloudFrontDistribution=response.get("CloudFrontDomain")
        or f"{props['Domain']}.auth.{deployment.ctx.region}.amazoncognito.com",
    )


@provisioner("AWS::Serverless::Api")
def _serverless_api(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    api_id = _fake_id(deployment, logical_id)
    deployment.record(logical_id, api_id, physical=props.get("Name") or api_id,
                      RootResourceId=_fake_id(deployment, f"{logical_id}/root", 10))


@provisioner("AWS::Lambda::Permission")
def _lambda_permission(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    deployment.record(logical_id, deployment.name_for(logical_id))


@provisioner("AWS::ApiGateway::Account")
def _api_gateway_account(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    deployment.record(logical_id, _fake_id(deployment, logical_id))


if "AWS::IAM::Role" not in PROVISIONERS:  # another provision_* module may create roles for real

    @provisioner("AWS::IAM::Role")
    def _iam_role(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("RoleName") or deployment.name_for(logical_id)
        deployment.record(
            logical_id, name,
            Arn=f"arn:aws:iam::{deployment.ctx.account_id}:role/{name}",
            RoleId=f"AROA{_fake_id(deployment, logical_id, 17).upper()}",
        )
