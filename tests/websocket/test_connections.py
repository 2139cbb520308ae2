"""WsConnections' routes on moto DynamoDB: what each route stores, answers and refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tickerstream_local.template import parameter_defaults

from .conftest import TABLE, context, items, load

SECTORS = parameter_defaults()["LakeSectors"].split(",")
MOST = int(parameter_defaults()["BoardMaxSubscriptions"])
AUTHORIZED = {"sub": "user-1", "client_id": "userclient0000000000000000", "scope": "tickerstream/quotes.read",
              "principalId": "user-1", "integrationLatency": 9}


@pytest.fixture
def routes(dynamodb):
    return load("WsConnections")


def call(routes, route: str, connection_id: str = "conn-1", body: Any = None, headers: dict[str, str] | None = None,
         authorizer: dict[str, Any] | None = None) -> dict[str, Any]:
    request = {"routeKey": route, "connectionId": connection_id, "eventType": {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE"),
               "stage": "dev", "apiId": "wsapi12345", "requestId": "r1"}
    if authorizer is not None:
        request["authorizer"] = authorizer
    event: dict[str, Any] = {"requestContext": request, "isBase64Encoded": False}
    if headers is not None:
        event["headers"] = headers
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    return routes.handler(event, context("WsConnections"))


def connect(routes, connection_id: str = "conn-1") -> dict[str, Any]:
    return call(routes, "$connect", connection_id, headers={"Sec-WebSocket-Protocol": "tickerstream.v1, a.b.c"}, authorizer=AUTHORIZED)


def reply(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(response["body"])


def by_topic(dynamodb, topic: str) -> set[str]:
    found = dynamodb.query(TableName=TABLE, IndexName="ByTopic", KeyConditionExpression="subscribed_topic = :t",
                           ExpressionAttributeValues={":t": {"S": topic}})["Items"]
    return {item["connection_id"]["S"] for item in found}


def test_connect_stores_who_from_the_authorizer_and_picks_the_subprotocol(routes, dynamodb):
    response = connect(routes)
    assert response == {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "tickerstream.v1"}}
    (meta,) = items(dynamodb)
    assert (meta["connection_id"]["S"], meta["topic"]["S"]) == ("conn-1", "META")
    assert {k: meta[k]["S"] for k in ("sub", "client_id", "scope")} == {k: AUTHORIZED[k] for k in ("sub", "client_id", "scope")}
    assert "subscribed_topic" not in meta  # META items stay out of the ByTopic index
    lifetime = int(meta["expires_at"]["N"]) - __import__("time").time()
    assert 7200 < lifetime <= 7500  # past API Gateway's 2-hour connection lifetime, not much more


def test_connect_without_the_subprotocol_is_refused(routes, dynamodb):
    response = call(routes, "$connect", headers={"Sec-WebSocket-Protocol": "chat"}, authorizer=AUTHORIZED)
    assert response["statusCode"] == 400 and "tickerstream.v1" in response["body"]
    assert items(dynamodb) == []


def test_subscribe_answers_everything_now_subscribed_and_indexes_each_topic(routes, dynamodb):
    connect(routes)
    first = call(routes, "subscribe", body={"action": "subscribe", "tickers": ["QXZ", "NFLX", "QXZ"], "sectors": ["healthcare "]})
    assert (first["statusCode"], reply(first)) == (200, {"type": "subscribed", "tickers": ["NFLX", "QXZ"], "sectors": ["HEALTHCARE"]})
    second = call(routes, "subscribe", body={"action": "subscribe", "tickers": ["TBV"]})
    assert reply(second) == {"type": "subscribed", "tickers": ["NFLX", "QXZ", "TBV"], "sectors": ["HEALTHCARE"]}
    assert by_topic(dynamodb, "TICKER#QXZ") == by_topic(dynamodb, "SECTOR#HEALTHCARE") == {"conn-1"}
    assert len(items(dynamodb)) == 1 + 4


def test_unsubscribe_answers_what_remains_and_unindexes(routes, dynamodb):
    connect(routes)
    call(routes, "subscribe", body={"action": "subscribe", "tickers": ["QXZ", "NFLX"], "sectors": ["ENERGY"]})
    response = call(routes, "unsubscribe", body={"action": "unsubscribe", "tickers": ["NFLX", "ZZZ"], "sectors": ["ENERGY"]})
    assert reply(response) == {"type": "unsubscribed", "tickers": ["QXZ"], "sectors": []}
    assert by_topic(dynamodb, "TICKER#NFLX") == by_topic(dynamodb, "SECTOR#ENERGY") == set()
    assert by_topic(dynamodb, "TICKER#QXZ") == {"conn-1"}


def test_disconnect_removes_every_item_of_the_connection_and_no_other(routes, dynamodb):
    connect(routes, "conn-1")
    connect(routes, "conn-2")
    for connection_id in ("conn-1", "conn-2"):
        call(routes, "subscribe", connection_id, body={"action": "subscribe", "tickers": ["QXZ"], "sectors": ["ENERGY"]})
    assert call(routes, "$disconnect", "conn-1") == {"statusCode": 200}
    assert {item["connection_id"]["S"] for item in items(dynamodb)} == {"conn-2"}
    assert by_topic(dynamodb, "TICKER#QXZ") == {"conn-2"}
    assert call(routes, "$disconnect", "conn-1") == {"statusCode": 200}  # twice is harmless


BAD = {
    "unknown ticker format": ({"action": "subscribe", "tickers": ["qxz"]}, "is not a ticker symbol"),
    "ticker not a string": ({"action": "subscribe", "tickers": [42]}, "tickers must be a list of ticker symbols"),
    "tickers not a list": ({"action": "subscribe", "tickers": "QXZ"}, "tickers must be a list of ticker symbols"),
    "unknown sector": ({"action": "subscribe", "sectors": ["CASINOS"]}, "Unknown sector \"CASINOS\"; the sectors are"),
    "nothing named": ({"action": "subscribe"}, "Name at least one ticker or sector"),
    "too many in one message": ({"action": "subscribe", "tickers": [f"T{i}" for i in range(MOST + 1)]}, f"at most {MOST}"),
    "not JSON": ("subscribe QXZ", "The message is not JSON"),
    "not an object": ("[1, 2]", "must be a JSON object"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_subscribe_messages_get_an_error_reply_and_change_nothing(routes, dynamodb, case):
    body, expected = BAD[case]
    connect(routes)
    before = items(dynamodb)
    response = call(routes, "subscribe", body=body)
    answer = reply(response)
    assert response["statusCode"] == 400 and answer["type"] == "error" and expected in answer["message"], answer
    assert answer["message"].endswith(".")  # one sentence
    assert items(dynamodb) == before


def test_the_bound_counts_tickers_and_sectors_together_across_messages(routes, dynamodb):
    connect(routes)
    tickers = [f"T{i:03d}" for i in range(MOST - 1)]
    assert reply(call(routes, "subscribe", body={"action": "subscribe", "tickers": tickers}))["type"] == "subscribed"
    over = reply(call(routes, "subscribe", body={"action": "subscribe", "tickers": ["ONEMORE"], "sectors": ["ENERGY"]}))
    assert over == {"type": "error", "message": f"A connection may subscribe to at most {MOST} tickers and sectors together; this would make {MOST + 1}."}
    assert reply(call(routes, "subscribe", body={"action": "subscribe", "sectors": ["ENERGY"]}))["type"] == "subscribed"
    assert len(items(dynamodb)) == 1 + MOST


def test_subscribing_on_an_unknown_connection_is_refused(routes, dynamodb):
    answer = reply(call(routes, "subscribe", "ghost", body={"action": "subscribe", "tickers": ["QXZ"]}))
    assert answer["type"] == "error" and "reconnect" in answer["message"]
    assert items(dynamodb) == []


@pytest.mark.parametrize("body, expected", [
    ({"action": "buy"}, 'Unknown action "buy"; the allowed actions are subscribe, unsubscribe and ping.'),
    ({"tickers": ["QXZ"]}, "The message has no action; the allowed actions are subscribe, unsubscribe and ping."),
    ("", "The message is empty; send a JSON object whose action is subscribe, unsubscribe and ping."),
])
def test_default_route_names_the_allowed_actions(routes, dynamodb, body, expected):
    connect(routes)
    response = call(routes, "$default", body=body)
    assert (response["statusCode"], reply(response)) == (400, {"type": "error", "message": expected})


def test_ping_gets_pong(routes, dynamodb):
    connect(routes)
    assert reply(call(routes, "$default", body={"action": "ping"})) == {"type": "pong"}


def test_concurrent_changes_do_not_lose_a_subscription(routes, dynamodb):
    """Optimistic locking: a change made between another request's read and write makes that request re-read."""
    connect(routes)
    store = routes.store
    real = store.subscriptions
    calls = {"n": 0}

    def interleaved(connection_id):
        current = real(connection_id)
        calls["n"] += 1
        if calls["n"] == 1:  # another message of the same connection lands right now
            store.replace(connection_id, current, ["OTHER"], [])
            store.add_topics(connection_id, ["TICKER#OTHER"], current.expires_at)
        return current

    store.subscriptions = interleaved
    try:
        answer = reply(call(routes, "subscribe", body={"action": "subscribe", "tickers": ["QXZ"]}))
    finally:
        store.subscriptions = real
    assert answer == {"type": "subscribed", "tickers": ["OTHER", "QXZ"], "sectors": []}
    assert calls["n"] == 2
