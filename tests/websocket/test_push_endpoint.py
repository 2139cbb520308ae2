"""BoardFanout's poster through the real boto3 `apigatewaymanagementapi` client against a local HTTP
endpoint that answers as @connections does: 200, 410 GoneException, or too slowly."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from board_fanout.push import Pusher, is_gone, management_poster

STAGE = "dev"


class ConnectionsEndpoint:
    def __init__(self):
        self.requests: list[tuple[str, str, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                prefix = f"/{STAGE}/@connections/"
                connection_id = urllib.parse.unquote(self.path[len(prefix):]) if self.path.startswith(prefix) else None
                outer.requests.append(("POST", connection_id, body))
                if connection_id is None:
                    self._answer(404, {"message": "Not Found"})
                elif connection_id.startswith("gone"):
                    self._answer(410, {"message": None}, {"x-amzn-ErrorType": "GoneException"})
                elif connection_id.startswith("slow"):
                    time.sleep(3)
                    self._answer(200, None)
                else:
                    self._answer(200, None)

            def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{STAGE}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    server = ConnectionsEndpoint()
    yield server
    server.close()


def test_posts_reach_the_connection_with_the_message_as_body(endpoint):
    post = management_poster(endpoint.url, timeout_seconds=1, concurrency=4)
    post("L0SM9cOFvHcCIhw=", b'{"type":"quote"}')
    assert endpoint.requests == [("POST", "L0SM9cOFvHcCIhw=", b'{"type":"quote"}')]


def test_a_410_is_recognised_as_gone(endpoint):
    post = management_poster(endpoint.url, timeout_seconds=1, concurrency=4)
    with pytest.raises(Exception) as raised:
        post("gone-1", b"{}")
    assert is_gone(raised.value)


def test_a_slow_client_costs_one_short_attempt_and_no_retry(endpoint):
    pusher = Pusher(management_poster(endpoint.url, timeout_seconds=0.5, concurrency=4), concurrency=4)
    started = time.monotonic()
    outcome = pusher.push([("slow-1", b"{}"), ("fast-1", b"{}"), ("gone-1", b"{}")], deadline=time.monotonic() + 5, grace=1)
    elapsed = time.monotonic() - started
    assert (outcome.sent, outcome.failed, outcome.gone) == (1, 1, {"gone-1"})
    assert elapsed < 2.5  # the 3 s client was given up on after its 0.5 s read timeout
    assert [r[1] for r in endpoint.requests].count("slow-1") == 1  # no retry

