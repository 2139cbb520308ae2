"""A local stream event-source mapping: what Lambda's poller does, run against moto.

It serves the template's `Kinesis` and `DynamoDB` (table stream) events and honours their settings:
BatchSize, MaximumBatchingWindowInSeconds, StartingPosition, FunctionResponseTypes
[ReportBatchItemFailures] (checkpoint at the lowest reported sequence number), BisectBatchOnFunctionError
(splits do not use the retry quota), MaximumRetryAttempts, MaximumRecordAgeInSeconds, the OnFailure
destination (an SQS message of the shape Lambda sends), TumblingWindowInSeconds state and FilterCriteria.
One poller per shard; ParallelizationFactor > 1 is not simulated (batches of a shard run one at a time).
Where the records come from is esm_sources.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tickerstream_local.esm_events import MappingSettings, arrival_of, iso_time, on_failure_message, sequence_of, size_of
from tickerstream_local.esm_filters import matches_any
from tickerstream_local.esm_sources import STREAM_EVENT_TYPES, stream_source
from tickerstream_local.functions import LocalContext
from tickerstream_local.handlers import local_context, resolve_handler
from tickerstream_local.stack import Deployment

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # synchronous invoke payload limit
# Lambda polls each shard at a base rate of once a second, and at once again while a backlog remains.
BASE_POLL_INTERVAL = 1.0
IDLE_WAIT = 0.05


@dataclass
class MappingStats:
    invocations: int = 0
    records_delivered: int = 0  # records handed to the function (retries count again)
    records_checkpointed: int = 0  # records the mapping moved past as processed
    records_discarded: int = 0  # records given up on (retries exhausted or too old)
    function_errors: int = 0
    partial_failures: int = 0
    bisections: int = 0
    on_failure_messages: int = 0
    iterator_age_ms: float = 0.0
    fetch_seconds: float = 0.0  # in GetRecords calls
    handler_seconds: float = 0.0  # inside the function


@dataclass
class _Batch:
    records: list[dict[str, Any]]  # Lambda-shaped event records
    attempts: int = 0  # invocations that failed for these records (bisection does not add)


class InvalidFunctionResponse(Exception):
    pass


class DrainTimeout(TimeoutError):
    """Draining stopped at its deadline with records not yet processed."""

    def __init__(self, mapping: str, timeout: float, unprocessed: int):
        super().__init__(
            f"{mapping}: stream not drained within {timeout:g} s: {unprocessed} fetched record(s) not yet "
            f"processed, and possibly more in the stream"
        )
        self.unprocessed = unprocessed


class ShardPoller:
    """One shard's iterator, pending records and checkpoint."""

    def __init__(self, mapping: EventSourceMapping, shard_id: str):
        self.mapping = mapping
        self.shard_id = shard_id
        self.pending: list[dict[str, Any]] = []
        self.first_buffered_at: float | None = None
        self.iterator = self._initial_iterator()
        self.window_state: dict[str, Any] = {}
        self.window_start: float | None = None
        self.window_closing = False  # the records being invoked are the last of their window
        self.next_poll = 0.0  # monotonic time before which this shard is not polled (unless draining)

    def _initial_iterator(self) -> str:
        return self.mapping.source.iterator(self.shard_id, self.mapping.settings.starting_position)

    def fetch(self, eager: bool = False) -> int:
        settings = self.mapping.settings
        started = time.perf_counter()
        if not eager and started < self.next_poll:
            return 0
        source = self.mapping.source
        limit = min(source.MAX_RECORDS_PER_CALL, settings.batch_size)
        records, next_iterator, behind_ms = source.read(self.shard_id, self.iterator, limit)
        self.mapping.stats.fetch_seconds += time.perf_counter() - started
        read = len(records)
        backlog = read >= limit
        if settings.filters:  # filtered out = processed, as Lambda treats it
            kept = [r for r in records if matches_any(r, list(settings.filters))]
            self.mapping.stats.records_checkpointed += len(records) - len(kept)
            records = kept
        self.next_poll = started if backlog else started + BASE_POLL_INTERVAL
        self.iterator = next_iterator or self.iterator
        if records and not self.pending:
            self.first_buffered_at = self.mapping.clock()
        self.pending.extend(records)
        if behind_ms is not None:
            self.mapping.stats.iterator_age_ms = behind_ms
        return read

    def ready_batch(self, flush: bool) -> list[dict[str, Any]]:
        """Take the next batch if the batch is full, the window has passed, or we are flushing."""
        if not self.pending:
            return []
        settings = self.mapping.settings
        full = len(self.pending) >= settings.batch_size
        waited = self.mapping.clock() - (self.first_buffered_at or 0) >= settings.batching_window
        if not (full or waited or flush):
            return []
        batch, size = [], 0
        for record in self.pending[: settings.batch_size]:
            size += size_of(record)
            if batch and size > MAX_PAYLOAD_BYTES:
                break
            batch.append(record)
        self.pending = self.pending[len(batch) :]
        self.first_buffered_at = self.mapping.clock() if self.pending else None
        return batch


class EventSourceMapping:
    """The template's Kinesis or DynamoDB event `event_name` on function `function_id`, run locally."""

    def __init__(
        self,
        deployment: Deployment,
        function_id: str,
        event_name: str,
        handler: Callable[[dict[str, Any], Any], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.deployment = deployment
        self.function_id = function_id
        self.event_name = event_name
        template_event = deployment.template["Resources"][function_id]["Properties"]["Events"][event_name]
        self.settings = MappingSettings.from_event(deployment.resolve(template_event["Properties"]))
        self.source = stream_source(deployment, template_event["Type"], self.settings.stream_arn)
        self.sqs = deployment.client("sqs")
        self.clock = clock
        self.stats = MappingStats()
        self.function_name = deployment.ctx.refs.get(function_id, function_id)
        self.function_arn = deployment.ctx.attributes.get(function_id, {}).get("Arn", function_id)
        self.handler = handler or resolve_handler(deployment, function_id)
        self.timeout = local_context(deployment, function_id).timeout_seconds
        self.shards = [ShardPoller(self, shard_id) for shard_id in self.source.shard_ids()]
        self._lock = threading.Lock()
        self._paused = threading.Event()
        self._deadline: float | None = None  # monotonic; set while draining against a bound

    # -- control ---------------------------------------------------------------------------------
    def pause(self) -> None:
        """Stop polling (like disabling the mapping); records pile up in the stream until resume()."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    # -- driving ---------------------------------------------------------------------------------
    def poll_once(self, flush: bool = False) -> int:
        """Fetch from every shard and process the batches that are ready; return records fetched."""
        fetched = 0
        with self._lock:
            for shard in self.shards:
                fetched += shard.fetch(eager=flush)
                while not self._past_deadline() and (batch := shard.ready_batch(flush)):
                    self._process_batch(shard, batch)
            self.close_ended_windows()
        return fetched

    def drain(self, timeout: float = 60.0) -> None:
        """Process everything now in the stream, flushing partial batches, even while paused.

        Raises DrainTimeout if that takes longer than `timeout`: the invocation in flight then finishes,
        no further one starts, and the records not processed stay pending.
        """
        self._deadline = time.monotonic() + timeout
        try:
            while True:
                fetched = self.poll_once(flush=True)
                unprocessed = sum(len(shard.pending) for shard in self.shards)
                if not fetched and not unprocessed:
                    return
                if self._past_deadline():
                    raise DrainTimeout(f"{self.function_id}/{self.event_name}", timeout, unprocessed)
        finally:
            self._deadline = None

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if self._paused.is_set() or not self.poll_once():
                stop.wait(IDLE_WAIT)

    # -- one batch, with Lambda's error handling --------------------------------------------------
    def _process_batch(self, shard: ShardPoller, records: list[dict[str, Any]]) -> None:
        size = self.settings.tumbling_window
        if not size:
            shard.pending[:0] = self._process(shard, records)
            return

        def window_of(record: dict[str, Any]) -> float:
            arrival = arrival_of(record)
            return arrival - (arrival % size)

        # An invocation never spans two windows; a window closes when a later record belongs to the
        # next one or its end has passed.
        groups: list[list[dict[str, Any]]] = []
        for record in records:
            if groups and window_of(groups[-1][0]) == window_of(record):
                groups[-1].append(record)
            else:
                groups.append([record])
        for number, group in enumerate(groups):
            if self._past_deadline():  # draining against a bound: what is left waits, in order
                shard.pending[:0] = [record for rest in groups[number:] for record in rest]
                return
            start = window_of(group[0])
            following = groups[number + 1][0] if number + 1 < len(groups) else (shard.pending[0] if shard.pending else None)
            if shard.window_start is not None and shard.window_start < start:
                self._close_window(shard)  # its last batch ran before its end: Lambda closes it at the end
            if shard.window_start != start:
                shard.window_start, shard.window_state = start, {}
            shard.window_closing = (following is not None and window_of(following) > start) or self.clock() >= start + size
            left = self._process(shard, group)
            if left:
                shard.pending[:0] = left + [record for rest in groups[number + 1 :] for record in rest]
                return
            if shard.window_closing:
                shard.window_state = {}

    def _close_window(self, shard: ShardPoller) -> None:
        """The final invoke of a window whose records were all processed before it ended, made when its
        time is up or the shard's next record is of a later window (Lambda sends it with no records)."""
        if shard.window_start is None or not shard.window_state:
            return
        shard.window_closing = True
        attempts = self.settings.max_retries + 1 if self.settings.max_retries >= 0 else 3
        for _ in range(max(1, attempts)):
            try:
                self._invoke(shard, [])
                break
            except Exception:  # noqa: BLE001 - a failed final invoke is retried, as Lambda retries it
                self.stats.function_errors += 1
        shard.window_state = {}

    def close_ended_windows(self) -> None:
        """Close every shard's window whose time is up and that has no records waiting."""
        size = self.settings.tumbling_window
        if not size:
            return
        for shard in self.shards:
            if not shard.pending and shard.window_start is not None and self.clock() >= shard.window_start + size:
                self._close_window(shard)

    def _process(self, shard: ShardPoller, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Invoke for `records` with Lambda's error handling; return those left unprocessed at a deadline."""
        settings = self.settings
        work = [_Batch(records)]
        while work:
            if self._past_deadline():
                return [record for left in work for record in left.records]
            batch = work.pop(0)
            batch.records = self._drop_expired(shard, batch)
            if not batch.records:
                continue
            try:
                failed_at = self._invoke(shard, batch.records)
            except Exception as exc:  # noqa: BLE001 - any function error is a failed invocation
                self.stats.function_errors += 1
                if settings.bisect and len(batch.records) > 1:
                    self.stats.bisections += 1
                    half = len(batch.records) // 2
                    work[:0] = [_Batch(batch.records[:half], batch.attempts), _Batch(batch.records[half:], batch.attempts)]
                    continue
                batch.attempts += 1
                if self._retries_exhausted(batch):
                    self._give_up(shard, batch, "RetryAttemptsExhausted", type(exc).__name__)
                else:
                    work.insert(0, batch)
                continue
            if failed_at is None:
                self.stats.records_checkpointed += len(batch.records)
                continue
            self.stats.partial_failures += 1
            self.stats.records_checkpointed += failed_at
            remaining = _Batch(batch.records[failed_at:], batch.attempts + 1)
            if self._retries_exhausted(remaining):
                self._give_up(shard, remaining, "RetryAttemptsExhausted", None)
            else:
                work.insert(0, remaining)
        return []

    def _retries_exhausted(self, batch: _Batch) -> bool:
        return self.settings.max_retries >= 0 and batch.attempts > self.settings.max_retries

    def _drop_expired(self, shard: ShardPoller, batch: _Batch) -> list[dict[str, Any]]:
        max_age = self.settings.max_record_age
        if max_age < 0:
            return batch.records
        now = self.clock()
        fresh, expired = [], []
        for record in batch.records:
            too_old = now - arrival_of(record) > max_age
            (expired if too_old else fresh).append(record)
        if expired:
            self._give_up(shard, _Batch(expired, batch.attempts), "RecordAgeExceeded", None)
        return fresh

    def _invoke(self, shard: ShardPoller, records: list[dict[str, Any]]) -> int | None:
        """Invoke the function; return the index to resume from, or None if the batch succeeded."""
        event: dict[str, Any] = {"Records": records}
        if self.settings.tumbling_window:
            event.update(self._window_fields(shard, records))
        self.stats.invocations += 1
        self.stats.records_delivered += len(records)
        context = LocalContext(self.function_name, timeout_seconds=self.timeout, region=self.deployment.ctx.region)
        started = time.perf_counter()
        try:
            response = self.handler(json.loads(json.dumps(event)), context)
        finally:
            self.stats.handler_seconds += time.perf_counter() - started
        if self.settings.tumbling_window and isinstance(response, dict):
            shard.window_state = response.get("state") or {}
        if not self.settings.report_item_failures:
            return None
        return self._checkpoint_index(records, response)

    @staticmethod
    def _checkpoint_index(records: list[dict[str, Any]], response: Any) -> int | None:
        failures = (response or {}).get("batchItemFailures") if isinstance(response, dict) else None
        if not failures:
            return None
        index_of = {sequence_of(r): i for i, r in enumerate(records)}
        positions = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not identifier or identifier not in index_of:
                # Lambda treats a null, empty or unknown identifier as a failure of the whole batch.
                return 0
            positions.append(index_of[identifier])
        return min(positions)

    def _window_fields(self, shard: ShardPoller, records: list[dict[str, Any]]) -> dict[str, Any]:
        start = shard.window_start if shard.window_start is not None else 0.0
        return {
            "window": {"start": iso_time(start), "end": iso_time(start + self.settings.tumbling_window)},
            "state": shard.window_state,
            "shardId": shard.shard_id,
            "eventSourceARN": self.settings.stream_arn,
            "isFinalInvokeForWindow": shard.window_closing,
            "isWindowTerminatedEarly": False,
        }

    def _give_up(self, shard: ShardPoller, batch: _Batch, condition: str, function_error: str | None) -> None:
        records = batch.records
        self.stats.records_discarded += len(records)
        self.stats.records_checkpointed += len(records)
        if not self.settings.on_failure_arn:
            return
        message = on_failure_message(self.function_arn, condition, batch.attempts, function_error,
                                     self.clock(), shard.shard_id, records, self.settings.stream_arn)
        queue_name = self.settings.on_failure_arn.rsplit(":", 1)[-1]
        queue_url = self.sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        self.sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))
        self.stats.on_failure_messages += 1


def stream_events(deployment: Deployment, types: tuple[str, ...] = STREAM_EVENT_TYPES) -> list[tuple[str, str]]:
    """(function, event name) of every enabled stream event of the template whose Type is in `types`."""
    found = []
    for logical_id, resource in deployment.template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event_name, event in (resource["Properties"].get("Events") or {}).items():
            if event.get("Type") in types and deployment.resolve(event["Properties"].get("Enabled", True)):
                found.append((logical_id, event_name))
    return found


def kinesis_mappings(deployment: Deployment, **kwargs: Any) -> list[EventSourceMapping]:
    """Every Kinesis event of every function in the template, as a local mapping."""
    return [EventSourceMapping(deployment, f, e, **kwargs) for f, e in stream_events(deployment, ("Kinesis",))]
