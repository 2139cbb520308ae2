"""Helpers for the data lake tests: the FirehoseTransform code, Firehose event builders, the seed quotes."""

from __future__ import annotations

import base64
import importlib
import json
import sys
from typing import Any

from tickerstream_local.template import REPO_ROOT, function_dir

EVENTS_DIR = REPO_ROOT / "events" / "firehose_transform"
SEED_QUOTES = json.loads((REPO_ROOT / "src/tickerstream_cli/data/seed_quotes.json").read_text())
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/tickerstream-QuoteStream"
DELIVERY_ARN = "arn:aws:firehose:us-east-1:123456789012:deliverystream/tickerstream-LakeDeliveryStream"
# 2021-07-12 11:42:13.453 UTC: the time of the source's delivered object (kinesis1-1-2021-07-12-11-42-13-…)
BASE_MS = 1626090133453


def transform_module():
    """firehose_transform.transform, imported from the function's CodeUri as Lambda would."""
    code_dir = str(function_dir("FirehoseTransform"))
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    return importlib.import_module("firehose_transform.transform")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kds_record(index: int, data: bytes | str, arrival_ms: int = BASE_MS, *, sequence: str | None = None,
               subsequence: Any = 0, partition_key: str = "NFLX") -> dict[str, Any]:
    """One record of Firehose's Kinesis-stream-as-source event."""
    return {
        "recordId": f"49546986683135544286507457936321625675700192471156{index:06d}",
        "approximateArrivalTimestamp": arrival_ms,
        "data": data if isinstance(data, str) else b64(data),
        "kinesisRecordMetadata": {
            "sequenceNumber": sequence or f"49545115243490985018280067714973144582180062593244{index:06d}",
            "subsequenceNumber": subsequence,
            "partitionKey": partition_key,
            "shardId": "shardId-000000000000",
            "approximateArrivalTimestamp": arrival_ms,
        },
    }


def direct_put_record(index: int, data: bytes | str, arrival_ms: int = BASE_MS) -> dict[str, Any]:
    return {
        "recordId": f"d{index:09d}",
        "approximateArrivalTimestamp": arrival_ms,
        "data": data if isinstance(data, str) else b64(data),
    }


def kds_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "invocationId": "00000000-0000-4000-8000-000000000000",
        "sourceKinesisStreamArn": STREAM_ARN,
        "deliveryStreamArn": DELIVERY_ARN,
        "region": "us-east-1",
        "records": records,
    }


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text())


def lines_of(output: dict[str, Any]) -> list[dict[str, Any]]:
    """The NDJSON lines of one Ok output record, parsed; asserts the framing on the way."""
    text = base64.b64decode(output["data"]).decode()
    assert text.endswith("\n"), "every line, the last included, ends with a newline"
    rows = text.split("\n")[:-1]
    assert all(rows), "no empty lines"
    return [json.loads(row) for row in rows]
