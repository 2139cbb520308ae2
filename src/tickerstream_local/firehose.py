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

Prefix rules (docs: "Custom Prefixes for Amazon S3 Objects"): a Prefix without a timestamp expression
gets `!{timestamp:yyyy/MM/dd/HH/}` appended (not with dynamic partitioning, whose prefix is the
partition); an ErrorOutputPrefix with expressions must contain `!{firehose:error-output-type}`;
a Prefix must not; no ErrorOutputPrefix (allowed only when Prefix has no expressions) means
`<Prefix><error-output-type>/yyyy/MM/dd/HH/`.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import logging
import re
import secrets
import string
import struct
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tickerstream_local.functions import Handler
from tickerstream_local.handlers import function_for_arn, local_context, resolve_handler

log = logging.getLogger("tickerstream.local.firehose")

MIB = 1024 * 1024
LAMBDA_PAYLOAD_LIMIT = 6 * MIB
EXTENSIONS = {"UNCOMPRESSED": "", "GZIP": ".gz", "ZIP": ".zip", "Snappy": ".snappy", "HADOOP_SNAPPY": ".snappy"}
_EXPRESSION = re.compile(r"!\{([A-Za-z]+):([^}]*)\}")
DEFAULT_TIME_PREFIX = "!{timestamp:yyyy/MM/dd/HH/}"


# ---------------------------------------------------------------------------------------------
# Java DateTimeFormatter patterns (the subset Firehose prefixes use), evaluated in UTC


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _field(letter: str, width: int, moment: dt.datetime) -> str:
    if letter in "yu":
        return f"{moment.year % 100:02d}" if width == 2 else f"{moment.year:0{width}d}"
    if letter in "ML":
        if width >= 4:
            return _MONTHS[moment.month - 1]
        if width == 3:
            return _MONTHS[moment.month - 1][:3]
        return f"{moment.month:0{width}d}"
    simple = {
        "d": moment.day, "H": moment.hour, "m": moment.minute, "s": moment.second,
        "D": moment.timetuple().tm_yday, "h": (moment.hour % 12) or 12, "k": moment.hour or 24,
        "K": moment.hour % 12,
    }
    if letter in simple:
        return f"{simple[letter]:0{width}d}"
    if letter == "S":
        return f"{moment.microsecond:06d}{'0' * 3}"[:width]
    if letter == "E":
        name = _DAYS[moment.weekday()]
        return name if width >= 4 else name[:3]
    if letter == "a":
        return "AM" if moment.hour < 12 else "PM"
    raise ValueError(f"unsupported DateTimeFormatter pattern letter {letter!r}")


def java_format(pattern: str, moment: dt.datetime) -> str:
    """Format like java.time.format.DateTimeFormatter.ofPattern(pattern) (quoted text literal)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            if pattern[i + 1 : i + 2] == "'":  # '' is a literal quote
                out.append("'")
                i += 2
                continue
            i += 1
            while True:
                if i >= len(pattern):
                    raise ValueError(f"unterminated quote in {pattern!r}")
                if pattern[i] == "'":
                    if pattern[i + 1 : i + 2] == "'":  # '' inside quoted text
                        out.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                out.append(pattern[i])
                i += 1
        elif char in string.ascii_letters:
            j = i
            while j < len(pattern) and pattern[j] == char:
                j += 1
            out.append(_field(char, j - i, moment))
            i = j
        else:
            out.append(char)
            i += 1
    return "".join(out)


def random_string() -> str:
    """Firehose's `!{firehose:random-string}`: 11 characters, a new one per occurrence."""
    return secrets.token_hex(6)[:11]


def evaluate_prefix(
    prefix: str,
    moment: dt.datetime,
    *,
    error_output_type: str | None = None,
    lambda_keys: dict[str, str] | None = None,
    query_keys: dict[str, str] | None = None,
) -> str:
    def replace(match: re.Match[str]) -> str:
        namespace, value = match.groups()
        if namespace == "timestamp":
            return java_format(value, moment)
        if namespace == "firehose":
            if value == "random-string":
                return random_string()
            if value == "error-output-type":
                if error_output_type is None:
                    raise ValueError("!{firehose:error-output-type} is only allowed in ErrorOutputPrefix")
                return error_output_type
        if namespace == "partitionKeyFromLambda":
            if lambda_keys is None or value not in lambda_keys:
                raise KeyError(f"partition key {value!r} was not returned by the Lambda")
            return str(lambda_keys[value])
        if namespace == "partitionKeyFromQuery":
            if query_keys is None or value not in query_keys:
                raise KeyError(f"partition key {value!r} was not extracted by the query")
            return str(query_keys[value])
        raise ValueError(f"unknown prefix expression !{{{namespace}:{value}}}")

    evaluated = _EXPRESSION.sub(replace, prefix)
    if "!{" in evaluated:
        raise ValueError(f"`!{{` may only start an expression: {prefix!r}")
    if len(evaluated) > 512:
        raise ValueError("an evaluated prefix is longer than 512 characters")
    return evaluated


def effective_prefixes(prefix: str | None, error_prefix: str | None, dynamic: bool) -> tuple[str, str]:
    """Apply Firehose's semantic rules to the configured Prefix and ErrorOutputPrefix."""
    prefix = prefix or ""
    has_expressions = bool(_EXPRESSION.search(prefix))
    if "!{firehose:error-output-type}" in prefix:
        raise ValueError("Prefix can't contain !{firehose:error-output-type}")
    if error_prefix is None or error_prefix == "":
        if has_expressions:
            raise ValueError("ErrorOutputPrefix can't be null when Prefix contains expressions")
        error_prefix = prefix + "!{firehose:error-output-type}/" + DEFAULT_TIME_PREFIX
    elif _EXPRESSION.search(error_prefix):
        if "!{firehose:error-output-type}" not in error_prefix:
            raise ValueError("ErrorOutputPrefix with expressions must contain !{firehose:error-output-type}")
    else:
        error_prefix = error_prefix + "!{firehose:error-output-type}/" + DEFAULT_TIME_PREFIX
    if "!{timestamp:" not in prefix and not dynamic:
        prefix = prefix + DEFAULT_TIME_PREFIX
    return prefix, error_prefix


# ---------------------------------------------------------------------------------------------
# Compression


def _snappy_raw(data: bytes) -> bytes:
    """A valid raw Snappy block made only of literals (correct to decode; not smaller)."""
    out = bytearray()
    length = len(data)
    while True:  # varint preamble: the uncompressed length
        byte = length & 0x7F
        length >>= 7
        out.append(byte | (0x80 if length else 0))
        if not length:
            break
    for start in range(0, len(data), 65536):
        chunk = data[start : start + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + n.to_bytes(2, "little")
        out += chunk
    return bytes(out)


def _crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def _snappy_framed(data: bytes) -> bytes:
    out = bytearray(b"\xff\x06\x00\x00sNaPpY")
    for start in range(0, max(len(data), 1), 65536):
        chunk = data[start : start + 65536]
        crc = _crc32c(chunk)
        masked = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
        body = struct.pack("<I", masked) + _snappy_raw(chunk)
        out += b"\x00" + len(body).to_bytes(3, "little") + body
    return bytes(out)


def _hadoop_snappy(data: bytes) -> bytes:
    block = _snappy_raw(data)
    return struct.pack(">I", len(data)) + struct.pack(">I", len(block)) + block


def compress(data: bytes, fmt: str, entry_name: str = "data") -> bytes:
    if fmt == "UNCOMPRESSED":
        return data
    if fmt == "GZIP":
        return gzip.compress(data)
    if fmt == "ZIP":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(entry_name, data)
        return buffer.getvalue()
    if fmt == "Snappy":
        return _snappy_framed(data)
    if fmt == "HADOOP_SNAPPY":
        return _hadoop_snappy(data)
    raise ValueError(f"unknown CompressionFormat {fmt!r}")


# ---------------------------------------------------------------------------------------------
# Configuration from the template


@dataclass
class Processor:
    function_logical_id: str
    function_arn: str
    buffer_bytes: int = MIB
    buffer_interval: float = 60.0
    retries: int = 3


@dataclass
class DeliveryStreamConfig:
    logical_id: str
    name: str
    arn: str
    source_stream_name: str
    source_stream_arn: str
    bucket: str
    prefix: str
    error_prefix: str
    buffer_bytes: int
    buffer_interval: float
    compression: str
    dynamic_partitioning: bool = False
    processor: Processor | None = None
    append_delimiter: bool = False
    query: dict[str, str] = field(default_factory=dict)  # partition key -> JSON path (MetadataExtraction)
    version: int = 1


def _parameters(processor: dict[str, Any]) -> dict[str, str]:
    return {p["ParameterName"]: str(p["ParameterValue"]) for p in processor.get("Parameters", [])}


_JQ_PAIR = re.compile(r"\s*([A-Za-z_][\w-]*)\s*:\s*\.([\w.]+)\s*")


def parse_jq_keys(query: str) -> dict[str, str]:
    """The `{key: .path, key2: .a.b}` JQ form MetadataExtraction queries take (the subset supported)."""
    body = query.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise ValueError(f"unsupported MetadataExtractionQuery {query!r}")
    pairs = {}
    for part in body[1:-1].split(","):
        match = _JQ_PAIR.fullmatch(part)
        if not match:
            raise ValueError(f"unsupported MetadataExtractionQuery part {part!r}")
        pairs[match.group(1)] = match.group(2)
    return pairs


def delivery_stream_config(deployment: Any, logical_id: str) -> DeliveryStreamConfig:
    props = deployment.properties(logical_id)
    source = props.get("KinesisStreamSourceConfiguration")
    if not source:
        raise NotImplementedError(f"{logical_id}: only Kinesis-stream-as-source delivery streams run locally")
    dest = props.get("ExtendedS3DestinationConfiguration") or props.get("S3DestinationConfiguration")
    if not dest:
        raise NotImplementedError(f"{logical_id}: only S3 destinations run locally")
    hints = dest.get("BufferingHints", {})
    dynamic = bool(dest.get("DynamicPartitioningConfiguration", {}).get("Enabled", False))
    processor = None
    append_delimiter = False
    query: dict[str, str] = {}
    processing = dest.get("ProcessingConfiguration", {})
    if str(processing.get("Enabled", "false")).lower() == "true":
        for item in processing.get("Processors", []):
            params = _parameters(item)
            if item["Type"] == "Lambda":
                arn = params["LambdaArn"]
                processor = Processor(
                    function_logical_id=function_for_arn(deployment, arn),
                    function_arn=arn,
                    buffer_bytes=int(float(params.get("BufferSizeInMBs", 1)) * MIB),
                    buffer_interval=float(params.get("BufferIntervalInSeconds", 60)),
                    retries=int(params.get("NumberOfRetries", 3)),
                )
            elif item["Type"] == "AppendDelimiterToRecord":
                append_delimiter = True
            elif item["Type"] == "MetadataExtraction":
                query = parse_jq_keys(params["MetadataExtractionQuery"])
            else:
                log.warning("%s: processor %s is not run locally", logical_id, item["Type"])
    prefix, error_prefix = effective_prefixes(dest.get("Prefix"), dest.get("ErrorOutputPrefix"), dynamic)
    stream_arn = source["KinesisStreamARN"]
    name = deployment.physical.get(logical_id) or props.get("DeliveryStreamName") or deployment.name_for(logical_id)
    arn = deployment.ctx.attributes.get(logical_id, {}).get("Arn") or (
        f"arn:aws:firehose:{deployment.ctx.region}:{deployment.ctx.account_id}:deliverystream/{name}"
    )
    return DeliveryStreamConfig(
        logical_id=logical_id,
        name=name,
        arn=arn,
        source_stream_name=stream_arn.split("/", 1)[1],
        source_stream_arn=stream_arn,
        bucket=dest["BucketARN"].split(":::", 1)[1],
        prefix=prefix,
        error_prefix=error_prefix,
        buffer_bytes=int(float(hints.get("SizeInMBs", 5)) * MIB),
        buffer_interval=float(hints.get("IntervalInSeconds", 300)),
        compression=dest.get("CompressionFormat", "UNCOMPRESSED"),
        dynamic_partitioning=dynamic,
        processor=processor,
        append_delimiter=append_delimiter,
        query=query,
    )


def delivery_streams(deployment: Any) -> list[str]:
    return [
        logical_id
        for logical_id, resource in deployment.template["Resources"].items()
        if resource.get("Type") == "AWS::KinesisFirehose::DeliveryStream"
    ]


# ---------------------------------------------------------------------------------------------
# The runtime


@dataclass
class SourceRecord:
    record_id: str
    data: bytes
    arrival_ms: int
    shard_id: str
    partition_key: str
    sequence_number: str
    subsequence_number: int


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

    def _event(self, records: list[SourceRecord]) -> dict[str, Any]:
        return {
            "invocationId": str(uuid.uuid4()),
            "deliveryStreamArn": self.config.arn,
            "sourceKinesisStreamArn": self.config.source_stream_arn,
            "region": self.deployment.ctx.region,
            "records": [
                {
                    "recordId": r.record_id,
                    "approximateArrivalTimestamp": r.arrival_ms,
                    "data": base64.b64encode(r.data).decode(),
                    "kinesisRecordMetadata": {
                        "shardId": r.shard_id,
                        "partitionKey": r.partition_key,
                        "approximateArrivalTimestamp": r.arrival_ms,
                        "sequenceNumber": r.sequence_number,
                        "subsequenceNumber": r.subsequence_number,
                    },
                }
                for r in records
            ],
        }

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
                response = handler(self._event(records), local_context(self.deployment, processor.function_logical_id))
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
        by_id = {r.record_id: r for r in records}
        results = (response or {}).get("records") if isinstance(response, dict) else None
        if not isinstance(results, list):
            self._fail(records, attempts, "Lambda.InvalidResponse", "The Lambda response has no records list", ended_ms)
            return
        routed: list[tuple[SourceRecord, bytes, dict[str, str] | None]] = []
        failures: dict[tuple[str, str], list[SourceRecord]] = {}  # one error object per kind per invocation
        seen: set[str] = set()
        for result in results:
            source = by_id.get(result.get("recordId", ""))
            if source is None or source.record_id in seen:
                continue  # unknown or repeated ids: the originals are failed below as missing
            seen.add(source.record_id)
            status = result.get("result")
            if status == "Dropped":
                self.stats.dropped += 1
            elif status == "Ok":
                try:
                    payload = base64.b64decode(result.get("data", ""), validate=True)
                except ValueError:
                    failures.setdefault(("Lambda.InvalidData", "data is not valid base64"), []).append(source)
                    continue
                keys = (result.get("metadata") or {}).get("partitionKeys")
                routed.append((source, payload, keys))
            elif status == "ProcessingFailed":
                failures.setdefault(("Lambda.ProcessingFailedStatus",
                                     "ProcessingFailed status returned from lambda"), []).append(source)
            else:
                failures.setdefault(("Lambda.InvalidResult", f"invalid result {status!r}"), []).append(source)
        missing = [r for r in records if r.record_id not in seen]
        if missing:
            failures[("Lambda.MissingRecordId", "One or more record Ids were not returned")] = missing
        for (code, message), failed in failures.items():
            self._fail(failed, attempts, code, message, ended_ms)
        self._route(routed)

    # -- buffering and delivery --------------------------------------------------------------

    def _route(self, routed: list[tuple[SourceRecord, bytes, dict[str, str] | None]]) -> None:
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
