"""What every API function shares: the error shape, CORS settings, error handlers and caller identity.

Every error body is ``{"error": {"code", "message", "request_id"[, "details"]}}`` - the same shape the
API Gateway gateway responses in template.yaml use for 401/403/404/429/5xx, so clients parse one shape.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response

from tickerstream.numbers import dumps_exact

JSON = "application/json"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=JSON, body=dumps_exact(body),
                    headers=headers)


def error_response(error: ApiError, request_id: str | None) -> Response:
    body: dict[str, Any] = {"code": error.code, "message": error.message, "request_id": request_id}
    if error.details is not None:
        body["details"] = error.details
    return json_response(error.status, {"error": body}, error.headers)


def cors_config(allow_origin: str) -> CORSConfig:
    return CORSConfig(allow_origin=allow_origin or "*", allow_headers=["Authorization", "Content-Type"], max_age=600)


def caller_identity(event: dict[str, Any]) -> dict[str, str]:
    """Who called, from the Cognito authorizer's claims: a user (username) or a machine (client_id)."""
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    username = claims.get("username") or claims.get("cognito:username")
    client_id = claims.get("client_id") or claims.get("aud")
    identity: dict[str, str] = {}
    if username:
        identity["caller_type"], identity["caller"] = "user", str(username)
    elif client_id:
        identity["caller_type"], identity["caller"] = "machine", str(client_id)
    else:
        identity["caller_type"], identity["caller"] = "anonymous", "-"
    if client_id:
        identity["client_id"] = str(client_id)
    return identity


def request_id(app: APIGatewayRestResolver) -> str | None:
    return app.current_event.request_context.request_id


def install_error_handlers(app: APIGatewayRestResolver, logger: Logger) -> None:
    """Unknown routes, ApiError and anything unexpected all answer in the one error shape."""

    @app.not_found
    def not_found(_: Any) -> Response:
        return error_response(ApiError(404, "not_found", "no such route"), request_id(app))

    @app.exception_handler(ApiError)
    def api_error(error: ApiError) -> Response:
        log = logger.warning if error.status >= 500 else logger.info
        log("Request refused", status=error.status, code=error.code, details=error.details)
        return error_response(error, request_id(app))

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.exception("Unexpected error")
        return error_response(ApiError(500, "internal_error", "internal error"), request_id(app))
