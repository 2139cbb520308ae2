"""The token on the handshake: `Sec-WebSocket-Protocol: tickerstream.v1, <access token>`.

Browsers cannot set headers on a WebSocket handshake except the subprotocol list, and a query string
would put the token in access logs, proxies and history. JWT characters (base64url and '.') are valid
subprotocol tokens, so the token is one entry of that list, next to the protocol the page speaks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PROTOCOL = "tickerstream.v1"
HEADER = "sec-websocket-protocol"


class NoToken(ValueError):
    """The handshake offers no usable token (API Gateway answers 401)."""


def protocol_header(event: Mapping[str, Any]) -> str | None:
    """The Sec-WebSocket-Protocol header of an authorizer or $connect event (names are case-insensitive)."""
    for source in ("headers", "multiValueHeaders"):
        for name, value in (event.get(source) or {}).items():
            if isinstance(name, str) and name.lower() == HEADER:
                if isinstance(value, list):
                    return ", ".join(str(v) for v in value)
                return value if isinstance(value, str) else None
    return None


def offered(header: str | None) -> list[str]:
    """The subprotocols a header offers, in order."""
    return [entry.strip() for entry in (header or "").split(",") if entry.strip()]


def token_from(header: str | None) -> str:
    """The one entry that is not the protocol name; NoToken if there is none or more than one."""
    entries = offered(header)
    if PROTOCOL not in entries:
        raise NoToken(f"the subprotocol list does not offer {PROTOCOL}")
    tokens = [entry for entry in entries if entry != PROTOCOL]
    if not tokens:
        raise NoToken("no token among the offered subprotocols")
    if len(tokens) > 1:
        raise NoToken(f"{len(tokens)} entries besides {PROTOCOL}; exactly one token is expected")
    return tokens[0]
