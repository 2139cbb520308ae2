"""Turn a Kinesis event-source-mapping batch into a plan: one update per ticker, plus rejects.

Nothing here talks to AWS; it is pure decoding, validation and coalescing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tickerstream.codec import InvalidRecord, decode_base64, decode_quote, position_key
from tickerstream.kpl import deaggregate, is_aggregated
from tickerstream.quote import Quote


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a user record came from; enough to find it again in the stream."""

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
    for index, record in enumerate(records):
        kinesis = record["kinesis"]
        shard_id = shard_of(record)
        sequence_number = kinesis["sequenceNumber"]
        partition_key = kinesis.get("partitionKey", "")
        arrival = float(kinesis.get("approximateArrivalTimestamp") or 0.0)
        if plan.oldest_arrival is None or arrival < plan.oldest_arrival:
            plan.oldest_arrival = arrival

        try:
            data = decode_base64(kinesis["data"])
            if is_aggregated(data):
                user_records = [(u.partition_key, u.data, u.sub_sequence_number) for u in deaggregate(data)]
            else:
                user_records = [(partition_key, data, 0)]
        except InvalidRecord as exc:
            plan.user_records += 1
            origin = Origin(index, shard_id, sequence_number, 0, partition_key, arrival)
            raw = data if exc.reason == "invalid_aggregate" else str(kinesis.get("data", "")).encode()
            plan.rejects.append(Rejected(origin, exc.reason, exc.detail, raw))
            continue

        for user_key, payload, sub_sequence in user_records:
            plan.user_records += 1
            origin = Origin(index, shard_id, sequence_number, sub_sequence, user_key, arrival)
            try:
                quote = decode_quote(payload)
            except InvalidRecord as exc:
                plan.rejects.append(Rejected(origin, exc.reason, exc.detail, payload))
                continue
            update = updates.get(quote.ticker_symbol)
            if update is None:
                update = updates[quote.ticker_symbol] = TickerUpdate(quote.ticker_symbol, index)
            update.entries.append((origin, quote))
    return plan
