"""Remove connections that answered 410: their META item lists their subscription items."""

from __future__ import annotations

from typing import Any

META = "META"
BATCH = 25
ROUNDS = 3


def remove_connections(client: Any, table: str, connection_ids: set[str]) -> int:
    """Delete every item of each gone connection; how many items were deleted."""
    deletes: list[dict[str, Any]] = []
    for connection_id in sorted(connection_ids):
        item = client.get_item(TableName=table, Key=_key(connection_id, META), ConsistentRead=True,
                               ProjectionExpression="tickers, sectors").get("Item")
        if item is None:
            continue  # $disconnect (or another batch) already removed it
        topics = [f"TICKER#{v['S']}" for v in item.get("tickers", {}).get("L", [])]
        topics += [f"SECTOR#{v['S']}" for v in item.get("sectors", {}).get("L", [])]
        deletes += [{"DeleteRequest": {"Key": _key(connection_id, topic)}} for topic in [*topics, META]]
    for start in range(0, len(deletes), BATCH):
        pending = {table: deletes[start:start + BATCH]}
        for _ in range(ROUNDS):
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
    return len(deletes)


def _key(connection_id: str, topic: str) -> dict[str, Any]:
    return {"connection_id": {"S": connection_id}, "topic": {"S": topic}}
