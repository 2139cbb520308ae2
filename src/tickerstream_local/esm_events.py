"""What a stream event-source mapping (Kinesis or DynamoDB Streams) reads from the template and sends:
its settings, the records in the shape Lambda passes them, and the OnFailure destination's message."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tickerstream_local.esm_filters import parse_filters


@dataclass(frozen=True)
class MappingSettings:
    stream_arn: str
    batch_size: int = 100
    batching_window: float = 0.0
    starting_position: str = "LATEST"
    report_item_failures: bool = False
    bisect: bool = False
    max_retries: int = -1  # -1 = until the record expires, as in Lambda
    max_record_age: int = -1
    on_failure_arn: str | None = None
    tumbling_window: int = 0
    filters: tuple[Any, ...] = ()  # FilterCriteria patterns (esm_filters.py)

    @classmethod
    def from_event(cls, props: dict[str, Any]) -> MappingSettings:
        destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        return cls(
            stream_arn=props["Stream"],
            batch_size=int(props.get("BatchSize", 100)),
            batching_window=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            starting_position=props.get("StartingPosition", "LATEST"),
            report_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            bisect=bool(props.get("BisectBatchOnFunctionError", False)),
            max_retries=int(props.get("MaximumRetryAttempts", -1)),
            max_record_age=int(props.get("MaximumRecordAgeInSeconds", -1)),
            on_failure_arn=destination,
            tumbling_window=int(props.get("TumblingWindowInSeconds", 0)),
            filters=tuple(parse_filters(props.get("FilterCriteria"))),
        )


def kinesis_event_record(raw: dict[str, Any], shard_id: str, stream_arn: str, region: str) -> dict[str, Any]:
    """A GetRecords record in the shape Lambda passes to the function."""
    sequence = raw["SequenceNumber"]
    arrival = raw["ApproximateArrivalTimestamp"]
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": raw["PartitionKey"],
            "sequenceNumber": sequence,
            "data": base64.b64encode(raw["Data"]).decode(),
            "approximateArrivalTimestamp": arrival.timestamp() if isinstance(arrival, datetime) else float(arrival),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": stream_arn.replace(":kinesis:", ":iam:").split(":stream/")[0] + ":role/local",
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def dynamodb_event_record(raw: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A DynamoDB Streams GetRecords record in the shape Lambda passes to the function."""
    change = dict(raw["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = created.timestamp()
    return {
        "eventID": raw.get("eventID") or uuid.uuid4().hex,
        "eventName": raw["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }


def sequence_of(record: dict[str, Any]) -> str:
    """The record's sequence number: what batchItemFailures name and checkpoints move past."""
    return record["kinesis"]["sequenceNumber"] if "kinesis" in record else record["dynamodb"]["SequenceNumber"]


def arrival_of(record: dict[str, Any]) -> float:
    """When the record reached the stream (epoch seconds): its age, its tumbling window."""
    if "kinesis" in record:
        return float(record["kinesis"]["approximateArrivalTimestamp"])
    return float(record["dynamodb"].get("ApproximateCreationDateTime") or 0.0)


def size_of(record: dict[str, Any]) -> int:
    """Bytes the record adds to an invocation payload (Lambda's 6 MB bound), with its envelope."""
    if "kinesis" in record:
        return len(record["kinesis"]["data"]) + 512
    return int(record["dynamodb"].get("SizeBytes") or 0) + 512


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def on_failure_message(function_arn: str, condition: str, attempts: int, function_error: str | None, now: float,
                       shard_id: str, records: list[dict[str, Any]], stream_arn: str) -> dict[str, Any]:
    """The metadata Lambda sends an SQS/SNS OnFailure destination for records it gave up on (not the records)."""
    arrivals = [arrival_of(r) for r in records]
    # Lambda names the batch after its source: KinesisBatchInfo, or DDBStreamBatchInfo for DynamoDB Streams.
    info_key = "KinesisBatchInfo" if "kinesis" in records[0] else "DDBStreamBatchInfo"
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled" if function_error else None,
        },
        "version": "1.0",
        "timestamp": iso_time(now),
        info_key: {
            "shardId": shard_id,
            "startSequenceNumber": sequence_of(records[0]),
            "endSequenceNumber": sequence_of(records[-1]),
            "approximateArrivalOfFirstRecord": iso_time(min(arrivals)),
            "approximateArrivalOfLastRecord": iso_time(max(arrivals)),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }
