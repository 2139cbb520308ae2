"""Who subscribes to a topic: ConnectionsTable's ByTopic index, one Query per topic, never a scan.

Lookups are cached briefly (a new subscriber waits at most `ttl_seconds` for its first push) and the
cache holds at most `max_topics` topics (least recently used go first). Connections whose expires_at
has passed are left out: API Gateway closed them, TTL just has not removed their items yet.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class SubscriberIndex:
    def __init__(self, client: Any, table: str, index: str, ttl_seconds: float, max_topics: int,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time,
                 concurrency: int = 8):
        self._client = client
        self._table = table
        self._index = index
        self._ttl = ttl_seconds
        self._max_topics = max(1, max_topics)
        self._clock = clock
        self._wall_clock = wall_clock
        self._cache: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="subscribers")
        self._counts = threading.Lock()
        self.queries = 0  # Query calls made (cache misses), since creation
        self.errors = 0  # lookups that failed

    def lookup(self, topics: Iterable[str], deadline: float) -> dict[str, frozenset[str]]:
        """topic -> connection ids, for every topic answered before `deadline` (monotonic); misses run concurrently."""
        now = self._clock()
        found: dict[str, frozenset[str]] = {}
        missing = []
        for topic in dict.fromkeys(topics):
            cached = self._cache.get(topic)
            if cached is not None and now - cached[0] < self._ttl:
                self._cache.move_to_end(topic)
                found[topic] = cached[1]
            else:
                missing.append(topic)
        futures = {topic: self._pool.submit(self._query_before, topic, deadline) for topic in missing}
        for topic, future in futures.items():
            connections = future.result()
            if connections is not None:
                found[topic] = connections
                self._remember(topic, connections)
        return found

    def invalidate(self, topics: Iterable[str]) -> None:
        """Drop cached lookups, so the next lookup of these topics queries the index again."""
        for topic in topics:
            self._cache.pop(topic, None)

    def forget(self, connection_ids: set[str]) -> None:
        """Drop gone connections from every cached topic."""
        for topic, (at, connections) in list(self._cache.items()):
            if connections & connection_ids:
                self._cache[topic] = (at, connections - connection_ids)

    def _remember(self, topic: str, connections: frozenset[str]) -> None:
        self._cache[topic] = (self._clock(), connections)
        self._cache.move_to_end(topic)
        while len(self._cache) > self._max_topics:
            self._cache.popitem(last=False)

    def _query_before(self, topic: str, deadline: float) -> frozenset[str] | None:
        if self._clock() >= deadline:
            return None
        try:
            return self._query(topic)
        except Exception:  # noqa: BLE001 - a failed lookup costs this topic's pushes, never the batch
            with self._counts:
                self.errors += 1
            return None

    def _query(self, topic: str) -> frozenset[str]:
        now = int(self._wall_clock())
        connections: set[str] = set()
        request: dict[str, Any] = {
            "TableName": self._table, "IndexName": self._index,
            "KeyConditionExpression": "subscribed_topic = :t",
            "ExpressionAttributeValues": {":t": {"S": topic}},
            "ProjectionExpression": "connection_id, expires_at",
        }
        while True:
            with self._counts:
                self.queries += 1
            page = self._client.query(**request)
            for item in page.get("Items", []):
                expires_at = int(item.get("expires_at", {}).get("N", "0") or 0)
                if not expires_at or expires_at > now:
                    connections.add(item["connection_id"]["S"])
            if "LastEvaluatedKey" not in page:
                return frozenset(connections)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
