"""Firehose and its transform Lambda: the event Firehose sends, and what it makes of the response."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

from tickerstream_local.firehose_config import DeliveryStreamConfig


@dataclass
class SourceRecord:
    record_id: str
    data: bytes
    arrival_ms: int
    shard_id: str
    partition_key: str
    sequence_number: str
    subsequence_number: int


Routed = tuple[SourceRecord, bytes, "dict[str, str] | None"]  # (record, transformed data, partition keys)
Failures = dict[tuple[str, str], list[SourceRecord]]  # (error code, message) -> records; one document each


def transform_event(config: DeliveryStreamConfig, region: str, records: list[SourceRecord]) -> dict[str, Any]:
    """The Kinesis-stream-as-source event Firehose invokes the transform with."""
    return {
        "invocationId": str(uuid.uuid4()),
        "deliveryStreamArn": config.arn,
        "sourceKinesisStreamArn": config.source_stream_arn,
        "region": region,
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


def read_transform_response(records: list[SourceRecord], response: Any) -> tuple[list[Routed] | None, Failures, int]:
    """(records to deliver, failed records by error, records dropped); (None, {}, 0) if there is no records list.

    Ok with valid base64 is delivered; Dropped is counted; ProcessingFailed, an unknown result, bad base64
    and a record id not returned (unknown or repeated ids are ignored) go to the error prefix.
    """
    by_id = {r.record_id: r for r in records}
    results = (response or {}).get("records") if isinstance(response, dict) else None
    if not isinstance(results, list):
        return None, {}, 0
    routed: list[Routed] = []
    failures: Failures = {}
    dropped = 0
    seen: set[str] = set()
    for result in results:
        source = by_id.get(result.get("recordId", "")) if isinstance(result, dict) else None
        if source is None or source.record_id in seen:
            continue  # unknown or repeated ids: the originals are failed below as missing
        seen.add(source.record_id)
        status = result.get("result")
        if status == "Dropped":
            dropped += 1
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
    return routed, failures, dropped
