"""Firehose data transformation: one Firehose record in, one record out, never an exception.

Each record becomes newline-delimited JSON (one quote per line, validated and normalised by the shared
Quote model) enriched with the arrival time and the source sequence number, plus the
``metadata.partitionKeys`` dynamic partitioning uses (sector, year, month, day, hour of the arrival
time in UTC). A record that cannot become quotes is returned as ``ProcessingFailed`` with its original
data, so Firehose writes it whole under the error prefix: nothing is dropped.

The response must fit Lambda's 6 MB synchronous payload limit whatever batch Firehose sends. The
output of a record is usually about the size of its input, but small quotes sent direct-put grow
(enrichment + partition keys). Sizes are counted exactly as the runtime will serialise them; if the
whole response would not fit, records from the first one that would overflow the budget are
returned as ``ProcessingFailed`` with their original data (never larger than what Firehose sent), so
they too land whole under the error prefix and the invocation still succeeds.
"""

from __future__ import annotations

import binascii
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from tickerstream.codec import InvalidRecord, decode_base64, decode_quote
from tickerstream.kpl import deaggregate, is_aggregated
from tickerstream.quote import Quote

OK = "Ok"
PROCESSING_FAILED = "ProcessingFailed"
PARTITION_KEYS = ("sector", "year", "month", "day", "hour")

# Lambda's synchronous invocation payload limit (request and response): 6 MB.
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
# Sizes below are exact for json.dumps' default separators (the runtime's, and the larger of the two
# usual ones); the margin covers anything the runtime adds around the payload.
RESPONSE_BUDGET = LAMBDA_PAYLOAD_LIMIT - 16 * 1024

REASON_RESPONSE_LIMIT = "response_size_limit"

_SECTOR_SLUG = re.compile(r"[^A-Z0-9_\-]+")
_OK_OVERHEAD = len(
    json.dumps({"recordId": "", "result": OK, "data": "", "metadata": {"partitionKeys": dict.fromkeys(PARTITION_KEYS, "")}})
)
_FAILED_OVERHEAD = len(json.dumps({"recordId": "", "result": PROCESSING_FAILED, "data": ""}))
_ENVELOPE = len(json.dumps({"records": []}))
_SEPARATOR = len(", ")


def sector_partition(sector: str) -> str:
    """The S3 partition value of a (normalised) sector: characters outside A-Z 0-9 _ - become `_`."""
    return _SECTOR_SLUG.sub("_", sector)


def _json_body_len(text: str) -> int:
    """Length of ``json.dumps(text)`` without its quotes, computed without serialising the common case."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return len(text)
    return len(json.dumps(text)) - 2


@dataclass(frozen=True, slots=True)
class Rejected:
    record_id: str
    reason: str
    detail: str
    sequence_number: str | None


@dataclass(slots=True)
class BatchResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Rejected] = field(default_factory=list)
    quotes: int = 0  # NDJSON lines delivered
    response_bytes: int = 0  # size of {"records": [...]} as json.dumps writes it
    oldest_arrival_ms: int | None = None


class _Clock:
    """Per-batch cache: arrival second → (timestamp text, (year, month, day, hour))."""

    __slots__ = ("_seconds",)

    def __init__(self) -> None:
        self._seconds: dict[int, tuple[str, tuple[str, str, str, str]]] = {}

    def at(self, second: int) -> tuple[str, tuple[str, str, str, str]]:
        cached = self._seconds.get(second)
        if cached is None:
            t = time.gmtime(second)
            year, month, day, hour = f"{t.tm_year:04d}", f"{t.tm_mon:02d}", f"{t.tm_mday:02d}", f"{t.tm_hour:02d}"
            cached = (f"{year}-{month}-{day} {hour}:{t.tm_min:02d}:{t.tm_sec:02d}", (year, month, day, hour))
            self._seconds[second] = cached
        return cached


def _arrival_ms(record: dict[str, Any], metadata: dict[str, Any] | None) -> int:
    value = metadata.get("approximateArrivalTimestamp") if metadata else None
    if value is None:
        value = record.get("approximateArrivalTimestamp")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InvalidRecord("invalid_metadata", f"approximateArrivalTimestamp is {value!r}, expected epoch milliseconds")
    return int(value)


def _line(quote: Quote, arrival: str, sequence_json: str, sub_sequence: int) -> str:
    # ticker and sector match the Quote model's patterns (no quote, backslash or control characters)
    # and numbers are finite, so this is exactly json.dumps(..., separators=(",", ":")).
    return (
        f'{{"ticker_symbol":"{quote.ticker_symbol}","sector":"{quote.sector}",'
        f'"change":{quote.change!r},"price":{quote.price!r},"arrival_time":"{arrival}",'
        f'"sequence_number":{sequence_json},"sub_sequence_number":{sub_sequence}}}\n'
    )


def _quotes_of(data: bytes, sub_sequence: int) -> list[tuple[Quote, int]]:
    """The quotes in one record's data: one, or every user record of a KPL aggregate (all valid)."""
    if not is_aggregated(data):
        return [(decode_quote(data), sub_sequence)]
    quotes = []
    for user in deaggregate(data):
        try:
            quotes.append((decode_quote(user.data), user.sub_sequence_number))
        except InvalidRecord as exc:
            raise InvalidRecord(exc.reason, f"user record {user.sub_sequence_number}: {exc.detail}") from None
    if not quotes:
        raise InvalidRecord("invalid_aggregate", "aggregate holds no user records")
    sectors = {quote.sector for quote, _ in quotes}
    if len(sectors) > 1:
        # One Firehose record goes to one partition; splitting it is not possible here.
        raise InvalidRecord("mixed_partitions", f"aggregate spans sectors {sorted(sectors)}")
    return quotes


def transform_batch(records: list[dict[str, Any]], budget: int = RESPONSE_BUDGET) -> BatchResult:
    result = BatchResult()
    clock = _Clock()
    keys_cache: dict[tuple[str, tuple[str, str, str, str]], tuple[dict[str, Any], int]] = {}
    outputs: list[dict[str, Any]] = []
    sizes: list[int] = []
    fallback_sizes: list[int] = []
    reasons: list[Rejected | None] = []
    line_counts: list[int] = []
    b2a = binascii.b2a_base64
    oldest: int | None = None

    for record in records:
        record_id = record.get("recordId")
        if not isinstance(record_id, str):
            record_id = str(record_id)
        original = record.get("data")
        if not isinstance(original, str):
            original = ""
        id_len = _json_body_len(record_id)
        fallback = _FAILED_OVERHEAD + id_len + _json_body_len(original)
        metadata = record.get("kinesisRecordMetadata")
        if not isinstance(metadata, dict):
            metadata = None
        sequence_number = metadata.get("sequenceNumber") if metadata else None
        try:
            arrival_ms = _arrival_ms(record, metadata)
            sub_sequence = metadata.get("subsequenceNumber") or 0 if metadata else 0
            try:
                sub_sequence = int(sub_sequence)
            except (TypeError, ValueError):
                raise InvalidRecord("invalid_metadata", f"subsequenceNumber is {sub_sequence!r}") from None
            if sequence_number is None:
                sequence_json = "null"
            elif isinstance(sequence_number, str) and sequence_number.isdigit() and sequence_number.isascii():
                sequence_json = f'"{sequence_number}"'
            else:
                raise InvalidRecord("invalid_metadata", f"sequenceNumber is {sequence_number!r}")
            quotes = _quotes_of(decode_base64(original), sub_sequence)
        except InvalidRecord as exc:
            rejected = Rejected(record_id, exc.reason, exc.detail, sequence_number if isinstance(sequence_number, str) else None)
            outputs.append({"recordId": record_id, "result": PROCESSING_FAILED, "data": original})
            sizes.append(fallback)
            fallback_sizes.append(fallback)
            reasons.append(rejected)
            line_counts.append(0)
            continue

        if oldest is None or arrival_ms < oldest:
            oldest = arrival_ms
        second, millis = divmod(arrival_ms, 1000)
        stamp, hour_key = clock.at(second)
        arrival = f"{stamp}.{millis:03d}"
        if len(quotes) == 1:
            quote, sub = quotes[0]
            text = _line(quote, arrival, sequence_json, sub)
        else:
            text = "".join(_line(quote, arrival, sequence_json, sub) for quote, sub in quotes)
        data = b2a(text.encode(), newline=False).decode("ascii")
        sector = quotes[0][0].sector
        cached = keys_cache.get((sector, hour_key))
        if cached is None:
            partition = sector_partition(sector)
            keys = {"sector": partition, "year": hour_key[0], "month": hour_key[1], "day": hour_key[2], "hour": hour_key[3]}
            cached = keys_cache[(sector, hour_key)] = (keys, sum(len(v) for v in keys.values()))
        keys, keys_len = cached
        outputs.append({"recordId": record_id, "result": OK, "data": data, "metadata": {"partitionKeys": keys}})
        sizes.append(_OK_OVERHEAD + id_len + len(data) + keys_len)
        fallback_sizes.append(fallback)
        reasons.append(None)
        line_counts.append(len(quotes))
        result.quotes += len(quotes)

    count = len(outputs)
    envelope = _ENVELOPE + _SEPARATOR * max(count - 1, 0)
    total = envelope + sum(sizes)
    if total > budget:
        total = _fit(outputs, sizes, fallback_sizes, reasons, line_counts, records, envelope, budget, result)

    result.records = outputs
    result.rejects = [r for r in reasons if r is not None]
    result.response_bytes = total
    result.oldest_arrival_ms = oldest
    return result


def _fit(
    outputs: list[dict[str, Any]],
    sizes: list[int],
    fallback_sizes: list[int],
    reasons: list[Rejected | None],
    line_counts: list[int],
    records: list[dict[str, Any]],
    envelope: int,
    budget: int,
    result: BatchResult,
) -> int:
    """Turn the records that would overflow the budget into ProcessingFailed with their original data.

    Records are kept in order while what is kept plus every later record's fallback still fits; a
    fallback is never larger than the record Firehose sent, so the response fits whenever the request
    did. If even that does not fit (a request near the limit), the fallbacks shed their data too.
    """
    count = len(outputs)
    remaining = [0] * (count + 1)
    for i in range(count - 1, -1, -1):
        remaining[i] = remaining[i + 1] + fallback_sizes[i]
    used = envelope
    for i in range(count):
        if outputs[i]["result"] == OK and used + sizes[i] + remaining[i + 1] > budget:
            record_id = outputs[i]["recordId"]
            metadata = records[i].get("kinesisRecordMetadata") or {}
            original = records[i].get("data")
            outputs[i] = {
                "recordId": record_id,
                "result": PROCESSING_FAILED,
                "data": original if isinstance(original, str) else "",
            }
            result.quotes -= line_counts[i]
            sizes[i] = fallback_sizes[i]
            reasons[i] = Rejected(
                record_id,
                REASON_RESPONSE_LIMIT,
                f"response would exceed {budget} bytes",
                metadata.get("sequenceNumber") if isinstance(metadata, dict) else None,
            )
        used += sizes[i]
    if used > budget:  # only for a request that was itself at the limit: drop the echoed data
        for i in range(count - 1, -1, -1):
            if used <= budget:
                break
            if outputs[i]["result"] == PROCESSING_FAILED and outputs[i]["data"]:
                shrink = _json_body_len(outputs[i]["data"])
                outputs[i] = {**outputs[i], "data": ""}
                sizes[i] -= shrink
                used -= shrink
    return used

