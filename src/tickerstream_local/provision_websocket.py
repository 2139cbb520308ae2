"""API Gateway V2 (the WebSocket API) on the local stack: nothing to create in moto, only the ids and
attributes CloudFormation would return, so references to them resolve. The local WebSocket server
(websocket.py) reads routes, integrations, the authorizer and the stage from the template itself.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tickerstream_local.stack import Deployment, provisioner


def _fake_id(deployment: Deployment, logical_id: str, length: int = 10) -> str:
    """A stable id shaped like API Gateway's (lower-case alphanumerics), one per stack and resource."""
    digest = hashlib.sha256(f"{deployment.ctx.stack_name}/{logical_id}".encode()).hexdigest()
    return digest[:length]


@provisioner("AWS::ApiGatewayV2::Api")
def _api(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    api_id = _fake_id(deployment, logical_id)
    scheme = "wss" if props.get("ProtocolType") == "WEBSOCKET" else "https"
    endpoint = f"{scheme}://{api_id}.execute-api.{deployment.ctx.region}.amazonaws.com"
    deployment.record(logical_id, api_id, physical=props.get("Name") or api_id, ApiId=api_id, ApiEndpoint=endpoint)


@provisioner("AWS::ApiGatewayV2::Stage")
def _stage(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    deployment.record(logical_id, props["StageName"])


def _record_id(attribute: str | None = None) -> Any:
    def create(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
        resource_id = _fake_id(deployment, logical_id, 7)
        deployment.record(logical_id, resource_id, **({attribute: resource_id} if attribute else {}))

    return create


for _type, _attribute in (
    ("AWS::ApiGatewayV2::Route", None),
    ("AWS::ApiGatewayV2::RouteResponse", None),
    ("AWS::ApiGatewayV2::Integration", None),
    ("AWS::ApiGatewayV2::IntegrationResponse", None),
    ("AWS::ApiGatewayV2::Authorizer", "AuthorizerId"),
    ("AWS::ApiGatewayV2::Deployment", "DeploymentId"),
    ("AWS::ApiGatewayV2::Model", "ModelId"),
):
    provisioner(_type)(_record_id(_attribute))
