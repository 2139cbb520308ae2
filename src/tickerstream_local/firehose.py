"""A local Firehose for each AWS::KinesisFirehose::DeliveryStream in the template.

moto's Firehose ignores buffering, compression, prefix expressions, Lambda processing and Kinesis
streams as source, so this runtime does what the real service does with the template's settings:

* reads the source stream (KinesisStreamSourceConfiguration) from TRIM_HORIZON, every shard,
  de-aggregating KPL records as Firehose does before the Lambda sees them;
* gathers records for the transform Lambda (ProcessingConfiguration: BufferSizeInMBs,
  BufferIntervalInSeconds, NumberOfRetries), invokes it in-process with Firehose's
  Kinesis-stream-as-source event, and honours Ok / Dropped / ProcessingFailed and
  metadata.partitionKeys (DynamicPartitioningConfiguration);
* buffers per partition by BufferingHints (SizeInMBs, IntervalInSeconds), evaluates the Prefix /
  ErrorOutputPrefix expressions with the oldest record's arrival time (UTC), compresses
  (CompressionFormat) and writes `<prefix><stream>-<version>-yyyy-MM-dd-HH-mm-ss-<uuid><ext>`;
* writes failed records under the error prefix as Firehose's error-record JSON documents.

Split by concern: firehose_config (the template's settings), firehose_prefixes (prefix expressions and
their rules), firehose_codecs (compression); this module is the runtime: reading, buffering, delivery.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tickerstream_local.firehose_codecs import EXTENSIONS, compress
from tickerstream_local.firehose_lambda import Routed, SourceRecord, read_transform_response, transform_event
from tickerstream_local.firehose_config import MIB, DeliveryStreamConfig, delivery_stream_config, delivery_streams
from tickerstream_local.firehose_prefixes import effective_prefixes, evaluate_prefix, java_format
from tickerstream_local.functions import Handler
from tickerstream_local.handlers import local_context, resolve_handler

__all__ = ["DeliveryStreamConfig", "FirehoseStats", "LocalFirehose", "delivery_streams", "effective_prefixes",
           "evaluate_prefix", "java_format", "start_all"]

log = logging.getLogger("tickerstream.local.firehose")

LAMBDA_PAYLOAD_LIMIT = 6 * MIB


@dataclass
class _Buffer:
    records: list[tuple[bytes, int]] = field(default_factory=list)  # (payload, arrival ms)
    size: int = 0
    opened: float = 0.0


@dataclass
class FirehoseStats:
    records_in: int = 0
    invocations: int = 0
    delivered: int = 0
    dropped: int = 0
    failed: int = 0
    objects: int = 0
    error_objects: int = 0
    bytes_delivered: int = 0
    invoke_seconds: float = 0.0
    read_seconds: float = 0.0
    write_seconds: float = 0.0


class LocalFirehose:
    """One delivery stream, run on a background thread (start/stop) or stepped by hand (pump/flush)."""

    def __init__(
        self,
        deployment: Any,
        logical_id: str,
        *,
        handlers: dict[str, Handler] | None = None,
        poll_interval: float = 0.2,
        clock: Callable[[], float] = time.time,
        flush_on_stop: bool = True,
    ) -> None:
        self.deployment = deployment
        self.config = delivery_stream_config(deployment, logical_id)
        self.handlers = handlers
        self.poll_interval = poll_interval
        self.clock = clock
        self.flush_on_stop = flush_on_stop
        self.stats = FirehoseStats()
        self._kinesis = deployment.client("kinesis")
        self._s3 = deployment.client("s3")
        self._iterators: dict[str, str | None] | None = None
        self._pending: list[SourceRecord] = []  # waiting for the transform Lambda
        self._pending_size = 0
        self._pending_since = 0.0
        self._buffers: dict[tuple[tuple[str, str], ...], _Buffer] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading the source ------------------------------------------------------------------

    def _shard_iterators(self) -> dict[str, str | None]:
        if self._iterators is None:
            shards = self._kinesis.list_shards(StreamName=self.config.source_stream_name)["Shards"]
            self._iterators = {
                shard["ShardId"]: self._kinesis.get_shard_iterator(
                    StreamName=self.config.source_stream_name,
                    ShardId=shard["ShardId"],
                    ShardIteratorType="TRIM_HORIZON",
                )["ShardIterator"]
                for shard in shards
            }
        return self._iterators

    def _read(self) -> int:
        """Read every shard up to its tip; returns how many user records were taken in."""
        started = time.perf_counter()
        taken = 0
        iterators = self._shard_iterators()
        for shard_id, iterator in list(iterators.items()):
            while iterator:
                response = self._kinesis.get_records(ShardIterator=iterator, Limit=10000)
                iterator = response.get("NextShardIterator")
                for record in response["Records"]:
                    taken += self._take(shard_id, record)
                if not response["Records"]:
                    break
            iterators[shard_id] = iterator
        self.stats.read_seconds += time.perf_counter() - started
        return taken

    def _take(self, shard_id: str, record: dict[str, Any]) -> int:
        from tickerstream.codec import InvalidRecord
        from tickerstream.kpl import deaggregate, is_aggregated

        arrival_ms = int(record["ApproximateArrivalTimestamp"].timestamp() * 1000)
        data = record["Data"]
        parts: list[tuple[bytes, str, int]] = [(data, record["PartitionKey"], 0)]
        if is_aggregated(data):  # Firehose de-aggregates KPL records before Lambda and delivery
            try:
                parts = [(u.data, u.partition_key, u.sub_sequence_number) for u in deaggregate(data)]
            except InvalidRecord:
                pass
        shard_number = int(shard_id.rsplit("-", 1)[-1])
        for payload, partition_key, sub in parts:
            source = SourceRecord(
                record_id=f"{record['SequenceNumber']}{sub:06d}{shard_number:04d}",
                data=payload,
                arrival_ms=arrival_ms,
                shard_id=shard_id,
                partition_key=partition_key,
                sequence_number=record["SequenceNumber"],
                subsequence_number=sub,
            )
            self.stats.records_in += 1
            if self.config.processor is None:
                self._route([(source, payload, None)])
            else:
                if not self._pending:
                    self._pending_since = self.clock()
                self._pending.append(source)
                self._pending_size += len(payload)
                if self._pending_size >= self.config.processor.buffer_bytes:
                    self._process()
        return len(parts)

    # -- the transform Lambda ----------------------------------------------------------------

    def _process(self) -> None:
        """Invoke the transform on the gathered records (in payload-sized chunks) and route results."""
        processor = self.config.processor
        assert processor is not None
        records, self._pending, self._pending_size = self._pending, [], 0
        chunk: list[SourceRecord] = []
        size = 0
        for record in records:
            encoded = len(record.data) * 4 // 3 + 300
            if chunk and size + encoded > LAMBDA_PAYLOAD_LIMIT:
                self._invoke(chunk)
                chunk, size = [], 0
            chunk.append(record)
            size += encoded
        if chunk:
            self._invoke(chunk)

    def _invoke(self, records: list[SourceRecord]) -> None:
        processor = self.config.processor
        assert processor is not None
        handler = resolve_handler(self.deployment, processor.function_logical_id, self.handlers)
        attempts = 0
        error: str | None = None
        response: Any = None
        started = time.perf_counter()
        while attempts <= processor.retries:
            attempts += 1
            try:
                event = transform_event(self.config, self.deployment.ctx.region, records)
                response = handler(event, local_context(self.deployment, processor.function_logical_id))
                error = None
                break
            except Exception as exc:  # noqa: BLE001 - a function error, as Lambda reports it
                error = f"{type(exc).__name__}: {exc}"
                log.warning("%s: transform invocation %d failed: %s", self.config.name, attempts, error)
        self.stats.invoke_seconds += time.perf_counter() - started
        self.stats.invocations += attempts
        ended_ms = int(self.clock() * 1000)
        if error is not None:
            self._fail(records, attempts, "Lambda.FunctionError", error, ended_ms)
            return
        routed, failures, dropped = read_transform_response(records, response)
        if routed is None:
            self._fail(records, attempts, "Lambda.InvalidResponse", "The Lambda response has no records list", ended_ms)
            return
        self.stats.dropped += dropped
        for (code, message), failed in failures.items():
            self._fail(failed, attempts, code, message, ended_ms)
        self._route(routed)

    # -- buffering and delivery --------------------------------------------------------------

    def _route(self, routed: list[Routed]) -> None:
        config = self.config
        now = self.clock()
        with self._lock:
            for source, payload, lambda_keys in routed:
                key: tuple[tuple[str, str], ...] = ()
                if config.dynamic_partitioning:
                    keys: dict[str, str] = {}
                    if lambda_keys:
                        keys.update({f"lambda:{k}": str(v) for k, v in lambda_keys.items()})
                    if config.query:
                        try:
                            document = json.loads(payload)
                            for name, path in config.query.items():
                                value: Any = document
                                for part in path.split("."):
                                    value = value[part]
                                keys[f"query:{name}"] = str(value)
                        except (ValueError, KeyError, TypeError) as exc:
                            self._fail([source], 1, "DynamicPartitioning.MetadataExtractionFailed",
                                       f"partition keys could not be extracted: {exc}", int(now * 1000),
                                       error_type="DynamicPartitioning.MetadataExtractionFailed", raw=payload)
                            continue
                    try:
                        self._prefix_for(keys, now)  # every expression must evaluate
                    except KeyError as exc:
                        self._fail([source], 1, "DynamicPartitioning.PartitionKeyMissing", str(exc),
                                   int(now * 1000), error_type="DynamicPartitioning.MetadataExtractionFailed",
                                   raw=payload)
                        continue
                    key = tuple(sorted(keys.items()))
                if config.append_delimiter:
                    payload += b"\n"
                buffer = self._buffers.get(key)
                if buffer is None:
                    buffer = self._buffers[key] = _Buffer(opened=now)
                buffer.records.append((payload, source.arrival_ms))
                buffer.size += len(payload)
                if buffer.size >= config.buffer_bytes:
                    self._deliver(key)

    def _prefix_for(self, keys: dict[str, str], moment_s: float) -> str:
        lambda_keys = {k[7:]: v for k, v in keys.items() if k.startswith("lambda:")}
        query_keys = {k[6:]: v for k, v in keys.items() if k.startswith("query:")}
        moment = dt.datetime.fromtimestamp(moment_s, dt.UTC)
        return evaluate_prefix(self.config.prefix, moment, lambda_keys=lambda_keys, query_keys=query_keys)

    def _object_key(self, prefix: str, moment: dt.datetime) -> str:
        stamp = moment.strftime("%Y-%m-%d-%H-%M-%S")
        return (f"{prefix}{self.config.name}-{self.config.version}-{stamp}-{uuid.uuid4()}"
                f"{EXTENSIONS[self.config.compression]}")

    def _put(self, key: str, body: bytes) -> None:
        started = time.perf_counter()
        data = compress(body, self.config.compression, key.rsplit("/", 1)[-1].removesuffix(".zip"))
        self._s3.put_object(Bucket=self.config.bucket, Key=key, Body=data)
        self.stats.write_seconds += time.perf_counter() - started

    def _deliver(self, key: tuple[tuple[str, str], ...]) -> None:
        buffer = self._buffers.pop(key, None)
        if not buffer or not buffer.records:
            return
        oldest = min(arrival for _, arrival in buffer.records)
        moment = dt.datetime.fromtimestamp(oldest / 1000, dt.UTC)
        prefix = self._prefix_for(dict(key), oldest / 1000)
        body = b"".join(payload for payload, _ in buffer.records)
        self._put(self._object_key(prefix, moment), body)
        self.stats.objects += 1
        self.stats.delivered += len(buffer.records)
        self.stats.bytes_delivered += len(body)

    def _fail(
        self,
        records: list[SourceRecord],
        attempts: int,
        code: str,
        message: str,
        ended_ms: int,
        *,
        error_type: str = "processing-failed",
        raw: bytes | None = None,
    ) -> None:
        """Write failed records under the error prefix, one Firehose error document per line."""
        if not records:
            return
        lambda_arn = self.config.processor.function_arn if self.config.processor else None
        lines = []
        for record in records:
            document: dict[str, Any] = {
                "attemptsMade": attempts,
                "arrivalTimestamp": record.arrival_ms,
                "errorCode": code,
                "errorMessage": message,
                "attemptEndingTimestamp": ended_ms,
                "rawData": base64.b64encode(raw if raw is not None else record.data).decode(),
            }
            if lambda_arn:
                document["lambdaArn"] = lambda_arn
            lines.append(json.dumps(document, separators=(",", ":")).encode() + b"\n")
        oldest = min(r.arrival_ms for r in records)
        moment = dt.datetime.fromtimestamp(oldest / 1000, dt.UTC)
        prefix = evaluate_prefix(self.config.error_prefix, moment, error_output_type=error_type,
                                 lambda_keys={}, query_keys={})
        self._put(self._object_key(prefix, moment), b"".join(lines))
        self.stats.failed += len(records)
        self.stats.error_objects += 1

    # -- driving it --------------------------------------------------------------------------

    def pump(self) -> None:
        """One step: read what is new, invoke the transform if its buffer is due, deliver due buffers."""
        with self._lock:
            self._read()
            now = self.clock()
            processor = self.config.processor
            if processor and self._pending and now - self._pending_since >= processor.buffer_interval:
                self._process()
            for key, buffer in list(self._buffers.items()):
                if now - buffer.opened >= self.config.buffer_interval:
                    self._deliver(key)

    def flush(self) -> None:
        """Read to the tip of every shard and deliver everything buffered now (ignoring the hints)."""
        with self._lock:
            self._read()
            if self._pending:
                self._process()
            for key in list(self._buffers):
                self._deliver(key)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.pump()
            except Exception:  # noqa: BLE001 - keep the stream running, as the service does
                log.exception("%s: local Firehose step failed", self.config.name)
            self._stop.wait(self.poll_interval)

    def start(self) -> LocalFirehose:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"firehose-{self.config.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> bool:
        """Stop the thread, then deliver everything read or buffered; False if that delivery failed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self.flush_on_stop:
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - reported to the caller; the rest of the stop goes on
                log.exception("%s: final flush failed", self.config.name)
                return False
        return True


def start_all(deployment: Any, handlers: dict[str, Handler] | None = None, **options: Any) -> list[LocalFirehose]:
    return [LocalFirehose(deployment, lid, handlers=handlers, **options).start() for lid in delivery_streams(deployment)]
