"""Who subscribes to what: every subscription, read from ConnectionsTable's sparse Subscriptions index.

A market-wide batch names thousands of tickers, and asking for each topic's subscribers would cost a
Query per ticker per batch; the subscriptions themselves are few (connections x a bounded number of
topics). So the fan-out keeps the whole map, topic -> connection ids, and refreshes it when it is
older than `ttl_seconds` (a new subscriber waits at most that long for its first push): one Query per
shard of the index, run concurrently and paginated, never a scan. Subscription items are spread over
`shards` partition keys so a burst of subscribes never throttles one index partition.

A refresh that fails or runs past the deadline keeps the map it had (counted): the batch then pushes
to the subscribers known a moment ago rather than to nobody. Connections whose expires_at has passed
are left out: API Gateway closed them, TTL just has not removed their items yet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

EMPTY: frozenset[str] = frozenset()


class SubscriberIndex:
    def __init__(self, client: Any, table: str, index: str, shards: int, ttl_seconds: float,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time):
        self._client = client
        self._table = table
        self._index = index
        self._shards = max(1, shards)
        self._ttl = ttl_seconds
        self._clock = clock
        self._wall_clock = wall_clock
        self._map: dict[str, frozenset[str]] | None = None
        self._read_at = 0.0
        self._pool = ThreadPoolExecutor(max_workers=min(self._shards, 10), thread_name_prefix="subscriptions")
        self._counts = threading.Lock()
        self.queries = 0  # Query calls made, since creation
        self.errors = 0  # refreshes that failed

    def lookup(self, topics: Iterable[str], deadline: float) -> dict[str, frozenset[str]]:
        """topic -> connection ids for every topic, from a map at most `ttl_seconds` old when it could be
        refreshed before `deadline` (monotonic); {} when no map was ever read (every topic unanswered)."""
        if self._map is None or self._clock() - self._read_at >= self._ttl:
            self._refresh(deadline)
        if self._map is None:
            return {}
        return {topic: self._map.get(topic, EMPTY) for topic in dict.fromkeys(topics)}

    def invalidate(self, topics: Iterable[str]) -> None:
        """Drop cached lookups, so the next lookup of these topics queries the index again."""
        for topic in topics:
            self._cache.pop(topic, None)

    def invalidate(self, topics: Iterable[str]) -> None:
        """The map is out of date for these topics (one of their connections is gone): the next lookup
        reads it again."""
        if any(True for _ in topics):
            self._read_at = float("-inf")

    def forget(self, connection_ids: set[str]) -> None:
        """Drop gone connections from the map until the next refresh reads the table again."""
        if self._map is None:
            return
        for topic, connections in list(self._map.items()):
            if connections & connection_ids:
                self._map[topic] = connections - connection_ids

    def _refresh(self, deadline: float) -> None:
        started = self._clock()
        if started >= deadline:
            return
        futures = [self._pool.submit(self._read_shard, str(shard)) for shard in range(self._shards)]
        done, late = wait(futures, timeout=max(0.0, deadline - started))
        if late or any(future.exception() for future in done):
            for future in late:
                future.cancel()
            with self._counts:
                self.errors += 1
            return
        subscribers: dict[str, set[str]] = {}
        for future in done:
            for topic, connection_id in future.result():
                subscribers.setdefault(topic, set()).add(connection_id)
        self._map = {topic: frozenset(connections) for topic, connections in subscribers.items()}
        self._read_at = started

    def _read_shard(self, shard: str) -> list[tuple[str, str]]:
        now = int(self._wall_clock())
        found: list[tuple[str, str]] = []
        request: dict[str, Any] = {
            "TableName": self._table, "IndexName": self._index,
            "KeyConditionExpression": "subscription_shard = :s",
            "ExpressionAttributeValues": {":s": {"S": shard}},
            "ProjectionExpression": "connection_id, subscribed_topic, expires_at",
        }
        while True:
            with self._counts:
                self.queries += 1
            page = self._client.query(**request)
            for item in page.get("Items", []):
                expires_at = int(item.get("expires_at", {}).get("N", "0") or 0)
                if not expires_at or expires_at > now:
                    found.append((item["subscribed_topic"]["S"], item["connection_id"]["S"]))
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
