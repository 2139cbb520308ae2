"""The live board (board/) served by the local REST API server: the page at `/`, its files, and
`/config.json`, which tells the page where the running stack is (API, WebSocket, Cognito) and which
sectors to subscribe to.

Only GET and HEAD of `/`, `/config.json` and the paths under board/'s own top-level entries are the
board's; everything else stays the API's (its routes live at the root too: `/quotes`, `/sectors/...`).
Files are sent through werkzeug's `send_from_directory` (safe_join): no path leaves board/.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import NotFound
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Request, Response

from tickerstream_local.template import REPO_ROOT

BOARD_DIR = REPO_ROOT / "board"
CONFIG_PATH = "/config.json"
# The sector list a board subscribes to: the template's own list of sectors (a parameter, so one place).
SECTORS_PARAMETER = "LakeSectors"
CONFIG_KEYS = ("api_url", "websocket_url", "region", "user_pool_id", "user_client_id", "cognito_endpoint_url")
# Browsers refuse a module script served with another type; some systems' mime tables lack .mjs.
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".html": "text/html; charset=utf-8",
                 ".json": "application/json", ".md": "text/plain; charset=utf-8"}


def template_sectors(deployment: Any) -> list[str]:
    value = deployment.ctx.parameters.get(SECTORS_PARAMETER, [])
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(item).strip() for item in items if str(item).strip()]


def board_config(info: dict[str, Any], sectors: list[str]) -> dict[str, Any]:
    """What the page needs, from the running stack's connection details (LocalStack.info)."""
    return {**{key: info.get(key) for key in CONFIG_KEYS}, "sectors": list(sectors)}


def _origin(url: Any) -> str | None:
    parts = urlsplit(str(url or ""))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def security_headers(config: dict[str, Any]) -> dict[str, str]:
    """What the CloudFront response-headers policy sends for the deployed board, with this stack's origins."""
    connect = ["'self'", *sorted({origin for key in ("api_url", "websocket_url", "cognito_endpoint_url")
                                  if (origin := _origin(config.get(key)))})]
    policy = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
              f"connect-src {' '.join(connect)}; font-src 'self'; base-uri 'none'; form-action 'none'; "
              "frame-ancestors 'none'")
    return {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-cache"}


class BoardSite:
    """board/ and `/config.json`; `config()` is read at each request (the stack's details as they are now)."""

    def __init__(self, config: Callable[[], dict[str, Any]], root: Path = BOARD_DIR) -> None:
        self.config = config
        self.root = root
        self.entries = {entry.name for entry in root.iterdir()} if root.is_dir() else set()

    def handles(self, request: Request) -> bool:
        if request.method not in ("GET", "HEAD"):
            return False  # a POST to / stays the API's (its 404 answer)
        if request.path in ("/", CONFIG_PATH):
            return True
        return request.path.lstrip("/").split("/", 1)[0] in self.entries

    def respond(self, request: Request) -> Response:
        config = self.config()
        headers = security_headers(config)
        if request.path == CONFIG_PATH:
            body = json.dumps(config, indent=2) + "\n"
            return Response("" if request.method == "HEAD" else body, status=200,
                            headers={**headers, "Content-Type": "application/json", "Cache-Control": "no-store"})
        name = "index.html" if request.path == "/" else request.path.lstrip("/")
        try:
            response = send_from_directory(self.root, name, request.environ, max_age=0, etag=True)
        except NotFound:
            return Response(json.dumps({"error": {"code": "not_found", "message": "no such file on the board"}}),
                            status=404, headers={**headers, "Content-Type": "application/json"})
        suffix = Path(name).suffix.lower()
        response.headers["Content-Type"] = CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        for header, value in headers.items():
            response.headers[header] = value
        return response


def serve_board(app: Any, info: Callable[[], dict[str, Any]], deployment: Any) -> None:
    """Attach the board to a LocalApi (its `board` hook): served at the API's root, configured by `info()`.

    Always attached; the stack names it (`board_url`) only when the template has a WebSocket API, without
    which the page says it cannot go live."""
    sectors = template_sectors(deployment)
    app.board = BoardSite(lambda: board_config(info(), sectors))
