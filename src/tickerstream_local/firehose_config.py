"""A delivery stream's settings, read from its AWS::KinesisFirehose::DeliveryStream in the template."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from tickerstream_local.firehose_prefixes import effective_prefixes
from tickerstream_local.handlers import function_for_arn

log = logging.getLogger("tickerstream.local.firehose")

MIB = 1024 * 1024


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
