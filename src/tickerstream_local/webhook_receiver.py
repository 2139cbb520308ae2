"""A local webhook receiver for the alerts (what a chat or incident tool's incoming webhook would be).

A werkzeug server on loopback that keeps every JSON body POSTed to it; `fail_with` makes it answer an
error status instead (tests of a failing webhook), `delay` makes it slow.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tickerstream_local.server import LOOPBACK


class WebhookReceiver:
    def __init__(self, port: int = 0, fail_with: int | None = None, delay: float = 0.0):
        self.received: list[dict[str, Any]] = []
        self.requests = 0
        self.fail_with = fail_with
        self.delay = delay
        self._lock = threading.Lock()
        self._server = make_server(LOOPBACK, port, self._app, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/alerts"

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self._lock:
            self.requests += 1
        if self.delay:
            time.sleep(self.delay)
        if request.method != "POST":
            return Response("POST only\n", status=405)(environ, start_response)
        if self.fail_with:
            return Response("failing on purpose\n", status=self.fail_with)(environ, start_response)
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            return Response("not JSON\n", status=400)(environ, start_response)
        with self._lock:
            self.received.append(body)
        return Response("{}", status=200, content_type="application/json")(environ, start_response)

    @property
    def alerts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [alert for body in self.received for alert in (body or {}).get("alerts", [])]

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
