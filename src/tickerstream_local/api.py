"""The template's REST API served locally: routes from AWS::Serverless::Function `Api` events, API Gateway
REST proxy events, the Cognito authorizer enforced, CORS preflight, GatewayResponses, and the local
Cognito token endpoint (`POST /oauth2/token`) on the same server.

Routes are served at the root (as `sam local start-api` does) and also under `/<stage>/`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import threading
import urllib.parse
import time
import uuid
from typing import Any

import jwt
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tickerstream_local.api_routes import DEFAULT_RESPONSES, ApiConfig, Route, api_configs, api_routes, unquote_literal
from tickerstream_local.cognito import (
    JwksCache,
    OAuthError,
    PoolConfig,
    Unauthorized,
    authorize,
    client_credentials_token,
    pool_config,
)
from tickerstream_local.cognito_idp import LocalIdentity
from tickerstream_local.functions import Handler
from tickerstream_local.handlers import local_context, resolve_handler
from tickerstream_local.server import LOOPBACK, ensure_port_free

log = logging.getLogger("tickerstream.local.api")
DEFAULT_API_PORT = 3000
# A REST API's payload quota (hard limit): bigger requests never reach the authorizer or the function.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
# Cognito's token endpoint takes a few short form fields; a bigger body is refused before parsing.
MAX_TOKEN_REQUEST_BYTES = 64 * 1024
JSON_HEADERS = {"Content-Type": "application/json;charset=UTF-8", "Cache-Control": "no-store"}


def _java_date(epoch: Any) -> str:
    try:
        moment = dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    except (OverflowError, ValueError, OSError):  # past year 9999: signed, but no date Python can write
        return str(epoch)
    return moment.strftime("%a %b %d %H:%M:%S UTC %Y")


def _claims_for_context(claims: dict[str, Any]) -> dict[str, str]:
    """requestContext.authorizer.claims: strings, dates as API Gateway renders them."""
    out = {}
    for name, value in claims.items():
        if name in ("exp", "iat", "auth_time") and isinstance(value, int | float):
            out[name] = _java_date(value)
        elif isinstance(value, list | dict):
            out[name] = json.dumps(value)
        else:
            out[name] = str(value)
    return out


class LocalApi:
    """A WSGI app: the template's routes, the Cognito authorizer, and `/oauth2/token`."""

    def __init__(
        self,
        deployment: Any,
        *,
        handlers: dict[str, Handler] | None = None,
        jwks: JwksCache | None = None,
    ) -> None:
        self.deployment = deployment
        self.handlers = handlers
        self.configs = api_configs(deployment)
        self.routes = api_routes(deployment)
        self.jwks = jwks or JwksCache(deployment.endpoint_url)
        self._pools: dict[str, PoolConfig] = {}
        # Where this app is served (set by ApiServer): its pools' tokens name `<base_url>/<pool_id>` as
        # issuer, and their keys are found there.
        self.base_url: str | None = None
        self.identity = LocalIdentity(deployment, self.pools, handlers)
        self.board: Any = None  # board.BoardSite once the stack serves the live board (runner.py)
        self.requests = 0
        self.rejected = 0

    # -- Cognito pools -------------------------------------------------------------------------

    def pool_for_arn(self, arn: str) -> PoolConfig:
        pool_id = arn.rsplit("/", 1)[-1]
        if pool_id not in self._pools:
            for logical_id, ref in self.deployment.ctx.refs.items():
                if ref == pool_id:
                    pool = pool_config(self.deployment, logical_id)
                    if self.base_url:
                        pool.issuer_url = f"{self.base_url}/{pool_id}"
                    self._pools[pool_id] = pool
                    break
            else:
                raise KeyError(f"no user pool {pool_id} in the template")
        return self._pools[pool_id]

    def pools(self) -> list[PoolConfig]:
        return [self.pool_for_arn(self.deployment.ctx.refs[logical_id])
                for logical_id, resource in self.deployment.template["Resources"].items()
                if resource.get("Type") == "AWS::Cognito::UserPool" and logical_id in self.deployment.ctx.refs]

    def default_pool(self) -> PoolConfig | None:
        return next(iter(self.pools()), None)

    # -- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except Exception:  # noqa: BLE001 - a fault of the local API itself: API Gateway's 5xx
            log.exception("local API failed on %s %s", request.method, request.path)
            response = self.gateway_response(self.api_for(request.path), "DEFAULT_5XX", str(uuid.uuid4()))
        return response(environ, start_response)

    def api_for(self, path: str) -> ApiConfig | None:
        """The API a request is for when no route matched: the one whose stage prefixes the path, else the
        only (or first) API - on AWS the host name says which API it is, and all are served here."""
        for config in self.configs.values():
            if path == f"/{config.stage}" or path.startswith(f"/{config.stage}/"):
                return config
        route_apis = [self.configs[r.api_id] for r in self.routes if r.api_id in self.configs]
        return route_apis[0] if route_apis else next(iter(self.configs.values()), None)

    def dispatch(self, request: Request) -> Response:
        self.requests += 1
        request_id = str(uuid.uuid4())
        if request.path == "/oauth2/token":
            return self.token(request)
        if self.identity.handles(request.path):
            return self.identity.respond(request, f"{self.base_url or request.host_url.rstrip('/')}/oauth2/token")
        if self.board is not None and self.board.handles(request):
            return self.board.respond(request)
        path = request.path
        route, params, config, resource_path = self.match(path, request.method)
        if route is None and config is None:
            self.rejected += 1
            return self.gateway_response(self.api_for(path), "MISSING_AUTHENTICATION_TOKEN", request_id)
        if request.method == "OPTIONS" and (route is None or route.method not in ("OPTIONS", "ANY")):
            if config and config.cors:
                return self.preflight(config)
        if route is None:
            self.rejected += 1
            return self.gateway_response(config, "MISSING_AUTHENTICATION_TOKEN", request_id)
        if (request.content_length or 0) > MAX_PAYLOAD_BYTES:
            self.rejected += 1
            return self.gateway_response(config, "REQUEST_TOO_LARGE", request_id)
        claims = None
        if route.authorizer:
            definition = config.authorizers.get(route.authorizer, {}) if config else {}
            header = (definition.get("Identity") or {}).get("Header", "Authorization")
            pool = self.pool_for_arn(definition["UserPoolArn"])
            try:
                claims = authorize(request.headers.get(header), pool, self.jwks, route.scopes)
            except Unauthorized as refusal:
                self.rejected += 1
                log.info("401 %s %s: %s", request.method, path, refusal.reason)
                return self.gateway_response(config, "UNAUTHORIZED", request_id, refusal.message)
            except (jwt.PyJWTError, TypeError, ValueError, KeyError, OverflowError) as exc:
                # A token the checks above did not foresee (a kid that is a list, a non-numeric exp):
                # API Gateway's authorizer refuses what it cannot read, it does not fail.
                self.rejected += 1
                log.warning("401 %s %s: unreadable token (%s: %s)", request.method, path, type(exc).__name__, exc)
                return self.gateway_response(config, "UNAUTHORIZED", request_id)
            except OSError:
                log.exception("the authorizer could not read the pool's keys")
                return self.gateway_response(config, "AUTHORIZER_CONFIGURATION_ERROR", request_id)
        try:
            event = self.event(route, params, request, request_id, claims, config, resource_path)
        except RequestEntityTooLarge:  # a chunked body past the quota
            self.rejected += 1
            return self.gateway_response(config, "REQUEST_TOO_LARGE", request_id)
        return self.invoke(route, event, request_id, config)

    def match(self, path: str, method: str) -> tuple[Route | None, dict[str, str], ApiConfig | None, str]:
        """(route, path parameters, its API, the path without the stage) - or the API whose path it is."""
        candidates = [path]
        for config in self.configs.values():
            prefix = f"/{config.stage}"
            if path == prefix or path.startswith(prefix + "/"):
                candidates.append(path[len(prefix):] or "/")
        path_known: ApiConfig | None = None
        for candidate in candidates:
            for route in self.routes:
                found = route.pattern.match(candidate)
                if not found:
                    continue
                config = self.configs.get(route.api_id)
                if route.method in (method, "ANY"):
                    return route, found.groupdict(), config, candidate
                path_known = path_known or config or ApiConfig(route.api_id, "Prod", {}, None, None, {})
        return None, {}, path_known, path

    # -- responses -----------------------------------------------------------------------------

    def gateway_response(self, config: ApiConfig | None, kind: str, request_id: str, message: str | None = None) -> Response:
        status, default_message = DEFAULT_RESPONSES.get(kind, (400, "Bad Request"))
        message = message or default_message
        custom = (config.gateway_responses if config else {}).get(kind)
        if custom is None and config:
            family = "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"
            custom = config.gateway_responses.get(family)
            if custom is not None:
                custom = {k: v for k, v in custom.items() if k != "StatusCode"}
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id,
                   "x-amzn-ErrorType": f"{kind}Exception"}
        body = json.dumps({"message": message})
        if custom:
            status = int(custom.get("StatusCode", status))
            for name, value in (custom.get("ResponseParameters", {}).get("Headers") or {}).items():
                headers[name] = unquote_literal(value)
            template = (custom.get("ResponseTemplates") or {}).get("application/json")
            if template:
                body = (template.replace("$context.error.messageString", json.dumps(message))
                        .replace("$context.error.message", message)
                        .replace("$context.error.responseType", kind)
                        .replace("$context.requestId", request_id))
        return Response(body, status=status, headers=headers)

    def preflight(self, config: ApiConfig) -> Response:
        cors = config.cors or {}
        headers = {"Access-Control-Allow-Origin": unquote_literal(cors.get("AllowOrigin", "*"))}
        for key, header in (("AllowHeaders", "Access-Control-Allow-Headers"),
                            ("AllowMethods", "Access-Control-Allow-Methods"),
                            ("MaxAge", "Access-Control-Max-Age")):
            if key in cors:
                headers[header] = unquote_literal(cors[key])
        if str(cors.get("AllowCredentials", "")).lower() == "true":
            headers["Access-Control-Allow-Credentials"] = "true"
        return Response("", status=200, headers=headers)

    def event(self, route: Route, params: dict[str, str], request: Request, request_id: str,
              claims: dict[str, Any] | None, config: ApiConfig | None, resource_path: str) -> dict[str, Any]:
        request.max_content_length = MAX_PAYLOAD_BYTES
        body_bytes = request.get_data()
        is_binary = False
        try:
            body: str | None = body_bytes.decode() if body_bytes else None
        except UnicodeDecodeError:
            body, is_binary = base64.b64encode(body_bytes).decode(), True
        headers = {k: v for k, v in request.headers.items()}
        multi_headers: dict[str, list[str]] = {}
        for k, v in request.headers.items():
            multi_headers.setdefault(k, []).append(v)
        query = {k: request.args.getlist(k)[-1] for k in request.args}
        multi_query = {k: request.args.getlist(k) for k in request.args}
        stage = config.stage if config else "Prod"
        now = time.time()
        context: dict[str, Any] = {
            "resourceId": uuid.uuid5(uuid.NAMESPACE_URL, route.path).hex[:6],
            "resourcePath": route.path,
            "httpMethod": request.method,
            "extendedRequestId": request_id.replace("-", "")[:16] + "=",
            "requestTime": dt.datetime.fromtimestamp(now, dt.UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{request.path}" if not request.path.startswith(f"/{stage}/") else request.path,
            "accountId": self.deployment.ctx.account_id,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "stage": stage,
            "domainPrefix": "localhost",
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None, "caller": None,
                "sourceIp": request.remote_addr or LOOPBACK, "principalOrgId": None, "accessKey": None,
                "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None, "userArn": None,
                "userAgent": request.headers.get("User-Agent"), "user": None,
            },
            "domainName": request.host,
            "apiId": self.deployment.physical.get(route.api_id, route.api_id),
        }
        if claims is not None:
            context["authorizer"] = {"claims": _claims_for_context(claims)}
        # A REST API's `path` is the request's path after the stage, still percent-encoded as sent;
        # `pathParameters` and the query are decoded.
        raw_path = str(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or "").split("?", 1)[0]
        encoded = urllib.parse.quote(resource_path, safe="/!$&'()*+,;=:@-._~")
        if raw_path.startswith("/"):
            stage_prefix = f"/{stage}"
            encoded = raw_path[len(stage_prefix):] if raw_path.startswith(stage_prefix + "/") else raw_path
        return {
            "resource": route.path,
            "path": encoded,
            "httpMethod": request.method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": context,
            "body": body,
            "isBase64Encoded": is_binary,
        }

    def invoke(self, route: Route, event: dict[str, Any], request_id: str, config: ApiConfig | None) -> Response:
        handler = resolve_handler(self.deployment, route.function_id, self.handlers)
        try:
            result = handler(event, local_context(self.deployment, route.function_id))
        except Exception:  # noqa: BLE001 - a function error: API Gateway answers 502
            log.exception("%s raised", route.function_id)
            return self.gateway_response(config, "DEFAULT_5XX", request_id)
        if not isinstance(result, dict) or not isinstance(result.get("statusCode", 200), int):
            log.error("%s returned a malformed proxy response: %r", route.function_id, result)
            return self.gateway_response(config, "DEFAULT_5XX", request_id)
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        response = Response(data, status=int(result.get("statusCode", 200)))
        response.headers.pop("Content-Type", None)
        response.headers["x-amzn-RequestId"] = request_id
        for name, value in (result.get("headers") or {}).items():
            response.headers[name] = str(value)
        for name, values in (result.get("multiValueHeaders") or {}).items():
            response.headers.remove(name)
            for value in values:
                response.headers.add(name, str(value))
        if "Content-Type" not in response.headers:
            response.headers["Content-Type"] = "application/json"
        return response

    # -- Cognito token endpoint ----------------------------------------------------------------

    def token(self, request: Request) -> Response:
        """Cognito's `/oauth2/token` (client_credentials): every refusal is OAuth2's `{"error": ...}`."""
        if request.method != "POST":
            return self.oauth_error(405, "invalid_request", {"Allow": "POST"})
        if request.mimetype != "application/x-www-form-urlencoded":
            return self.oauth_error(400, "invalid_request")
        pool = self.default_pool()
        if pool is None:
            return self.oauth_error(400, "invalid_request")
        request.max_content_length = MAX_TOKEN_REQUEST_BYTES
        try:
            fields = request.form.lists()
            form: dict[str, str] = {}
            for name, values in fields:
                if len(values) != 1:  # RFC 6749 3.1: parameters MUST NOT be included more than once
                    return self.oauth_error(400, "invalid_request")
                form[name] = values[0]
        except HTTPException:  # body over the limit, unreadable form
            return self.oauth_error(400, "invalid_request")
        try:
            body = client_credentials_token(pool, form, request.headers.get("Authorization"))
        except OAuthError as error:
            return self.oauth_error(error.status, error.error)
        return Response(json.dumps(body), status=200, headers=JSON_HEADERS)

    @staticmethod
    def oauth_error(status: int, error: str, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps({"error": error}), status=status, headers={**JSON_HEADERS, **(headers or {})})


class ApiServer:
    """LocalApi on a werkzeug threaded server on 127.0.0.1 (port 0 = any free port)."""

    def __init__(self, app: LocalApi, port: int = DEFAULT_API_PORT) -> None:
        self.app = app
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> ApiServer:
        ensure_port_free(self.port, "local API")
        self._server = make_server(LOOPBACK, self.port, self.app, threaded=True)
        self.port = self._server.server_port
        self.app.base_url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
