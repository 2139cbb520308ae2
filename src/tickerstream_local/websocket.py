"""The template's WebSocket API served locally (library `websockets`, asyncio, in its own thread).

    ws://127.0.0.1:<port>/<Stage>                      the WebSocket API
    http://127.0.0.1:<port>/<Stage>/@connections/<id>  its management API (websocket_management.py)

As API Gateway does: the $connect route's REQUEST authorizer runs on the handshake (missing identity
source or "Unauthorized" -> 401, Deny -> 403), then the $connect integration (non-2xx -> refused; its
Sec-WebSocket-Protocol header picks the subprotocol); each message is routed by the API's route
selection expression (or `$default`) and, where the route has a route response, the function's body
is sent back; $disconnect runs when a connection ends. Quotas: 128 KB message and 32 KB frame (1009),
10-minute idle timeout and 2-hour lifetime (1001; both settable so tests can shorten them).
Functions run in-process (handlers.py) on a small thread pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http
import json
import logging
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from tickerstream_local.functions import Handler
from tickerstream_local.handlers import local_context, resolve_handler
from tickerstream_local.server import LOOPBACK, ensure_port_free
from tickerstream_local.websocket_config import RouteConfig, WebSocketApiConfig, websocket_apis
from tickerstream_local.websocket_events import (
    AuthorizerRefusal,
    ConnectionInfo,
    allowed_context,
    authorizer_event,
    connect_event,
    disconnect_event,
    message_event,
    method_arn,
    new_connection_id,
    route_key_of,
)
from tickerstream_local.websocket_management import (
    MANAGEMENT_MARKER,
    GatewayConnection,
    connection_class,
    forbidden,
    gone,
    ok,
    payload_too_large,
)

log = logging.getLogger("tickerstream.local.websocket")
DEFAULT_WS_PORT = 3001


@dataclass(frozen=True)
class Quotas:
    """API Gateway's WebSocket quotas (hard limits there); the two timeouts can be shortened for tests."""

    max_message_bytes: int = 128 * 1024
    max_frame_bytes: int = 32 * 1024
    idle_timeout: float = 10 * 60
    max_lifetime: float = 2 * 60 * 60


class LocalWebSocketServer:
    """One WebSocket API of the deployment on 127.0.0.1:`port` (0: any free port)."""

    def __init__(self, deployment: Any, *, port: int = DEFAULT_WS_PORT, handlers: dict[str, Handler] | None = None,
                 quotas: Quotas | None = None, api: WebSocketApiConfig | None = None, workers: int = 8) -> None:
        apis = [api] if api is not None else websocket_apis(deployment)
        if not apis:
            raise ValueError("the template has no WebSocket API")
        self.config = apis[0]
        self.deployment = deployment
        self.port = port
        self.handlers = handlers
        self.quotas = quotas or Quotas()
        self.connections: dict[str, tuple[ServerConnection, ConnectionInfo]] = {}
        self.management_connections: set[GatewayConnection] = set()  # kept-alive @connections clients
        self.stats = {"connected": 0, "refused": 0, "messages": 0, "posted": 0, "gone": 0, "disconnected": 0}
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ws-function")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def max_message_bytes(self) -> int:
        return self.quotas.max_message_bytes

    @property
    def max_frame_bytes(self) -> int:
        return self.quotas.max_frame_bytes

    @property
    def url(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}/{self.config.stage}"

    @property
    def connections_url(self) -> str:
        """What BoardFanout's apigatewaymanagementapi client takes as endpoint_url."""
        return f"http://{LOOPBACK}:{self.port}/{self.config.stage}"

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> LocalWebSocketServer:
        ensure_port_free(self.port, "local WebSocket API")
        self._loop = asyncio.new_event_loop()
        started = concurrent.futures.Future[None]()
        self._thread = threading.Thread(target=self._run, args=(started,), name="local-websocket", daemon=True)
        self._thread.start()
        started.result(timeout=30)
        return self

    def _run(self, started: concurrent.futures.Future[None]) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(self._serve())
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as error:  # noqa: BLE001 - reported to start()
            started.set_exception(error)
            return
        started.set_result(None)
        loop.run_forever()
        loop.close()

    async def _serve(self) -> Server:
        return await serve(
            self._connection, LOOPBACK, self.port,
            process_request=self._handshake,
            process_response=self._accepted,
            select_subprotocol=lambda connection, offered: getattr(connection, "chosen_subprotocol", None),
            create_connection=connection_class(self),
            max_size=self.quotas.max_message_bytes,
            open_timeout=None,  # GatewayConnection.handshake bounds WebSocket handshakes itself
            ping_interval=None,  # API Gateway answers pings but sends none
            compression=None,  # API Gateway does not negotiate permessage-deflate
        )

    def stop(self) -> None:
        """Close every connection (each gets its $disconnect), then the port."""
        loop, self._loop = self._loop, None
        if loop is None:
            return

        async def shut() -> None:
            for idle in list(self.management_connections):
                idle.transport.close()
            if self._server is not None:
                self._server.close(close_connections=True)
                await self._server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(shut(), loop).result(timeout=30)
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("the local WebSocket server did not close every connection in time")
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._executor.shutdown(wait=True, cancel_futures=False)

    def __enter__(self) -> LocalWebSocketServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- invoking the template's functions ---------------------------------------------------------
    async def _invoke(self, function_id: str, event: dict[str, Any]) -> Any:
        handler = resolve_handler(self.deployment, function_id, self.handlers)
        context = local_context(self.deployment, function_id)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, handler, json.loads(json.dumps(event)), context)

    # -- handshake: authorizer, then $connect ------------------------------------------------------
    async def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        path, _, query_text = request.path.partition("?")
        if path.rstrip("/") != f"/{self.config.stage}":
            return _reject(connection, http.HTTPStatus.FORBIDDEN, "Forbidden")
        if "websocket" not in request.headers.get("Upgrade", "").lower():
            return None  # websockets answers what is not a WebSocket handshake (426 Upgrade Required)
        assert isinstance(connection, GatewayConnection)
        host = request.headers.get("Host", f"{LOOPBACK}:{self.port}")
        remote = connection.remote_address[0] if connection.remote_address else LOOPBACK
        info = ConnectionInfo(new_connection_id(), self.config.api_id, self.config.stage, host, remote,
                              request.headers.get("User-Agent"))
        headers = list(request.headers.raw_items())
        query = urllib.parse.parse_qs(query_text, keep_blank_values=True)
        route = self.config.routes.get("$connect")
        if route is not None and route.authorizer is not None:
            try:
                info.authorizer = await self._authorize(route, info, headers, query, request)
            except AuthorizerRefusal as refusal:
                self.stats["refused"] += 1
                log.log(logging.WARNING if refusal.status >= 500 else logging.INFO,
                        "WebSocket handshake refused %d: %s", refusal.status, refusal)
                text = {401: "Unauthorized", 403: "Forbidden"}.get(refusal.status, "Internal server error")
                return _reject(connection, refusal.status, text)
        if route is not None and route.function_id is not None:
            try:
                answer = await self._invoke(route.function_id, connect_event(info, headers, query))
            except Exception:  # noqa: BLE001 - a function error refuses the connection (API Gateway: 500)
                log.exception("$connect integration %s raised", route.function_id)
                self.stats["refused"] += 1
                return _reject(connection, 500, "Internal server error")
            status = answer.get("statusCode", 200) if isinstance(answer, dict) else 200
            if not isinstance(status, int) or not 200 <= status < 300:
                self.stats["refused"] += 1
                log.warning("$connect integration %s answered %r: handshake refused", route.function_id, answer)
                return _reject(connection, status if isinstance(status, int) else 500, str(answer.get("body") or ""))
            for name, value in ((answer.get("headers") or {}) if isinstance(answer, dict) else {}).items():
                if name.lower() == "sec-websocket-protocol":
                    connection.chosen_subprotocol = str(value)
        connection.info = info  # registered once websockets accepts the handshake (_accepted)
        return None

    def _accepted(self, connection: ServerConnection, request: Request, response: Response) -> None:
        """Postable from the moment the client can see its 101, as on API Gateway."""
        if response.status_code == http.HTTPStatus.SWITCHING_PROTOCOLS and isinstance(connection, GatewayConnection):
            self.connections[connection.info.connection_id] = (connection, connection.info)

    async def _authorize(self, route: RouteConfig, info: ConnectionInfo, headers: list[tuple[str, str]],
                         query: dict[str, list[str]], request: Request) -> dict[str, Any]:
        authorizer = route.authorizer
        assert authorizer is not None
        for source in authorizer.identity_sources:
            if not _identity_present(source, request, query):
                raise AuthorizerRefusal(401, f"identity source {source} is missing")
        arn = method_arn(self.deployment.ctx.region, self.deployment.ctx.account_id, self.config.api_id,
                         self.config.stage, "$connect")
        try:
            answer = await self._invoke(authorizer.function_id, authorizer_event(info, arn, headers, query))
        except Exception as error:  # noqa: BLE001 - Lambda authorizers signal 401 by raising "Unauthorized"
            if str(error) == "Unauthorized":
                raise AuthorizerRefusal(401, "the authorizer answered Unauthorized") from None
            log.exception("authorizer %s raised", authorizer.function_id)
            raise AuthorizerRefusal(500, f"the authorizer failed: {type(error).__name__}") from None
        return allowed_context(answer, arn)

    # -- an open connection --------------------------------------------------------------------------
    async def _connection(self, connection: ServerConnection) -> None:
        assert isinstance(connection, GatewayConnection) and connection.info is not None
        info = connection.info
        connection_id = info.connection_id
        connection.handled = True
        self.stats["connected"] += 1
        ends_at = time.monotonic() + self.quotas.max_lifetime
        try:
            while True:
                wait = min(self.quotas.idle_timeout, ends_at - time.monotonic())
                try:
                    async with asyncio.timeout(max(0.0, wait)):
                        message = await connection.recv()
                except TimeoutError:
                    await connection.close(CloseCode.GOING_AWAY, "Going away")
                    break
                info.last_active_at = time.time()
                await self._route(connection, info, message)
        except ConnectionClosed:
            pass
        finally:
            self.connections.pop(connection_id, None)
            await connection.wait_closed()
            await self._disconnected(connection, info)

    async def _route(self, connection: ServerConnection, info: ConnectionInfo, message: str | bytes) -> None:
        self.stats["messages"] += 1
        key = route_key_of(message, self.config.selection_path())
        route = self.config.routes.get(key) if key not in (None, "$connect", "$disconnect") else None
        route = route or self.config.routes.get("$default")
        if route is None or route.function_id is None:
            await connection.send(json.dumps({"message": "Forbidden", "connectionId": info.connection_id,
                                              "requestId": new_connection_id()}))
            return
        event = message_event(info, route.route_key, message)
        try:
            answer = await self._invoke(route.function_id, event)
        except Exception:  # noqa: BLE001 - API Gateway tells the client, the connection stays open
            log.exception("route %s: %s raised", route.route_key, route.function_id)
            await connection.send(json.dumps({"message": "Internal server error", "connectionId": info.connection_id,
                                              "requestId": event["requestContext"]["requestId"]}))
            return
        if route.has_route_response and isinstance(answer, dict) and answer.get("body"):
            await connection.send(str(answer["body"]))

    async def _disconnected(self, connection: ServerConnection, info: ConnectionInfo) -> None:
        self.stats["disconnected"] += 1
        route = self.config.routes.get("$disconnect")
        if route is None or route.function_id is None:
            return
        code = connection.close_code if connection.close_code is not None else CloseCode.ABNORMAL_CLOSURE
        try:
            await self._invoke(route.function_id, disconnect_event(info, int(code), connection.close_reason or ""))
        except Exception:  # noqa: BLE001 - nobody is left to tell
            log.exception("$disconnect integration %s raised", route.function_id)

    # -- @connections --------------------------------------------------------------------------------
    async def manage(self, method: str, path: str, body: bytes) -> Response:
        prefix = f"/{self.config.stage}{MANAGEMENT_MARKER}"
        if not path.startswith(prefix) or "/" in path[len(prefix):]:
            return forbidden()
        connection_id = urllib.parse.unquote(path[len(prefix):])
        live = self.connections.get(connection_id)
        if live is None:
            self.stats["gone"] += 1
            return gone()
        connection, info = live
        if method == "POST":
            if len(body) > self.quotas.max_message_bytes:
                return payload_too_large()
            try:
                text = body.decode()
            except UnicodeDecodeError:
                text = None
            try:
                await connection.send(text if text is not None else body)
            except ConnectionClosed:  # it went away between the lookup and the send
                self.stats["gone"] += 1
                return gone()
            self.stats["posted"] += 1
            return ok(200)
        if method == "DELETE":
            asyncio.get_running_loop().create_task(connection.close(CloseCode.NORMAL_CLOSURE, "Connection deleted"))
            return ok(204)
        if method == "GET":
            return ok(200, info.management_view())
        return forbidden()


def _identity_present(source: str, request: Request, query: dict[str, list[str]]) -> bool:
    if source.startswith("route.request.header."):
        return bool(request.headers.get(source.removeprefix("route.request.header."), "").strip())
    if source.startswith("route.request.querystring."):
        return any(v for v in query.get(source.removeprefix("route.request.querystring."), []))
    return True  # context/stage variables: always there locally


def _reject(connection: ServerConnection, status: int, text: str) -> Response:
    response = connection.respond(status, text)
    response.body = json.dumps({"message": text}).encode()
    for name, value in (("Content-Type", "application/json"), ("Content-Length", str(len(response.body)))):
        del response.headers[name]  # websockets' Headers is a multidict: set once
        response.headers[name] = value
    return response
