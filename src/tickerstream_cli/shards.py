"""Which shard a partition key lands on, as Kinesis decides it: the MD5 of the key, read as a 128-bit
number, falls in one open shard's hash-key range. The producer aggregates all the quotes bound for one
shard into the same Kinesis records, as the Kinesis Producer Library does, instead of one ticker's only.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger("tickerstream.producer")


def hash_key(partition_key: str) -> int:
    return int.from_bytes(hashlib.md5(partition_key.encode(), usedforsecurity=False).digest(), "big")


@dataclass(frozen=True)
class ShardMap:
    """The open shards of a stream by the start of their hash-key ranges."""

    starts: tuple[int, ...]
    shard_ids: tuple[str, ...]

    def shard_of(self, partition_key: str) -> str:
        return self.shard_ids[bisect.bisect_right(self.starts, hash_key(partition_key)) - 1]

    @classmethod
    def of(cls, shards: list[dict[str, Any]]) -> ShardMap:
        open_shards = sorted(
            (int(s["HashKeyRange"]["StartingHashKey"]), s["ShardId"])
            for s in shards
            if "EndingSequenceNumber" not in s.get("SequenceNumberRange", {})
        )
        if not open_shards or open_shards[0][0] != 0:
            raise ValueError("the stream's open shards do not cover the hash-key space")
        return cls(tuple(start for start, _ in open_shards), tuple(shard for _, shard in open_shards))


def shard_router(client: Any, stream_name: str) -> Callable[[str], str] | None:
    """``shard_of`` for the stream's shards now, or None when they cannot be listed (then the producer
    aggregates per ticker, which needs no shard map). After a reshard the old map still keeps each
    ticker's quotes in order: a ticker always goes to the same Kinesis records' partition key."""
    shards: list[dict[str, Any]] = []
    try:
        page = client.list_shards(StreamName=stream_name)
        shards += page["Shards"]
        while page.get("NextToken"):
            page = client.list_shards(NextToken=page["NextToken"])
            shards += page["Shards"]
        return ShardMap.of(shards).shard_of
    except (ClientError, BotoCoreError, KeyError, ValueError) as exc:
        log.warning("cannot list the shards of %s (%s): aggregating each ticker's quotes on their own", stream_name, exc)
        return None
