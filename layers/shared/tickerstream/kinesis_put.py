"""Kinesis PutRecords that copes with partial failure: the one implementation producers and the API share.

PutRecords takes at most 500 records / 5 MiB per call and may accept some entries while rejecting others
(``FailedRecordCount`` > 0, per-entry ``ErrorCode`` such as ``ProvisionedThroughputExceededException``).
``put_records`` batches within those limits, re-sends only the entries that failed with a retryable
code, waits with exponential backoff and full jitter between attempts, and gives up after a bounded
number of attempts. It returns one ``PutResult`` per input record, in input order.

Ordering: Kinesis keeps order per shard only for records that succeed in order. A failed entry retried
after a later entry of the same partition key succeeded would land *after* it, and the consumer would
take the older quote as the newest. With ``preserve_key_order`` (the default) the n-th record of each
partition key is sent only after the (n-1)-th has succeeded or finally failed, so a retry can never
overtake. Batches whose keys are all distinct (the usual case) still go out as one call per 500 records.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_RECORDS_PER_REQUEST = 500
MAX_BYTES_PER_REQUEST = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024  # data + partition key of one record
MAX_PARTITION_KEY_LENGTH = 256

# Entry-level and request-level error codes worth another attempt; anything else (access denied, stream
# not found, KMS key disabled …) fails the same way every time.
RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "InternalFailure",
        "InternalFailureException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSThrottlingException",
        "LimitExceededException",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


@dataclass(frozen=True, slots=True)
class PutResult:
    """What happened to one input record."""

    index: int  # position in the list given to put_records
    partition_key: str
    shard_id: str | None = None
    sequence_number: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 0  # PutRecords calls that carried this record

    @property
    def ok(self) -> bool:
        return self.sequence_number is not None

    @property
    def retryable(self) -> bool:
        """A failure that a later call might not hit (throttling, service errors)."""
        return not self.ok and self.error_code in RETRYABLE_CODES


def record_size(partition_key: str, data: bytes) -> int:
    return len(partition_key.encode()) + len(data)


def _check(records: Sequence[tuple[str, bytes]]) -> None:
    for index, (key, data) in enumerate(records):
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_PARTITION_KEY_LENGTH:
            raise ValueError(f"record {index}: partition key must be 1-{MAX_PARTITION_KEY_LENGTH} characters")
        if not isinstance(data, (bytes, bytearray)):
            raise ValueError(f"record {index}: data must be bytes")
        if record_size(key, data) > MAX_RECORD_BYTES:
            raise ValueError(f"record {index}: {record_size(key, data)} bytes, at most {MAX_RECORD_BYTES} allowed")


def _rounds(records: Sequence[tuple[str, bytes]], preserve_key_order: bool) -> list[list[int]]:
    """Indexes grouped so that no round holds two records of one partition key (if order matters)."""
    if not preserve_key_order:
        return [list(range(len(records)))] if records else []
    rounds: list[list[int]] = []
    seen: dict[str, int] = {}
    for index, (key, _) in enumerate(records):
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        if occurrence == len(rounds):
            rounds.append([])
        rounds[occurrence].append(index)
    return rounds


def _batches(indexes: list[int], records: Sequence[tuple[str, bytes]]) -> list[list[int]]:
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index in indexes:
        key, data = records[index]
        record_bytes = record_size(key, data)
        if current and (len(current) == MAX_RECORDS_PER_REQUEST or size + record_bytes > MAX_BYTES_PER_REQUEST):
            batches.append(current)
            current, size = [], 0
        current.append(index)
        size += record_bytes
    if current:
        batches.append(current)
    return batches


def _error_of(exc: Exception) -> tuple[str, str]:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        return str(error.get("Code") or type(exc).__name__), str(error.get("Message") or exc)
    # botocore's connection/timeout errors carry no code: the service may answer the next call. Anything
    # else raised before a request goes out (no credentials, no region, bad parameters) fails the same way
    # every time, so it keeps its own name and is not retried.
    if _TRANSIENT_EXCEPTIONS & {cls.__name__ for cls in type(exc).__mro__}:
        return "ServiceUnavailable", f"{type(exc).__name__}: {exc}"
    return type(exc).__name__, str(exc)


# By name, so the layer needs no botocore import: EndpointConnectionError, ConnectTimeoutError and
# ProxyConnectionError derive from botocore's ConnectionError; ReadTimeoutError and ConnectionClosedError
# from HTTPClientError.
_TRANSIENT_EXCEPTIONS = frozenset({"ConnectionError", "HTTPClientError", "TimeoutError"})


def put_records(
    client: Any,
    stream_name: str,
    records: Sequence[tuple[str, bytes]],
    *,
    max_attempts: int = 5,
    base_delay: float = 0.1,
    max_delay: float = 2.0,
    preserve_key_order: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    random: Callable[[], float] = _random.random,
    stream_arn: str | None = None,
) -> list[PutResult]:
    """Write ``records`` ((partition_key, data) pairs) to a stream; return one PutResult per record.

    Never raises for AWS errors: every record ends with a sequence number or with the error code of its
    last attempt (request-level errors such as AccessDenied are reported on each record of the call).
    Raises ValueError for records Kinesis can never accept (empty/over-long key, over 1 MiB).
    ``sleep`` and ``random`` are injectable so tests need not wait; the delay before attempt n (n ≥ 2)
    is ``random() * min(max_delay, base_delay * 2 ** (n - 2))`` (exponential backoff, full jitter).
    When ``stream_arn`` is given it is sent as StreamARN instead of StreamName.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    _check(records)
    results: list[PutResult | None] = [None] * len(records)
    attempts = [0] * len(records)
    target = {"StreamARN": stream_arn} if stream_arn else {"StreamName": stream_name}

    for round_indexes in _rounds(records, preserve_key_order):
        for batch in _batches(round_indexes, records):
            pending = batch
            for attempt in range(1, max_attempts + 1):
                if attempt > 1:
                    sleep(random() * min(max_delay, base_delay * 2 ** (attempt - 2)))
                for index in pending:
                    attempts[index] += 1
                entries = [{"PartitionKey": records[i][0], "Data": bytes(records[i][1])} for i in pending]
                try:
                    response = client.put_records(Records=entries, **target)
                except Exception as exc:  # noqa: BLE001 - ClientError, BotoCoreError: reported per record
                    code, message = _error_of(exc)
                    for index in pending:
                        results[index] = PutResult(
                            index, records[index][0], error_code=code, error_message=message, attempts=attempts[index]
                        )
                    if code not in RETRYABLE_CODES:
                        break
                    continue

                retry: list[int] = []
                for index, entry in zip(pending, response.get("Records") or [], strict=False):
                    if entry.get("SequenceNumber") and not entry.get("ErrorCode"):
                        results[index] = PutResult(
                            index,
                            records[index][0],
                            shard_id=entry.get("ShardId"),
                            sequence_number=entry["SequenceNumber"],
                            attempts=attempts[index],
                        )
                        continue
                    code = entry.get("ErrorCode") or "InternalFailure"
                    results[index] = PutResult(
                        index,
                        records[index][0],
                        error_code=code,
                        error_message=entry.get("ErrorMessage"),
                        attempts=attempts[index],
                    )
                    if code in RETRYABLE_CODES:
                        retry.append(index)
                # A response shorter than the request would be a service bug; never lose those records.
                for index in pending[len(response.get("Records") or []) :]:
                    results[index] = PutResult(
                        index, records[index][0], error_code="InternalFailure",
                        error_message="no result returned for this entry", attempts=attempts[index],
                    )
                    retry.append(index)
                if not retry:
                    break
                pending = retry
    return [result for result in results if result is not None]


def failed(results: Sequence[PutResult]) -> list[PutResult]:
    return [result for result in results if not result.ok]
