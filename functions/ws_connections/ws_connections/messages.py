"""Client messages in, replies out (docs/websocket.md). Plain validation with the layer's Quote rules.

Every refusal is one clear sentence in ``{"type": "error", "message": ...}``: a bad message is answered,
never dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tickerstream.quote import SECTOR_PATTERN, is_valid_ticker

ACTIONS = ("subscribe", "unsubscribe", "ping")
ALLOWED = "subscribe, unsubscribe and ping"


class BadMessage(ValueError):
    """A client message that cannot be carried out; str() is the sentence the client receives."""


@dataclass(frozen=True)
class Selection:
    tickers: list[str]
    sectors: list[str]


def decode(body: str | None) -> dict[str, Any]:
    if not body or not body.strip():
        raise BadMessage(f"The message is empty; send a JSON object whose action is {ALLOWED}.")
    try:
        message = json.loads(body)
    except ValueError:
        raise BadMessage(f"The message is not JSON; send a JSON object whose action is {ALLOWED}.") from None
    if not isinstance(message, dict):
        raise BadMessage(f"The message must be a JSON object whose action is {ALLOWED}.")
    return message


def unknown_action(message: dict[str, Any]) -> str:
    action = message.get("action")
    if action is None:
        return f"The message has no action; the allowed actions are {ALLOWED}."
    return f"Unknown action {json.dumps(action)[:80]}; the allowed actions are {ALLOWED}."


def selection(message: dict[str, Any], known_sectors: frozenset[str], most: int) -> Selection:
    """The tickers and sectors a subscribe/unsubscribe message names, validated and de-duplicated."""
    tickers = _strings(message, "tickers", "ticker symbols", most)
    sectors = [s.strip().upper() for s in _strings(message, "sectors", "sector names", most)]
    if not tickers and not sectors:
        raise BadMessage('Name at least one ticker or sector, e.g. {"action": "subscribe", "tickers": ["QXZ"]}.')
    for ticker in tickers:
        if not is_valid_ticker(ticker):
            raise BadMessage(f"{json.dumps(ticker)[:40]} is not a ticker symbol (1-10 upper-case letters, digits, '.' or '-').")
    for sector in sectors:
        if not SECTOR_PATTERN.fullmatch(sector) or sector not in known_sectors:
            raise BadMessage(f"Unknown sector {json.dumps(sector)[:80]}; the sectors are {', '.join(sorted(known_sectors))}.")
    return Selection(sorted(set(tickers)), sorted(set(sectors)))


def _strings(message: dict[str, Any], field: str, what: str, most: int) -> list[str]:
    value = message.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadMessage(f"{field} must be a list of {what}.")
    if len(value) > most:
        raise BadMessage(f"{field} names {len(value)}; a connection may subscribe to at most {most} tickers and sectors together.")
    return value


def subscribed(tickers: list[str], sectors: list[str]) -> dict[str, Any]:
    return {"type": "subscribed", "tickers": tickers, "sectors": sectors}


def unsubscribed(tickers: list[str], sectors: list[str]) -> dict[str, Any]:
    return {"type": "unsubscribed", "tickers": tickers, "sectors": sectors}


def error(message: str) -> dict[str, Any]:
    return {"type": "error", "message": message}


def pong() -> dict[str, Any]:
    return {"type": "pong"}
