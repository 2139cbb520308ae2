"""Helpers for BoardFanout tests: stream events, a fake @connections API, subscribers made through WsConnections."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

from botocore.exceptions import ClientError

from tickerstream.kpl import aggregate

from .conftest import context

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/tickerstream-QuoteStream"


def quote(ticker: str, price: float, sector: str = "HEALTHCARE", change: float = 0.1) -> bytes:
    return json.dumps({"ticker_symbol": ticker, "sector": sector, "change": change, "price": price}).encode()


def kinesis_record(sequence: int, data: bytes, partition_key: str = "k", arrival: float = 1763700000.0) -> dict[str, Any]:
    number = f"4965454516511245678457154902348661204896010283936{sequence:08d}"
    return {"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": partition_key, "sequenceNumber": number,
                        "data": base64.b64encode(data).decode(), "approximateArrivalTimestamp": arrival},
            "eventSource": "aws:kinesis", "eventID": f"shardId-000000000000:{number}", "eventSourceARN": STREAM_ARN}


def kpl_record(sequence: int, partition_key: str, payloads: list[bytes]) -> dict[str, Any]:
    return kinesis_record(sequence, aggregate(partition_key, payloads), partition_key)


def candle_record(ticker: str, event_name: str = "INSERT", sector: str = "HEALTHCARE", close: str = "84.63") -> dict[str, Any]:
    image = {"ticker": {"S": ticker}, "window_start": {"S": "2026-11-21T15:36:00Z"}, "window_end": {"S": "2026-11-21T15:37:00Z"},
             "sector": {"S": sector}, "open": {"N": "84.51"}, "high": {"N": "84.9"}, "low": {"N": "84.2"},
             "close": {"N": close}, "count": {"N": "42"}, "expires_at": {"N": "1766292960"}}
    record: dict[str, Any] = {"eventName": event_name, "eventSource": "aws:dynamodb",
                              "dynamodb": {"Keys": {"ticker": image["ticker"], "window_start": image["window_start"]},
                                           "StreamViewType": "NEW_IMAGE", "SequenceNumber": "100"}}
    if event_name != "REMOVE":
        record["dynamodb"]["NewImage"] = image
    return record


class FakeConnections:
    """Stands in for the @connections API: records each post; `gone` ids answer 410, `broken` ids fail."""

    def __init__(self, gone: set[str] = frozenset(), broken: set[str] = frozenset(), delay: float = 0.0):
        self.gone = set(gone)
        self.broken = set(broken)
        self.delay = delay
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def post(self, connection_id: str, data: bytes) -> None:
        if self.delay:
            time.sleep(self.delay)
        if connection_id in self.gone:
            raise ClientError({"Error": {"Code": "GoneException", "Message": ""}, "ResponseMetadata": {"HTTPStatusCode": 410}},
                              "PostToConnection")
        if connection_id in self.broken:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
                              "PostToConnection")
        with self._lock:
            self.posts.append((connection_id, json.loads(data)))

    def received(self, connection_id: str) -> list[dict[str, Any]]:
        return [message for cid, message in self.posts if cid == connection_id]


AUTHORIZED = {"sub": "user-1", "client_id": "userclient0000000000000000", "scope": "tickerstream/quotes.read"}


def subscribe(routes, connection_id: str, tickers: list[str] = (), sectors: list[str] = ()) -> None:
    """Open a connection and subscribe it through WsConnections, as a client would."""
    ctx = context("WsConnections")
    opened = routes.handler({"requestContext": {"routeKey": "$connect", "connectionId": connection_id, "authorizer": AUTHORIZED},
                             "headers": {"Sec-WebSocket-Protocol": "tickerstream.v1, a.b.c"}}, ctx)
    assert opened["statusCode"] == 200
    answer = routes.handler({"requestContext": {"routeKey": "subscribe", "connectionId": connection_id},
                             "body": json.dumps({"action": "subscribe", "tickers": list(tickers), "sectors": list(sectors)})}, ctx)
    assert json.loads(answer["body"])["type"] == "subscribed", answer
