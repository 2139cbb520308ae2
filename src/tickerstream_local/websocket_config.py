"""A WebSocket API of the template, as the local server needs it: stage, route selection, each route's
integration (the function it invokes), route responses and the $connect authorizer.

Everything comes from the template's AWS::ApiGatewayV2::* resources, resolved against the deployment
(route keys, stage name, authorizer and integrations are never repeated in code).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tickerstream_local.handlers import function_for_arn

# Lambda integration URIs: arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function arn>/invocations
_FUNCTION_IN_URI = re.compile(r":lambda:path/[^/]+/functions/(?P<arn>.+?)/invocations$")


@dataclass(frozen=True)
class AuthorizerConfig:
    logical_id: str
    function_id: str
    identity_sources: tuple[str, ...]  # e.g. route.request.header.Sec-WebSocket-Protocol


@dataclass(frozen=True)
class RouteConfig:
    route_key: str
    function_id: str | None  # None: a route with no (Lambda proxy) integration
    has_route_response: bool = False
    authorizer: AuthorizerConfig | None = None


@dataclass
class WebSocketApiConfig:
    logical_id: str
    api_id: str
    stage: str
    selection_expression: str
    routes: dict[str, RouteConfig] = field(default_factory=dict)

    def selection_path(self) -> list[str]:
        """`$request.body.action` -> ["action"]: where in the JSON body the route key is."""
        prefix = "$request.body."
        if not self.selection_expression.startswith(prefix):
            raise ValueError(f"{self.logical_id}: route selection {self.selection_expression!r} is not supported locally")
        return self.selection_expression[len(prefix):].split(".")


def _function_of_uri(deployment: Any, uri: Any) -> str:
    found = _FUNCTION_IN_URI.search(str(uri))
    if not found:
        raise ValueError(f"not a Lambda integration URI: {uri!r}")
    return function_for_arn(deployment, found["arn"])


def _of_type(deployment: Any, resource_type: str, api_id: str) -> dict[str, dict[str, Any]]:
    """The resources of `resource_type` that belong to the API `api_id`, properties resolved."""
    found = {}
    for logical_id, resource in deployment.template["Resources"].items():
        if resource.get("Type") == resource_type:
            props = deployment.properties(logical_id)
            if props.get("ApiId") == api_id:
                found[logical_id] = props
    return found


def websocket_apis(deployment: Any) -> list[WebSocketApiConfig]:
    """Every WEBSOCKET API of the deployed template."""
    apis = []
    for logical_id, resource in deployment.template["Resources"].items():
        if resource.get("Type") != "AWS::ApiGatewayV2::Api":
            continue
        props = deployment.properties(logical_id)
        if props.get("ProtocolType") != "WEBSOCKET":
            continue
        apis.append(_api_config(deployment, logical_id, props))
    return apis


def _api_config(deployment: Any, logical_id: str, props: dict[str, Any]) -> WebSocketApiConfig:
    api_id = deployment.ctx.refs[logical_id]
    stages = _of_type(deployment, "AWS::ApiGatewayV2::Stage", api_id)
    if not stages:
        raise ValueError(f"{logical_id}: the template gives the WebSocket API no stage")
    stage = next(iter(stages.values()))["StageName"]
    integrations = {deployment.ctx.refs[lid]: p for lid, p in _of_type(deployment, "AWS::ApiGatewayV2::Integration", api_id).items()}
    authorizers = {
        deployment.ctx.refs[lid]: AuthorizerConfig(lid, _function_of_uri(deployment, p["AuthorizerUri"]),
                                                   tuple(p.get("IdentitySource") or ()))
        for lid, p in _of_type(deployment, "AWS::ApiGatewayV2::Authorizer", api_id).items()
        if p.get("AuthorizerType") == "REQUEST"
    }
    answered = {p["RouteId"] for p in _of_type(deployment, "AWS::ApiGatewayV2::RouteResponse", api_id).values()}
    config = WebSocketApiConfig(logical_id, api_id, stage, props.get("RouteSelectionExpression", "$request.body.action"))
    for route_id, route in _of_type(deployment, "AWS::ApiGatewayV2::Route", api_id).items():
        function_id = None
        target = str(route.get("Target") or "")
        if target.startswith("integrations/"):
            integration = integrations[target.split("/", 1)[1]]
            if integration.get("IntegrationType") not in ("AWS_PROXY", "AWS"):
                raise ValueError(f"{route_id}: only Lambda integrations are served locally")
            function_id = _function_of_uri(deployment, integration["IntegrationUri"])
        authorizer = None
        if route.get("AuthorizationType") == "CUSTOM":
            authorizer = authorizers[route["AuthorizerId"]]
        config.routes[route["RouteKey"]] = RouteConfig(
            route["RouteKey"], function_id, deployment.ctx.refs[route_id] in answered, authorizer)
    return config
