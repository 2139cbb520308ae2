"""Helpers for the candle tests: quotes → Kinesis records → tumbling-window events, and reading back."""

from __future__ import annotations

import base64
import json
from typing import Any

from tickerstream.kpl import aggregate

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/tickerstream-local-QuoteStream"
# Real Kinesis sequence numbers are 56 digits; these keep that length.
BASE_SEQUENCE = 49654545165112456784571549023486612048960102839364386818
WINDOW = {"start": "2026-11-21T15:36:00Z", "end": "2026-11-21T15:37:00Z"}


def quote(ticker: str, price: float, sector: str = "TECHNOLOGY", change: float = 0.0) -> dict[str, Any]:
    return {"ticker_symbol": ticker, "sector": sector, "change": change, "price": price}


def record(index: int, data: bytes, partition_key: str = "K", step: int = 1_000_000) -> dict[str, Any]:
    sequence = str(BASE_SEQUENCE + index * step)
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": 1795361760.0 + index * 0.001,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/tickerstream-CandleAggregatorRole",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM_ARN,
    }


def records_of(quotes: list[dict[str, Any]], start: int = 0) -> list[dict[str, Any]]:
    return [record(start + i, json.dumps(q).encode(), q.get("ticker_symbol", "K")) for i, q in enumerate(quotes)]


def kpl_record(index: int, quotes: list[dict[str, Any]]) -> dict[str, Any]:
    return record(index, aggregate("AGG", [json.dumps(q).encode() for q in quotes]), "AGG")


def event(records: list[dict[str, Any]], state: dict[str, Any] | None = None, final: bool = False,
          window: dict[str, str] = WINDOW, early: bool = False) -> dict[str, Any]:
    return {
        "Records": records,
        "window": dict(window),
        "state": state or {},
        "shardId": "shardId-000000000000",
        "eventSourceARN": STREAM_ARN,
        "isFinalInvokeForWindow": final,
        "isWindowTerminatedEarly": early,
    }


def run_window(handler: Any, context: Any, batches: list[list[dict[str, Any]]], window: dict[str, str] = WINDOW) -> dict[str, Any]:
    """Invoke once per batch as Lambda does for one window (the state carried, the last one final),
    with the state passed through JSON as Lambda passes it; return the last response."""
    state: dict[str, Any] = {}
    response: dict[str, Any] = {}
    for number, batch in enumerate(batches):
        response = handler(json.loads(json.dumps(event(batch, state, number == len(batches) - 1, window))), context)
        state = json.loads(json.dumps(response["state"]))
    return response


def candles_in_table(deployment: Any) -> dict[tuple[str, str], dict[str, Any]]:
    dynamodb = deployment.client("dynamodb")
    out = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=deployment.physical["CandlesTable"]):
        for item in page["Items"]:
            plain = {k: next(iter(v.values())) for k, v in item.items()}
            out[(plain["ticker"], plain["window_start"])] = plain
    return out


def subscribe_queue(deployment: Any) -> str:
    sqs, sns = deployment.client("sqs"), deployment.client("sns")
    url = sqs.create_queue(QueueName="alerts-subscriber")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=deployment.ctx.refs["AlertsTopic"], Protocol="sqs", Endpoint=arn,
                  Attributes={"RawMessageDelivery": "true"})
    return url


def received_alerts(deployment: Any, queue_url: str) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """(message body, message attributes) of every alert delivered to the subscribed queue."""
    sqs = deployment.client("sqs")
    out = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return out
        for message in messages:
            attributes = {k: v["StringValue"] for k, v in (message.get("MessageAttributes") or {}).items()}
            out.append((json.loads(message["Body"]), attributes))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def ohlcc(item: dict[str, Any]) -> tuple:
    """(open, high, low, close, count) of a table item, as exact decimals."""
    from decimal import Decimal

    return tuple(Decimal(item[k]) for k in ("open", "high", "low", "close", "count"))
