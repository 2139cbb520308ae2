"""Turn a Kinesis event-source-mapping batch into a plan: one update per ticker, plus rejects.

Nothing here talks to AWS; it is pure decoding, validation and coalescing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from tickerstream.codec import InvalidRecord, decode_base64, decode_quote, position_key
from tickerstream.kpl import KPL_MAGIC, deaggregate
from tickerstream.quote import Quote


class Origin(NamedTuple):
    """Where a user record came from; enough to find it again in the stream. (A NamedTuple: one is
    built per record, and tuples are the cheapest immutable objects to build.)"""

    index: int  # position of its Kinesis record in the batch (the unit Lambda checkpoints on)
    shard_id: str
    sequence_number: str
    sub_sequence_number: int
    partition_key: str
    arrival: float  # approximateArrivalTimestamp, epoch seconds

    @property
    def position(self) -> str:
        return position_key(self.sequence_number, self.sub_sequence_number)


@dataclass(frozen=True, slots=True)
class Rejected:
    origin: Origin
    reason: str
    detail: str
    data: bytes  # the raw bytes of the record (the base64 text itself when that did not decode)


@dataclass(slots=True)
class TickerUpdate:
    """Every valid quote of one ticker in the batch, in stream order."""

    ticker: str
    first_index: int
    entries: list[tuple[Origin, Quote]] = field(default_factory=list)

    @property
    def latest(self) -> tuple[Origin, Quote]:
        return self.entries[-1]


@dataclass(slots=True)
class BatchPlan:
    updates: dict[str, TickerUpdate] = field(default_factory=dict)
    rejects: list[Rejected] = field(default_factory=list)
    user_records: int = 0
    oldest_arrival: float | None = None

    @property
    def valid_records(self) -> int:
        return self.user_records - len(self.rejects)


def shard_of(record: dict[str, Any]) -> str:
    # eventID is "shardId-000000000006:49590338271490256608559692538361571095921575989136588898"
    return record.get("eventID", "").partition(":")[0]


def plan_batch(records: list[dict[str, Any]]) -> BatchPlan:
    plan = BatchPlan()
    updates = plan.updates
    rejects = plan.rejects
    oldest = None
    for index, record in enumerate(records):
        kinesis = record["kinesis"]
        sequence_number = kinesis["sequenceNumber"]
        partition_key = kinesis.get("partitionKey", "")
        arrival = kinesis.get("approximateArrivalTimestamp") or 0.0
        if oldest is None or arrival < oldest:
            oldest = arrival
        shard_id = shard_of(record)

        try:
            data = decode_base64(kinesis["data"])
            if data[:4] == KPL_MAGIC:
                user_records = [(u.partition_key, u.data, u.sub_sequence_number) for u in deaggregate(data)]
            else:
                user_records = ((partition_key, data, 0),)
        except InvalidRecord as exc:
            plan.user_records += 1
            origin = Origin(index, shard_id, sequence_number, 0, partition_key, arrival)
            raw = data if exc.reason == "invalid_aggregate" else str(kinesis.get("data", "")).encode()
            rejects.append(Rejected(origin, exc.reason, exc.detail, raw))
            continue

        for user_key, payload, sub_sequence in user_records:
            plan.user_records += 1
            origin = Origin(index, shard_id, sequence_number, sub_sequence, user_key, arrival)
            try:
                quote = decode_quote(payload)
            except InvalidRecord as exc:
                rejects.append(Rejected(origin, exc.reason, exc.detail, payload))
                continue
            update = updates.get(quote.ticker_symbol)
            if update is None:
                update = updates[quote.ticker_symbol] = TickerUpdate(quote.ticker_symbol, index)
            update.entries.append((origin, quote))
    plan.oldest_arrival = float(oldest) if oldest is not None else None
    return plan
