"""The @connections management API on the WebSocket port, as API Gateway answers it:

    POST   /<stage>/@connections/<id>   body = the message  -> 200 | 410 GoneException | 413 PayloadTooLargeException
    DELETE /<stage>/@connections/<id>                        -> 204 | 410
    GET    /<stage>/@connections/<id>                        -> 200 {connectedAt, identity, lastActiveAt} | 410

websockets parses only WebSocket handshakes (GET, no body), so each TCP connection's first request line
is read here: a request for `@connections` is answered here (stdlib header parsing, websockets'
Response serialisation, HTTP/1.1 keep-alive as API Gateway offers it), anything else goes to websockets
untouched.
"""

from __future__ import annotations

import asyncio
import http
import http.client
import io
import json
import logging
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import OPEN

if TYPE_CHECKING:
    from tickerstream_local.websocket import LocalWebSocketServer

log = logging.getLogger("tickerstream.local.websocket")
MAX_HEAD_BYTES = 16 * 1024
MANAGEMENT_MARKER = "/@connections/"
OPEN_TIMEOUT = 10.0  # a WebSocket handshake (authorizer and $connect included) must complete within it
MANAGEMENT_IDLE_SECONDS = 60.0  # a kept-alive @connections connection with no request for this long is closed


class GatewayConnection(ServerConnection):
    """websockets' server connection, plus what API Gateway does before and around it: @connections
    requests on the same port, and the 32 KB frame quota (1009 when a frame is bigger)."""

    gateway: LocalWebSocketServer  # set on the subclass made per server (see connection_class)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head = bytearray()
        self._mode: str | None = None  # None until the request line is read; then "websocket" or "management"
        self._body_task: asyncio.Task[None] | None = None
        self._sorted: asyncio.Future[None] = self.loop.create_future()  # the first request line was read
        self._idle: asyncio.TimerHandle | None = None
        self.chosen_subprotocol: str | None = None
        self.info: Any = None  # websocket_events.ConnectionInfo once $connect has admitted it
        self.handled = False  # the server's connection handler took it (and will unregister it)

    # -- sorting the first request ---------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._mode == "websocket":
            super().data_received(data)
            return
        self._head += data
        if self._mode is None:
            line_end = self._head.find(b"\r\n")
            if line_end < 0 and len(self._head) < MAX_HEAD_BYTES:
                return
            request_line = bytes(self._head[: max(line_end, 0)]).split(b" ")
            target = request_line[1].decode("latin-1") if len(request_line) == 3 else ""
            if not self._sorted.done():
                self._sorted.set_result(None)
            if MANAGEMENT_MARKER not in target.split("?", 1)[0]:
                self._mode = "websocket"
                buffered, self._head = bytes(self._head), bytearray()
                super().data_received(buffered)
                return
            self._mode = "management"
            self.gateway.management_connections.add(self)
        self._try_management_request()

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        """websockets' handshake within OPEN_TIMEOUT; a management connection instead lives until it
        closes (the server is started with open_timeout=None, so kept-alive ones are not cut)."""
        async with asyncio.timeout(OPEN_TIMEOUT):
            await asyncio.wait([self._sorted, self.connection_lost_waiter], return_when=asyncio.FIRST_COMPLETED)
            if self._mode != "management":
                await super().handshake(*args, **kwargs)
                return
        await self.connection_lost_waiter

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self.gateway.management_connections.discard(self)
        if self.info is not None and not self.handled:  # accepted, but the 101 never went out
            self.gateway.connections.pop(self.info.connection_id, None)
        super().connection_lost(exc)

    def _try_management_request(self) -> None:
        if self._body_task is not None:
            return
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        head_end = self._head.find(b"\r\n\r\n")
        if head_end < 0:
            if len(self._head) > MAX_HEAD_BYTES:
                self._answer(Response(431, "Request Header Fields Too Large", Headers(), b""))
            return
        request_line, _, header_block = bytes(self._head[:head_end]).partition(b"\r\n")
        headers = http.client.parse_headers(io.BytesIO(header_block + b"\r\n\r\n"))
        try:
            length = int(headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or "Transfer-Encoding" in headers:
            self._answer(_error(400, "BadRequestException", "Content-Length is required"))
            return
        body = bytes(self._head[head_end + 4 : head_end + 4 + length])
        if len(body) < length:
            if length > self.gateway.max_message_bytes * 2:  # refuse early; do not buffer it all
                self._answer(_error(413, "PayloadTooLargeException", "Request Entity Too Large"))
            return
        del self._head[: head_end + 4 + length]
        method, target, version = request_line.decode("latin-1").split(" ", 2)
        keep_alive = version == "HTTP/1.1" and headers.get("Connection", "").lower() != "close"
        self._body_task = self.loop.create_task(self._serve(method, target, body, keep_alive))

    async def _serve(self, method: str, target: str, body: bytes, keep_alive: bool) -> None:
        try:
            response = await self.gateway.manage(method, urllib.parse.urlsplit(target).path, body)
        except Exception:  # noqa: BLE001 - the local server's own fault: API Gateway's 500
            log.exception("@connections %s %s failed", method, target)
            response = _error(500, "InternalServerErrorException", "Internal server error")
        self._answer(response, keep_alive)
        self._body_task = None
        if keep_alive and not self.transport.is_closing():
            self._idle = self.loop.call_later(MANAGEMENT_IDLE_SECONDS, self.transport.close)
            self._try_management_request()  # a pipelined request may be waiting

    def _answer(self, response: Response, keep_alive: bool = False) -> None:
        response.headers["Connection"] = "keep-alive" if keep_alive else "close"
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        response.headers["Content-Length"] = str(len(response.body))
        if not self.transport.is_closing():
            self.transport.write(response.serialize())
            if not keep_alive:
                self.transport.close()

    # -- the frame quota -------------------------------------------------------------------------
    def process_event(self, event: Any) -> None:
        if (isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)
                and len(event.data) > self.gateway.max_frame_bytes and self.protocol.state is OPEN):
            self.protocol.fail(CloseCode.MESSAGE_TOO_BIG, "Message too big")
            self.send_data()
            return
        super().process_event(event)


def connection_class(gateway: LocalWebSocketServer) -> type[GatewayConnection]:
    return type("LocalGatewayConnection", (GatewayConnection,), {"gateway": gateway})


def _error(status: int, kind: str, message: str | None) -> Response:
    headers = Headers({"Content-Type": "application/json", "x-amzn-ErrorType": kind})
    return Response(status, http.HTTPStatus(status).phrase, headers, json.dumps({"message": message}).encode())


def gone() -> Response:
    return _error(410, "GoneException", None)


def forbidden() -> Response:
    return _error(403, "ForbiddenException", "Forbidden")


def payload_too_large() -> Response:
    return _error(413, "PayloadTooLargeException", "Request Entity Too Large")


def ok(status: int = 200, document: dict[str, Any] | None = None) -> Response:
    body = json.dumps(document).encode() if document is not None else b""
    headers = Headers({"Content-Type": "application/json"}) if document is not None else Headers()
    return Response(status, http.HTTPStatus(status).phrase, headers, body)
