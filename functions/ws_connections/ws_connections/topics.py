"""ConnectionsTable's layout (docs/websocket.md), shared in shape with BoardFanout's reader.

- META item: ``connection_id``, ``topic = "META"``, who (sub, client_id, scope), when (connected_at,
  expires_at), what (``tickers``, ``sectors``: lists) and ``version`` (optimistic locking of the lists).
- one item per subscription: ``connection_id``, ``topic = subscribed_topic = "TICKER#QXZ" | "SECTOR#ENERGY"``,
  ``expires_at``. Only these carry ``subscribed_topic``, the hash key of the sparse ByTopic index.
"""

from __future__ import annotations

META = "META"
TICKER_PREFIX = "TICKER#"
SECTOR_PREFIX = "SECTOR#"


def ticker_topic(ticker: str) -> str:
    return TICKER_PREFIX + ticker


def sector_topic(sector: str) -> str:
    return SECTOR_PREFIX + sector


def topics_of(tickers: list[str], sectors: list[str]) -> list[str]:
    return [ticker_topic(t) for t in tickers] + [sector_topic(s) for s in sectors]
