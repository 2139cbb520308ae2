"""ConnectionsTable access for the routes: a connection's META item and its subscription items.

The META item lists the connection's subscriptions, so nothing here needs Query or Scan: the route
reads one item, changes its lists under optimistic locking (``version``), then writes or deletes the
subscription items the ByTopic index serves to BoardFanout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ws_connections.topics import META, topics_of

BATCH = 25  # BatchWriteItem's limit
UNPROCESSED_ROUNDS = 5


class UnknownConnection(LookupError):
    """No META item: the connection was never opened here, or has been closed."""


class Contention(RuntimeError):
    """The META item kept changing under this request (concurrent messages of one connection)."""


@dataclass(frozen=True)
class Subscriptions:
    tickers: list[str]
    sectors: list[str]
    version: int
    expires_at: int

    def total(self) -> int:
        return len(self.tickers) + len(self.sectors)


class ConnectionStore:
    def __init__(self, client: Any, table: str):
        self._client = client
        self._table = table

    def open(self, connection_id: str, who: dict[str, str], connected_at: str, expires_at: int) -> None:
        item = {
            "connection_id": {"S": connection_id}, "topic": {"S": META},
            "connected_at": {"S": connected_at}, "expires_at": {"N": str(expires_at)},
            "tickers": {"L": []}, "sectors": {"L": []}, "version": {"N": "0"},
        }
        item.update({name: {"S": value} for name, value in who.items() if value})
        self._client.put_item(TableName=self._table, Item=item)

    def subscriptions(self, connection_id: str) -> Subscriptions:
        item = self._client.get_item(TableName=self._table, Key=_key(connection_id, META), ConsistentRead=True).get("Item")
        if item is None:
            raise UnknownConnection(connection_id)
        return Subscriptions(
            tickers=[v["S"] for v in item.get("tickers", {}).get("L", [])],
            sectors=[v["S"] for v in item.get("sectors", {}).get("L", [])],
            version=int(item.get("version", {}).get("N", "0")),
            expires_at=int(item["expires_at"]["N"]),
        )

    def replace(self, connection_id: str, current: Subscriptions, tickers: list[str], sectors: list[str]) -> bool:
        """Set the META item's lists if nobody changed them since `current` was read; False if somebody did."""
        try:
            self._client.update_item(
                TableName=self._table, Key=_key(connection_id, META),
                UpdateExpression="SET tickers = :t, sectors = :s, version = :next",
                ConditionExpression="attribute_exists(connection_id) AND version = :seen",
                ExpressionAttributeValues={
                    ":t": {"L": [{"S": t} for t in tickers]}, ":s": {"L": [{"S": s} for s in sectors]},
                    ":seen": {"N": str(current.version)}, ":next": {"N": str(current.version + 1)},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def add_topics(self, connection_id: str, topics: list[str], expires_at: int) -> None:
        self._write([{"PutRequest": {"Item": {
            "connection_id": {"S": connection_id}, "topic": {"S": topic}, "subscribed_topic": {"S": topic},
            "expires_at": {"N": str(expires_at)},
        }}} for topic in topics])

    def remove_topics(self, connection_id: str, topics: list[str]) -> None:
        self._write([{"DeleteRequest": {"Key": _key(connection_id, topic)}} for topic in topics])

    def close(self, connection_id: str) -> int:
        """Delete the connection's items; how many subscriptions it had (0 if it was not known)."""
        try:
            current = self.subscriptions(connection_id)
        except UnknownConnection:
            return 0
        topics = topics_of(current.tickers, current.sectors)
        self._write([{"DeleteRequest": {"Key": _key(connection_id, topic)}} for topic in [*topics, META]])
        return len(topics)

    def _write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), BATCH):
            pending = {self._table: requests[start:start + BATCH]}
            for _ in range(UNPROCESSED_ROUNDS):
                pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break
            if pending:
                raise RuntimeError(f"{len(pending[self._table])} ConnectionsTable writes still unprocessed")


def _key(connection_id: str, topic: str) -> dict[str, Any]:
    return {"connection_id": {"S": connection_id}, "topic": {"S": topic}}
