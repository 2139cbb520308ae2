"""The template's REST APIs as the local API serves them: each AWS::Serverless::Api's stage, Cognito
authorizers, CORS and GatewayResponses, and the routes of the functions' `Api` events."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

IMPLICIT_API = "ServerlessRestApi"

# API Gateway's default gateway responses (status, message) by response type.
DEFAULT_RESPONSES = {
    "UNAUTHORIZED": (401, "Unauthorized"),
    "EXPIRED_TOKEN": (403, "The security token included in the request is expired"),
    "ACCESS_DENIED": (403, "Forbidden"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "BAD_REQUEST_BODY": (400, "Invalid request body"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "Internal server error"),
    "INTEGRATION_FAILURE": (504, "Internal server error"),
    "DEFAULT_5XX": (502, "Internal server error"),
}
@dataclass
class Route:
    api_id: str
    function_id: str
    event_name: str
    path: str
    method: str  # upper case, or ANY
    authorizer: str | None  # name of a Cognito authorizer of the API, None = open
    scopes: list[str]
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        regex = ""
        for part in re.split(r"(\{[^}]+\})", self.path):
            if part.startswith("{") and part.endswith("+}"):
                regex += f"(?P<{part[1:-2]}>.+)"
            elif part.startswith("{"):
                regex += f"(?P<{part[1:-1]}>[^/]+)"
            else:
                regex += re.escape(part)
        self.pattern = re.compile(f"^{regex}/?$")


def unquote_literal(value: Any) -> str:
    """API Gateway header values are quoted literals (`"'*'"`); the value itself is what is sent."""
    text = str(value)
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text


@dataclass
class ApiConfig:
    logical_id: str
    stage: str
    authorizers: dict[str, dict[str, Any]]  # name -> {UserPoolArn, Identity, AuthorizationScopes}
    default_authorizer: str | None
    cors: dict[str, str] | None
    gateway_responses: dict[str, dict[str, Any]]


def api_configs(deployment: Any) -> dict[str, ApiConfig]:
    configs: dict[str, ApiConfig] = {}
    for logical_id, resource in deployment.template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Api":
            continue
        props = deployment.properties(logical_id)
        auth = props.get("Auth", {})
        cors = props.get("Cors")
        if isinstance(cors, str):
            cors = {"AllowOrigin": cors}
        configs[logical_id] = ApiConfig(
            logical_id=logical_id,
            stage=str(props.get("StageName", "Prod")),
            authorizers=auth.get("Authorizers", {}),
            default_authorizer=auth.get("DefaultAuthorizer"),
            cors=cors,
            gateway_responses=props.get("GatewayResponses", {}),
        )
    return configs


def api_routes(deployment: Any) -> list[Route]:
    configs = api_configs(deployment)
    routes = []
    for function_id, resource in deployment.template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event_name, event in (resource.get("Properties", {}).get("Events") or {}).items():
            if event.get("Type") != "Api":
                continue
            raw = event["Properties"]
            api_ref = raw.get("RestApiId", {"Ref": IMPLICIT_API})
            api_id = api_ref["Ref"] if isinstance(api_ref, dict) and "Ref" in api_ref else str(api_ref)
            props = {k: v for k, v in raw.items() if k != "RestApiId"}
            props = deployment.resolve(props)
            config = configs.get(api_id)
            auth = props.get("Auth", {})
            authorizer = auth.get("Authorizer", config.default_authorizer if config else None)
            if authorizer in ("NONE", "AWS_IAM"):
                authorizer = None if authorizer == "NONE" else authorizer
            scopes = auth.get("AuthorizationScopes")
            if scopes is None and authorizer and config:
                scopes = config.authorizers.get(authorizer, {}).get("AuthorizationScopes", [])
            routes.append(Route(api_id, function_id, event_name, props["Path"], props["Method"].upper(),
                                authorizer, list(scopes or [])))
    return routes
