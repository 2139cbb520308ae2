"""What a Kinesis event-source mapping reads from the template and sends: its settings, the records
in the shape Lambda passes them, and the OnFailure destination's message."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


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


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def on_failure_message(function_arn: str, condition: str, attempts: int, function_error: str | None, now: float,
                       shard_id: str, records: list[dict[str, Any]], stream_arn: str) -> dict[str, Any]:
    """The metadata Lambda sends an SQS/SNS OnFailure destination for records it gave up on (not the records)."""
    arrivals = [r["kinesis"]["approximateArrivalTimestamp"] for r in records]
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
        "KinesisBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": records[0]["kinesis"]["sequenceNumber"],
            "endSequenceNumber": records[-1]["kinesis"]["sequenceNumber"],
            "approximateArrivalOfFirstRecord": iso_time(min(arrivals)),
            "approximateArrivalOfLastRecord": iso_time(max(arrivals)),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }
