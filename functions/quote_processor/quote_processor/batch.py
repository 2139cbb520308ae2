"""Turn a Kinesis event-source-mapping batch into a plan: one update per ticker, plus rejects.

Nothing here talks to AWS; it is pure decoding, validation and coalescing. The loop runs once per
record of batches of up to 10,000, so it keeps per-record work to decoding, validating and one
append; where a record came from (an Origin) is worked out only for the few records that need it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from tickerstream.codec import InvalidRecord, decode_base64, decode_quote, position_key
from tickerstream.kpl import KPL_MAGIC, deaggregate
from tickerstream.quote import Quote


class Origin(NamedTuple):
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


def shard_of(record: dict[str, Any]) -> str:
    # eventID is "shardId-000000000006:49590338271490256608559692538361571095921575989136588898"
    return record.get("eventID", "").partition(":")[0]


def origin_of(records: list[dict[str, Any]], index: int, sub_sequence: int = 0, partition_key: str | None = None) -> Origin:
    record = records[index]
    kinesis = record["kinesis"]
    return Origin(
        index,
        shard_of(record),
        kinesis["sequenceNumber"],
        sub_sequence,
        kinesis.get("partitionKey", "") if partition_key is None else partition_key,
        float(kinesis.get("approximateArrivalTimestamp") or 0.0),
    )


@dataclass(frozen=True, slots=True)
class Rejected:
    origin: Origin
    reason: str
    detail: str
    data: bytes  # the raw bytes of the record (the base64 text itself when that did not decode)


class Entry(NamedTuple):
    index: int  # the Kinesis record's place in the batch
    sub_sequence: int  # the user record's place in a KPL aggregate (0 otherwise)
    quote: Quote


@dataclass(slots=True)
class TickerUpdate:
    """Every valid quote of one ticker in the batch, in stream order."""

    ticker: str
    first_index: int
    records: list[dict[str, Any]]  # the batch, to say where an entry came from
    entries: list[Entry] = field(default_factory=list)
    partition_keys: dict[tuple[int, int], str] = field(default_factory=dict)  # KPL user records only

    def origin(self, entry: Entry) -> Origin:
        return origin_of(self.records, entry.index, entry.sub_sequence, self.partition_keys.get(entry[:2]))

    def position(self, entry: Entry) -> str:
        return position_key(self.records[entry.index]["kinesis"]["sequenceNumber"], entry.sub_sequence)

    def raw(self, entry: Entry) -> bytes:
        """The bytes the entry's quote was decoded from (decoded again: only a refused write needs them)."""
        data = decode_base64(self.records[entry.index]["kinesis"]["data"])
        if data[:4] == KPL_MAGIC:
            return next(user.data for user in deaggregate(data) if user.sub_sequence_number == entry.sub_sequence)
        return data


@dataclass(slots=True)
class BatchPlan:
    updates: dict[str, TickerUpdate] = field(default_factory=dict)
    rejects: list[Rejected] = field(default_factory=list)
    user_records: int = 0
    oldest_arrival: float | None = None


def plan_batch(records: list[dict[str, Any]]) -> BatchPlan:
    plan = BatchPlan()
    updates = plan.updates
    rejects = plan.rejects
    user_records = 0
    for index, record in enumerate(records):
        kinesis = record["kinesis"]
        try:
            data = decode_base64(kinesis["data"])
        except InvalidRecord as exc:
            user_records += 1
            raw = str(kinesis.get("data", "")).encode()
            rejects.append(Rejected(origin_of(records, index), exc.reason, exc.detail, raw))
            continue

        if data[:4] == KPL_MAGIC:
            user_records += _plan_aggregate(plan, records, index, data)
            continue

        user_records += 1
        try:
            quote = decode_quote(data)
        except InvalidRecord as exc:
            rejects.append(Rejected(origin_of(records, index), exc.reason, exc.detail, data))
            continue
        update = updates.get(quote.ticker_symbol)
        if update is None:
            update = updates[quote.ticker_symbol] = TickerUpdate(quote.ticker_symbol, index, records)
        update.entries.append(Entry(index, 0, quote))

    plan.user_records = user_records
    arrivals = [r["kinesis"].get("approximateArrivalTimestamp") or 0.0 for r in records]
    plan.oldest_arrival = float(min(arrivals)) if arrivals else None
    return plan


def _plan_aggregate(plan: BatchPlan, records: list[dict[str, Any]], index: int, data: bytes) -> int:
    """Add a KPL aggregate's user records to the plan; return how many user records it held."""
    try:
        users = deaggregate(data)
    except InvalidRecord as exc:
        plan.rejects.append(Rejected(origin_of(records, index), exc.reason, exc.detail, data))
        return 1
    for user in users:
        try:
            quote = decode_quote(user.data)
        except InvalidRecord as exc:
            origin = origin_of(records, index, user.sub_sequence_number, user.partition_key)
            plan.rejects.append(Rejected(origin, exc.reason, exc.detail, user.data))
            continue
        update = plan.updates.get(quote.ticker_symbol)
        if update is None:
            update = plan.updates[quote.ticker_symbol] = TickerUpdate(quote.ticker_symbol, index, records)
        update.entries.append(Entry(index, user.sub_sequence_number, quote))
        update.partition_keys[(index, user.sub_sequence_number)] = user.partition_key
    return len(users)
