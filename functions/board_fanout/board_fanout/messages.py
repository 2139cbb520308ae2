"""Server -> client messages (docs/websocket.md): one quote or one candle per message, far under the
32 KB frame and 128 KB message quotas (a quote is ~200 bytes; a longer one is not sent)."""

from __future__ import annotations

import json
from typing import Any

from board_fanout.records import Latest

MAX_MESSAGE_BYTES = 32 * 1024


def quote_message(latest: Latest) -> bytes:
    return _encode({"type": "quote", "quote": latest.quote.as_dict(), "sequence": latest.sequence,
                    "sub_sequence": latest.sub_sequence, "arrived_at": latest.arrived_at})


def candle_message(candle: dict[str, Any]) -> bytes:
    return _encode({"type": "candle", "candle": candle})


def _encode(message: dict[str, Any]) -> bytes:
    data = json.dumps(message, separators=(",", ":")).encode()
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {len(data)} bytes is over one WebSocket frame ({MAX_MESSAGE_BYTES})")
    return data
