"""Our own emulation of Lambda's Kinesis event-source contract, and a fault-injecting SDK client.

Deliberately independent of src/tickerstream_local/esm.py (the local stack's poller): the property
tests check QuoteProcessor against the contract as AWS documents it, not against our other reading of it.

- A batch is a run of a shard's records starting at the shard's checkpoint.
- A response with batchItemFailures: Lambda checkpoints at the lowest reported sequence number and
  redelivers from there (with BisectBatchOnFunctionError, only the remaining records of that batch).
- An invocation error (the function raised, timed out, died) retries the whole batch; with
  BisectBatchOnFunctionError the batch is split in two and each half retried.
- Every retry counts against MaximumRetryAttempts; past it the records would go to the OnFailure
  destination as metadata only, which the tests treat as a failure of the test itself.
The mapping's settings are read from template.yaml.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError


@dataclass(frozen=True)
class MappingSettings:
    batch_size: int
    max_retries: int
    bisect: bool
    report_failures: bool


def mapping_settings(function: str = "QuoteProcessor") -> MappingSettings:
    from tickerstream_local.template import parameter_defaults, resolve, sam_template

    template = sam_template()
    parameters = parameter_defaults(template)
    [props] = [
        event["Properties"]
        for event in template["Resources"][function]["Properties"]["Events"].values()
        if event["Type"] == "Kinesis"
    ]
    return MappingSettings(
        batch_size=int(resolve(props.get("BatchSize", 100), parameters)),
        max_retries=int(resolve(props.get("MaximumRetryAttempts", -1), parameters)),
        bisect=bool(props.get("BisectBatchOnFunctionError", False)),
        report_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
    )


@dataclass
class Batch:
    start: int
    end: int
    attempts: int = 0


@dataclass
class Shard:
    shard_id: str
    records: list[dict[str, Any]]
    checkpoint: int = 0
    pending: list[Batch] = field(default_factory=list)  # batches Lambda must (re)deliver first

    @property
    def done(self) -> bool:
        return not self.pending and self.checkpoint >= len(self.records)


@dataclass
class Delivery:
    """One invocation: what was delivered and how far the response says it is durable."""

    records: list[dict[str, Any]]
    durable: int  # how many leading records of the batch the response declares done (0 on an error)
    error: BaseException | None = None


class RetriesExhausted(AssertionError):
    pass


def deliver(shard: Shard, size: int, settings: MappingSettings, invoke) -> Delivery | None:
    """Deliver the shard's next batch to `invoke` and move the checkpoint as Lambda would."""
    if shard.done:
        return None
    if not shard.pending:
        start = shard.checkpoint
        shard.pending.append(Batch(start, min(start + min(size, settings.batch_size), len(shard.records))))
    batch = shard.pending[0]
    if settings.max_retries >= 0 and batch.attempts > settings.max_retries:
        raise RetriesExhausted(f"{shard.shard_id} records {batch.start}..{batch.end} would go to the OnFailure destination")
    records = shard.records[batch.start : batch.end]
    try:
        response = invoke({"Records": records})
    except Exception as exc:  # the function failed: Lambda sees an invocation error
        shard.pending.pop(0)
        if settings.bisect and len(records) > 1:
            middle = batch.start + len(records) // 2
            shard.pending[:0] = [Batch(batch.start, middle, batch.attempts + 1), Batch(middle, batch.end, batch.attempts + 1)]
        else:
            shard.pending.insert(0, Batch(batch.start, batch.end, batch.attempts + 1))
        return Delivery(records, 0, exc)

    shard.pending.pop(0)
    failures = (response or {}).get("batchItemFailures") if settings.report_failures else None
    if not failures:
        shard.checkpoint = max(shard.checkpoint, batch.end)
        return Delivery(records, len(records))
    sequence_numbers = [r["kinesis"]["sequenceNumber"] for r in records]
    identifiers = [f.get("itemIdentifier") for f in failures]
    if not all(identifier in sequence_numbers for identifier in identifiers):
        # an empty, null or unknown identifier fails the whole batch
        shard.pending.insert(0, Batch(batch.start, batch.end, batch.attempts + 1))
        return Delivery(records, 0)
    lowest = min(sequence_numbers.index(identifier) for identifier in identifiers)
    shard.checkpoint = batch.start + lowest
    if settings.bisect:
        shard.pending.insert(0, Batch(batch.start + lowest, batch.end, batch.attempts + 1))
    return Delivery(records, lowest)


# -- faults --------------------------------------------------------------------------------------

FAULT_KINDS = ("throttle", "server_error", "lost_response", "died_before", "died_after", "partial")


class FunctionDied(Exception):
    """The function's process ended mid-batch (out of memory, timeout): not an error it can handle."""


def _client_error(operation: str, code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


class FaultySdk:
    """Numbers every SDK call of a run (DynamoDB and SQS alike) and injects the scheduled fault at
    call n: before the call (throttling, 5xx, the function dying) or after it has taken effect (the
    response lost, or the function dying before it could use it). A partial SendMessageBatch sends
    only the first half of its entries and reports the rest failed. `refuse(operation, kwargs)` names
    requests DynamoDB would refuse for good (a ValidationException, like an unstorable number)."""

    def __init__(self, schedule: dict[int, str], refuse=None):
        self.schedule = dict(schedule)
        self.refuse = refuse or (lambda operation, kwargs: False)
        self.calls = 0
        self.injected: list[tuple[int, str, str]] = []
        self._lock = threading.Lock()  # QuoteProcessor's writer threads call at once

    def wrap(self, client: Any) -> Any:
        return _Proxy(self, client)

    def call(self, name: str, method, kwargs: dict[str, Any]) -> Any:
        with self._lock:
            self.calls += 1
            number = self.calls
            kind = self.schedule.get(number)
            if kind:
                self.injected.append((number, name, kind))
        if kind == "throttle":
            code = "ProvisionedThroughputExceededException" if name != "send_message_batch" else "RequestThrottled"
            raise _client_error(name, code, 400)
        if kind == "server_error":
            raise _client_error(name, "InternalServerError", 500)
        if kind == "died_before":
            raise FunctionDied(f"died before call {number}")
        if self.refuse(name, kwargs):
            raise _client_error(name, "ValidationException", 400)
        if kind == "partial" and name == "send_message_batch" and len(kwargs["Entries"]) > 1:
            half = len(kwargs["Entries"]) // 2
            response = method(**{**kwargs, "Entries": kwargs["Entries"][:half]})
            failed = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "injected"} for e in kwargs["Entries"][half:]]
            return {**response, "Failed": [*response.get("Failed", []), *failed]}
        response = method(**kwargs)
        if kind == "lost_response":
            raise ReadTimeoutError(endpoint_url=f"https://{name}.injected")
        if kind == "died_after":
            raise FunctionDied(f"died after call {number}")
        return response


class _Proxy:
    def __init__(self, sdk: FaultySdk, client: Any):
        self._sdk, self._client = sdk, client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith("_") or name == "meta" or not callable(attribute):
            return attribute
        return lambda **kwargs: self._sdk.call(name, attribute, kwargs)
