"""Helpers for QuoteProcessor tests: events, records, table reads, fault injection."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from botocore.exceptions import ClientError

EVENTS = Path(__file__).resolve().parents[2] / "events" / "quote_processor"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/tickerstream-local-QuoteStream"


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def make_record(quote: dict | bytes, sequence: int, shard: str = "shardId-000000000000", arrival: float = 1763700000.0) -> dict:
    data = quote if isinstance(quote, bytes) else json.dumps(quote).encode()
    key = quote.get("ticker_symbol", "x") if isinstance(quote, dict) else "raw"
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": key,
            "sequenceNumber": str(sequence),
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventID": f"{shard}:{sequence}",
        "eventSourceARN": STREAM_ARN,
        "awsRegion": "us-east-1",
    }


def quote(ticker: str, price: float, change: float = 0.5, sector: str = "TECHNOLOGY") -> dict:
    return {"ticker_symbol": ticker, "sector": sector, "change": change, "price": price}


class Table:
    """Read helpers over the Quotes table, by the shared key layout."""

    def __init__(self, deployment):
        self.client = deployment.client("dynamodb")
        self.name = deployment.physical["QuotesTable"]

    def latest(self, ticker: str) -> dict | None:
        from tickerstream.keys import ticker_key

        pk, sk = ticker_key(ticker)
        item = self.client.get_item(TableName=self.name, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
        return {k: next(iter(v.values())) for k, v in item.items()} if item else None

    def summary(self, sector: str) -> dict | None:
        from tickerstream.keys import sector_summary_key

        pk, sk = sector_summary_key(sector)
        item = self.client.get_item(TableName=self.name, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
        return {k: next(iter(v.values())) for k, v in item.items()} if item else None

    def tickers(self) -> set[str]:
        items = self.client.scan(TableName=self.name)["Items"]
        return {i["ticker_symbol"]["S"] for i in items if i["sk"]["S"] == "LATEST"}


class FailingClient:
    """Wraps a boto3 client; the listed call numbers of `operation` raise `code` instead of running."""

    def __init__(self, client, operation: str, fail_on: set[int], code: str = "ProvisionedThroughputExceededException"):
        import threading

        self._client, self._operation, self._fail_on, self._code = client, operation, fail_on, code
        self.calls = 0
        self._lock = threading.Lock()

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if name != self._operation:
            return attribute

        def call(**kwargs):
            with self._lock:
                self.calls += 1
                number = self.calls
            if number in self._fail_on:
                raise ClientError({"Error": {"Code": self._code, "Message": "injected"}}, name)
            return attribute(**kwargs)

        return call


def quarantined(deployment) -> list[dict]:
    sqs = deployment.client("sqs")
    url = deployment.ctx.refs["QuarantineQueue"]
    messages = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages"):
        for message in batch:
            messages.append({**json.loads(message["Body"]), "_attributes": message.get("MessageAttributes", {})})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def client_error(operation: str, code: str, reasons: list[str] | None = None, status: int = 400) -> ClientError:
    """The ClientError botocore raises for `code` (a cancelled transaction lists one reason per action)."""
    response: dict = {"Error": {"Code": code, "Message": f"injected {code}"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r, **({"Message": f"injected {r}"} if r != "None" else {})} for r in reasons]
    return ClientError(response, operation)


class ClientWithFaults:
    """Wraps a boto3 client; `fault(operation, kwargs)` returns an exception to raise instead of the call,
    or None to let the call through."""

    def __init__(self, client, fault):
        self._client, self._fault = client, fault
        self.calls: list[str] = []

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("_") or name == "meta":
            return attribute

        def call(**kwargs):
            self.calls.append(name)
            exc = self._fault(name, kwargs)
            if exc is not None:
                raise exc
            return attribute(**kwargs)

        return call


def touches_ticker(kwargs: dict, ticker: str) -> bool:
    """Whether a TransactWriteItems request writes `ticker`'s latest quote."""
    from tickerstream.keys import ticker_key

    pk = ticker_key(ticker)[0]
    return any(item.get("Put", {}).get("Item", {}).get("pk", {}).get("S") == pk for item in kwargs.get("TransactItems", []))
