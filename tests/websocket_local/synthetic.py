"""A small WebSocket API template in template.yaml's shapes (AWS::ApiGatewayV2::*), with stand-in
functions, to exercise the local server's API Gateway behaviour without the real functions."""

from __future__ import annotations

import json
from typing import Any

PROTOCOL = "tickerstream.v1"
GOOD, WRITE_ONLY = "good-token", "write-only-token"


def _uri(function_id: str) -> dict[str, Any]:
    return {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                       f"${{{function_id}.Arn}}/invocations"}


def _route(key: str, integration: str, **extra: Any) -> dict[str, Any]:
    return {"Type": "AWS::ApiGatewayV2::Route",
            "Properties": {"ApiId": {"Ref": "Api"}, "RouteKey": key,
                           "Target": {"Fn::Sub": f"integrations/${{{integration}}}"}, **extra}}


def websocket_template() -> dict[str, Any]:
    function = {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "functions/none", "Handler": "app.handler"}}
    return {
        "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
        "Resources": {
            "Api": {"Type": "AWS::ApiGatewayV2::Api",
                    "Properties": {"Name": "ws", "ProtocolType": "WEBSOCKET",
                                   "RouteSelectionExpression": "$request.body.action"}},
            "Auth": {"Type": "AWS::ApiGatewayV2::Authorizer",
                     "Properties": {"ApiId": {"Ref": "Api"}, "AuthorizerType": "REQUEST", "Name": "auth",
                                    "AuthorizerUri": _uri("Authorizer"),
                                    "IdentitySource": ["route.request.header.Sec-WebSocket-Protocol"]}},
            "Integration": {"Type": "AWS::ApiGatewayV2::Integration",
                            "Properties": {"ApiId": {"Ref": "Api"}, "IntegrationType": "AWS_PROXY",
                                           "IntegrationUri": _uri("Routes")}},
            "ConnectRoute": _route("$connect", "Integration", AuthorizationType="CUSTOM",
                                   AuthorizerId={"Ref": "Auth"}),
            "DisconnectRoute": _route("$disconnect", "Integration"),
            "EchoRoute": _route("echo", "Integration"),
            "SilentRoute": _route("silent", "Integration"),
            "DefaultRoute": _route("$default", "Integration"),
            "EchoResponse": {"Type": "AWS::ApiGatewayV2::RouteResponse",
                             "Properties": {"ApiId": {"Ref": "Api"}, "RouteId": {"Ref": "EchoRoute"},
                                            "RouteResponseKey": "$default"}},
            "DefaultResponse": {"Type": "AWS::ApiGatewayV2::RouteResponse",
                                "Properties": {"ApiId": {"Ref": "Api"}, "RouteId": {"Ref": "DefaultRoute"},
                                               "RouteResponseKey": "$default"}},
            "Deployment": {"Type": "AWS::ApiGatewayV2::Deployment", "DependsOn": ["ConnectRoute"],
                           "Properties": {"ApiId": {"Ref": "Api"}}},
            "ApiStage": {"Type": "AWS::ApiGatewayV2::Stage",
                         "Properties": {"ApiId": {"Ref": "Api"}, "StageName": {"Ref": "Stage"},
                                        "DeploymentId": {"Ref": "Deployment"}}},
            "Authorizer": function,
            "Routes": function,
        },
    }


class StandIns:
    """An authorizer that knows two tokens, and a route function that records every event it gets."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def authorizer(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        offered = [p.strip() for p in event["headers"].get("Sec-WebSocket-Protocol", "").split(",")]
        token = next((p for p in offered if p != PROTOCOL), None)
        if token not in (GOOD, WRITE_ONLY):
            raise Exception("Unauthorized")  # noqa: TRY002 - what Lambda authorizers raise for a 401
        effect = "Allow" if token == GOOD else "Deny"
        return {"principalId": "user-1", "context": {"sub": "user-1", "scope": "quotes.read"},
                "policyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]}}

    def routes(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        key = event["requestContext"]["routeKey"]
        if key == "$connect":
            return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": PROTOCOL}}
        if key == "echo":
            body = json.loads(event["body"])
            if body.get("fail"):
                raise RuntimeError("asked to fail")
            return {"statusCode": 200, "body": json.dumps({"echo": body, "authorizer": event["requestContext"]["authorizer"]})}
        if key == "$default":
            return {"statusCode": 200, "body": json.dumps({"type": "error", "message": "unknown action"})}
        return {"statusCode": 200, "body": "not sent: this route has no route response"}

    def handlers(self) -> dict[str, Any]:
        return {"Authorizer": self.authorizer, "Routes": self.routes}

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("requestContext", {}).get("eventType") == event_type
                and e.get("type") != "REQUEST"]
