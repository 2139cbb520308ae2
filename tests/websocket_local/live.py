"""Helpers for the tests of the board's WebSocket API on the whole local stack (the real functions)."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import urllib.request
from typing import Any

from websockets.sync.client import ClientConnection, connect

PROTOCOL = "tickerstream.v1"
READ_SCOPE, WRITE_SCOPE = "tickerstream/quotes.read", "tickerstream/quotes.write"


def machine_token(info: dict[str, Any], scope: str) -> str:
    """A client_credentials access token from the local token endpoint, with exactly `scope`."""
    basic = base64.b64encode(f"{info['machine_client_id']}:{info['machine_client_secret']}".encode()).decode()
    request = urllib.request.Request(
        info["token_url"], data=urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope}).encode(),
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


def open_board(info: dict[str, Any], token: str, **kwargs: Any) -> ClientConnection:
    return connect(info["websocket_url"], subprotocols=[PROTOCOL, token], open_timeout=30, **kwargs)


def ask(client: ClientConnection, message: dict[str, Any] | str) -> dict[str, Any]:
    """Send a message and return the next reply that is not a pushed quote or candle."""
    client.send(message if isinstance(message, str) else json.dumps(message))
    while True:
        reply = json.loads(client.recv(timeout=30))
        if reply.get("type") not in ("quote", "candle"):
            return reply


def quote(ticker: str, price: float, sector: str = "HEALTHCARE") -> dict[str, Any]:
    return {"ticker_symbol": ticker, "sector": sector, "change": 0.01, "price": price}


def put(stack: Any, quotes: list[dict[str, Any]]) -> None:
    """One PutRecords call (partition key = ticker, as the producer does)."""
    kinesis = stack.deployment.client("kinesis")
    answer = kinesis.put_records(StreamName=stack.deployment.physical["QuoteStream"], Records=[
        {"Data": json.dumps(q).encode(), "PartitionKey": q["ticker_symbol"]} for q in quotes])
    assert answer["FailedRecordCount"] == 0


def quotes_until(client: ClientConnection, ticker: str, price: float, timeout: float = 60) -> list[dict[str, Any]]:
    """Every pushed quote message up to and including `ticker` at `price`."""
    received = []
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(client.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message.get("type") != "quote":
            continue
        received.append(message)
        if message["quote"]["ticker_symbol"] == ticker and message["quote"]["price"] == price:
            return received


def flowing(stack: Any, client: ClientConnection, ticker: str, attempts: int = 15, sector: str = "HEALTHCARE") -> None:
    """Produce marker quotes of `ticker` until one reaches `client`. BoardFanout caches a topic's
    subscribers for SUBSCRIBER_CACHE_SECONDS, so a new subscription may miss the first pushes; once a
    marker arrived, every later quote of the ticker is pushed to it (earlier markers came first or never)."""
    for attempt in range(attempts):
        marker = 0.001 * (attempt + 1)
        put(stack, [quote(ticker, marker, sector)])
        try:
            quotes_until(client, ticker, marker, timeout=4)
            return
        except TimeoutError:
            continue
    raise TimeoutError(f"no quote of {ticker} reached the subscriber after {attempts} markers")


def connection_items(stack: Any, connection_id: str) -> list[dict[str, Any]]:
    dynamodb = stack.deployment.client("dynamodb")
    return dynamodb.query(TableName=stack.deployment.physical["ConnectionsTable"], ConsistentRead=True,
                          KeyConditionExpression="connection_id = :c",
                          ExpressionAttributeValues={":c": {"S": connection_id}})["Items"]


def wait_for(condition: Any, timeout: float = 30, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            return result
        time.sleep(interval)
    return result
