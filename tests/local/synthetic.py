"""Fixtures for the local stack's own runtimes: small synthetic templates, handlers, provisioners.

The synthetic templates use the same resource types and property shapes as template.yaml, so the
runtimes are exercised exactly as they are on the real template; provisioners for types that
other modules (provision_lake/provision_api) own are registered here only when those are missing.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from tickerstream_local import stack
from tickerstream_local.stack import Deployment

STREAM_ARN = {"Fn::GetAtt": ["Source", "Arn"]}


def ensure_provisioners() -> None:
    stack._load_provisioners()

    def bucket(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("BucketName") or deployment.name_for(logical_id).lower()
        deployment.client("s3").create_bucket(Bucket=name)
        deployment.record(logical_id, name, Arn=f"arn:aws:s3:::{name}")

    def delivery_stream(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("DeliveryStreamName") or deployment.name_for(logical_id)
        arn = f"arn:aws:firehose:{deployment.ctx.region}:{deployment.ctx.account_id}:deliverystream/{name}"
        deployment.record(logical_id, name, Arn=arn)

    stack.PROVISIONERS.setdefault("AWS::S3::Bucket", bucket)
    stack.PROVISIONERS.setdefault("AWS::KinesisFirehose::DeliveryStream", delivery_stream)


def firehose_template(destination: dict[str, Any], *, shards: int = 1, with_lambda: bool = True) -> dict[str, Any]:
    """Kinesis stream -> delivery stream (optionally with a Lambda processor) -> S3 bucket."""
    dest = {"BucketARN": {"Fn::GetAtt": ["Lake", "Arn"]}, **destination}
    if with_lambda:
        dest.setdefault(
            "ProcessingConfiguration",
            {
                "Enabled": True,
                "Processors": [
                    {
                        "Type": "Lambda",
                        "Parameters": [
                            {"ParameterName": "LambdaArn", "ParameterValue": {"Fn::GetAtt": ["Transform", "Arn"]}},
                            {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": "0"},
                        ],
                    }
                ],
            },
        )
    return {
        "Parameters": {},
        "Resources": {
            "Source": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": shards}},
            "Lake": {"Type": "AWS::S3::Bucket", "Properties": {}},
            "Transform": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Handler": "app.handler", "CodeUri": "unused/"},
            },
            "Hose": {
                "Type": "AWS::KinesisFirehose::DeliveryStream",
                "Properties": {
                    "DeliveryStreamType": "KinesisStreamAsSource",
                    "KinesisStreamSourceConfiguration": {"KinesisStreamARN": STREAM_ARN, "RoleARN": "arn:aws:iam::123456789012:role/x"},
                    "ExtendedS3DestinationConfiguration": dest,
                },
            },
        },
    }


def json_transform(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A transform like the lake's: JSON lines out, `ticker` as partition key; DROP/FAIL markers."""
    out = []
    for record in event["records"]:
        payload = json.loads(base64.b64decode(record["data"]))
        if payload.get("mode") == "drop":
            out.append({"recordId": record["recordId"], "result": "Dropped", "data": record["data"]})
            continue
        if payload.get("mode") == "fail":
            out.append({"recordId": record["recordId"], "result": "ProcessingFailed", "data": record["data"]})
            continue
        line = json.dumps(payload, separators=(",", ":")).encode() + b"\n"
        out.append(
            {
                "recordId": record["recordId"],
                "result": "Ok",
                "data": base64.b64encode(line).decode(),
                "metadata": {"partitionKeys": {"ticker": payload.get("ticker", "NONE")}},
            }
        )
    return {"records": out}


def ensure_cognito_provisioners() -> None:
    """Fallback provisioners for the Cognito types (provision_api owns the real ones)."""
    stack._load_provisioners()
    keys = ("GenerateSecret", "AllowedOAuthFlows", "AllowedOAuthScopes", "AllowedOAuthFlowsUserPoolClient",
            "ExplicitAuthFlows", "AccessTokenValidity", "IdTokenValidity", "TokenValidityUnits")

    def user_pool(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
        request = {"PoolName": props.get("UserPoolName") or deployment.name_for(logical_id)}
        if props.get("LambdaConfig"):
            request["LambdaConfig"] = props["LambdaConfig"]
        pool = deployment.client("cognito-idp").create_user_pool(**request)["UserPool"]
        deployment.record(logical_id, pool["Id"], Arn=pool["Arn"], ProviderName=pool["Id"])

    def client(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
        request = {k: props[k] for k in keys if k in props}
        created = deployment.client("cognito-idp").create_user_pool_client(
            UserPoolId=props["UserPoolId"], ClientName=props.get("ClientName") or logical_id, **request
        )["UserPoolClient"]
        deployment.record(logical_id, created["ClientId"], ClientSecret=created.get("ClientSecret", ""))

    def resource_server(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
        deployment.client("cognito-idp").create_resource_server(
            UserPoolId=props["UserPoolId"], Identifier=props["Identifier"], Name=props["Name"],
            Scopes=props.get("Scopes", []),
        )
        deployment.record(logical_id, props["Identifier"])

    def api(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
        deployment.record(logical_id, f"local{logical_id.lower()}", RootResourceId="root")

    stack.PROVISIONERS.setdefault("AWS::Cognito::UserPool", user_pool)
    stack.PROVISIONERS.setdefault("AWS::Cognito::UserPoolClient", client)
    stack.PROVISIONERS.setdefault("AWS::Cognito::UserPoolResourceServer", resource_server)
    stack.PROVISIONERS.setdefault("AWS::Serverless::Api", api)


def _api_event(path: str, method: str, scopes: list[str] | None = None, authorizer: str | None = None) -> dict[str, Any]:
    auth: dict[str, Any] = {}
    if scopes is not None:
        auth["AuthorizationScopes"] = scopes
    if authorizer:
        auth["Authorizer"] = authorizer
    props: dict[str, Any] = {"RestApiId": {"Ref": "Api"}, "Path": path, "Method": method}
    if auth:
        props["Auth"] = auth
    return {"Type": "Api", "Properties": props}


def api_template(lambda_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """A user pool (resource server `ts`, machine, read-only and user clients) and a Cognito-protected API."""
    pool_props: dict[str, Any] = {}
    if lambda_config:
        pool_props["LambdaConfig"] = lambda_config
    machine = {
        "UserPoolId": {"Ref": "Pool"}, "GenerateSecret": True, "AllowedOAuthFlowsUserPoolClient": True,
        "AllowedOAuthFlows": ["client_credentials"], "AllowedOAuthScopes": ["ts/read", "ts/write"],
        "AccessTokenValidity": 60, "TokenValidityUnits": {"AccessToken": "minutes"},
    }
    resources: dict[str, Any] = {
        "Pool": {"Type": "AWS::Cognito::UserPool", "Properties": pool_props},
        "Scopes": {"Type": "AWS::Cognito::UserPoolResourceServer", "Properties": {
            "UserPoolId": {"Ref": "Pool"}, "Identifier": "ts", "Name": "ts",
            "Scopes": [{"ScopeName": "read", "ScopeDescription": "r"}, {"ScopeName": "write", "ScopeDescription": "w"}]}},
        "MachineClient": {"Type": "AWS::Cognito::UserPoolClient", "Properties": machine},
        "ReaderClient": {"Type": "AWS::Cognito::UserPoolClient", "Properties": {**machine, "AllowedOAuthScopes": ["ts/read"]}},
        "UserClient": {"Type": "AWS::Cognito::UserPoolClient", "Properties": {
            "UserPoolId": {"Ref": "Pool"}, "GenerateSecret": False,
            "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]}},
        "Api": {"Type": "AWS::Serverless::Api", "Properties": {
            "StageName": "dev",
            "Auth": {"DefaultAuthorizer": "Cognito", "AddDefaultAuthorizerToCorsPreflight": False,
                     "Authorizers": {"Cognito": {"UserPoolArn": {"Fn::GetAtt": ["Pool", "Arn"]},
                                                 "Identity": {"Header": "Authorization"}}}},
            "Cors": {"AllowOrigin": "'*'", "AllowHeaders": "'Authorization,Content-Type'",
                     "AllowMethods": "'GET,POST,OPTIONS'", "MaxAge": "'600'"}}},
        "Echo": {"Type": "AWS::Serverless::Function", "Properties": {
            "Handler": "app.handler", "CodeUri": "unused/",
            "Events": {
                "GetItem": _api_event("/items/{id}", "get", ["ts/read"]),
                "PostItem": _api_event("/items", "post", ["ts/write"]),
                "Me": _api_event("/me", "get"),
                "Health": _api_event("/health", "get", authorizer="NONE"),
            }}},
    }
    for name, arn in (lambda_config or {}).items():
        function = name if isinstance(arn, dict) and "Fn::GetAtt" in arn else None
        if function is None and name == "PreTokenGenerationConfig":
            function = "PreTokenGeneration"
        resources.setdefault(function or name, {"Type": "AWS::Serverless::Function",
                                                 "Properties": {"Handler": "app.handler", "CodeUri": "unused/"}})
    return {"Parameters": {}, "Resources": resources}


def echo_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"},
        "body": json.dumps({
            "resource": event["resource"], "path": event["path"], "method": event["httpMethod"],
            "pathParameters": event["pathParameters"], "query": event["queryStringParameters"],
            "body": event["body"], "stage": event["requestContext"]["stage"],
            "requestId": event["requestContext"]["requestId"],
            "sourceIp": event["requestContext"]["identity"]["sourceIp"],
            "claims": (event["requestContext"].get("authorizer") or {}).get("claims"),
        }),
    }
