"""Helpers of the API tests (events, response bodies, log lines)."""

from __future__ import annotations

import io
import json
from typing import Any

from tickerstream_local.template import REPO_ROOT
from tickerstream_local.functions import load_function

EVENTS = REPO_ROOT / "events"


def load_event(relative: str) -> dict[str, Any]:
    return json.loads((EVENTS / relative).read_text())


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def log_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return [line for line in lines if isinstance(line, dict)]


def trigger(logical_id: str, environment: dict[str, str] | None = None):
    from tickerstream_local.template import sam_template

    template = sam_template()
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    env = {k: str(v) for k, v in {**globals_env, **own}.items() if isinstance(v, (str, int))}
    return load_function(logical_id, {**env, **(environment or {})})


def capture_logs(module) -> io.StringIO:
    """Point a loaded function's Powertools Logger at a buffer (assigning: the old stream may be closed)."""
    stream = io.StringIO()
    module.logger.registered_handler.stream = stream
    return stream
