"""What each route does, given the parsed event; answers are API Gateway proxy responses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ws_connections import messages
from ws_connections.messages import BadMessage, Selection
from ws_connections.store import ConnectionStore, Contention, Subscriptions, UnknownConnection
from ws_connections.topics import topics_of

PROTOCOL = "tickerstream.v1"
OPTIMISTIC_ROUNDS = 3


@dataclass(frozen=True)
class Settings:
    known_sectors: frozenset[str]
    max_subscriptions: int
    ttl_seconds: int


def reply(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "body": json.dumps(body, separators=(",", ":"))}


def connect(store: ConnectionStore, connection_id: str, authorizer: dict[str, Any], offered: list[str], now: float,
            settings: Settings) -> dict[str, Any]:
    if PROTOCOL not in offered:
        # A browser drops a connection whose server picks a protocol it did not offer, so refuse here.
        return {"statusCode": 400, "body": f"Offer the subprotocol {PROTOCOL}."}
    who = {name: str(authorizer.get(name) or "") for name in ("sub", "client_id", "scope")}
    connected_at = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    store.open(connection_id, who, connected_at, int(now) + settings.ttl_seconds)
    return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": PROTOCOL}}


def disconnect(store: ConnectionStore, connection_id: str) -> dict[str, Any]:
    store.close(connection_id)
    return {"statusCode": 200}


def subscribe(store: ConnectionStore, connection_id: str, message: dict[str, Any], settings: Settings) -> dict[str, Any]:
    wanted = messages.selection(message, settings.known_sectors, settings.max_subscriptions)

    def union(current: Subscriptions) -> Selection:
        chosen = Selection(sorted(set(current.tickers) | set(wanted.tickers)), sorted(set(current.sectors) | set(wanted.sectors)))
        total = len(chosen.tickers) + len(chosen.sectors)
        if total > settings.max_subscriptions:
            raise BadMessage(f"A connection may subscribe to at most {settings.max_subscriptions} tickers and sectors "
                             f"together; this would make {total}.")
        return chosen

    before, after = _change(store, connection_id, union)
    store.add_topics(connection_id, sorted(set(topics_of(after.tickers, after.sectors)) - set(topics_of(before.tickers, before.sectors))),
                     before.expires_at)
    return reply(200, messages.subscribed(after.tickers, after.sectors))


def unsubscribe(store: ConnectionStore, connection_id: str, message: dict[str, Any], settings: Settings) -> dict[str, Any]:
    unwanted = messages.selection(message, settings.known_sectors, settings.max_subscriptions)

    def difference(current: Subscriptions) -> Selection:
        return Selection([t for t in current.tickers if t not in unwanted.tickers], [s for s in current.sectors if s not in unwanted.sectors])

    before, after = _change(store, connection_id, difference)
    store.remove_topics(connection_id, sorted(set(topics_of(before.tickers, before.sectors)) - set(topics_of(after.tickers, after.sectors))))
    return reply(200, messages.unsubscribed(after.tickers, after.sectors))


def _change(store: ConnectionStore, connection_id: str, change) -> tuple[Subscriptions, Selection]:
    """Apply `change` to the connection's lists under optimistic locking; (before, after)."""
    for _ in range(OPTIMISTIC_ROUNDS):
        try:
            current = store.subscriptions(connection_id)
        except UnknownConnection:
            raise BadMessage("This connection is not registered (it has expired or was closed); reconnect.") from None
        chosen = change(current)
        if store.replace(connection_id, current, chosen.tickers, chosen.sectors):
            return current, chosen
    raise Contention(f"{connection_id}: subscriptions kept changing under {OPTIMISTIC_ROUNDS} attempts")
