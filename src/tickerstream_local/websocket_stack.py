"""The WebSocket API as part of the local stack: its server, and the two function environment values
that must name local endpoints instead of AWS ones (everything else resolves from the template):

- TOKEN_ISSUER (the authorizer's): the local issuer, which serves `<issuer>/.well-known/jwks.json`;
- CONNECTIONS_URL (the fan-out's): `http://127.0.0.1:<ws_port>/<Stage>`, the local @connections API.

Any function whose template environment has one of these names gets the local value.
"""

from __future__ import annotations

from typing import Any

from tickerstream_local import handlers as local_handlers
from tickerstream_local.functions import Handler, handler_of, load_function
from tickerstream_local.websocket import LocalWebSocketServer, Quotas
from tickerstream_local.websocket_config import websocket_apis


def has_websocket_api(deployment: Any) -> bool:
    return any(r.get("Type") == "AWS::ApiGatewayV2::Api" for r in deployment.template["Resources"].values()) and bool(
        websocket_apis(deployment))


def local_overrides(issuer: str | None, connections_url: str) -> dict[str, str]:
    overrides = {"CONNECTIONS_URL": connections_url}
    if issuer:
        overrides["TOKEN_ISSUER"] = issuer
    return overrides


def load_functions_with_overrides(deployment: Any, overrides: dict[str, str],
                                  stand_ins: dict[str, Handler] | None = None) -> list[str]:
    """Load (once, before anything invokes them) the functions whose environment names an override,
    with the local value; return their logical ids. Stand-ins given by tests are left alone."""
    loaded = []
    for logical_id, resource in deployment.template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function" or logical_id in (stand_ins or {}):
            continue
        environment = deployment.function_environment(logical_id)
        names = set(environment) & set(overrides)
        if not names:
            continue
        if deployment.endpoint_url:
            environment.setdefault("AWS_ENDPOINT_URL", deployment.endpoint_url)
        environment.update({name: overrides[name] for name in names})
        module = load_function(logical_id, environment)
        # resolve_handler's cache: every later invocation (mappings, servers) gets this module
        with local_handlers._LOCK:
            deployment.__dict__.setdefault("_local_handlers", {})[logical_id] = handler_of(logical_id, module)
        loaded.append(logical_id)
    return loaded


def start_websocket(deployment: Any, *, port: int, issuer: str | None, handlers: dict[str, Handler] | None,
                    quotas: Quotas | None = None) -> LocalWebSocketServer | None:
    """Serve the template's WebSocket API (None when it has none) and point the functions at it."""
    if not has_websocket_api(deployment):
        return None
    server = LocalWebSocketServer(deployment, port=port, handlers=handlers, quotas=quotas).start()
    try:
        load_functions_with_overrides(deployment, local_overrides(issuer, server.connections_url), handlers)
    except BaseException:
        server.stop()
        raise
    return server
