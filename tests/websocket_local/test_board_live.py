"""The board's WebSocket API on the whole local stack with the real functions (WsAuthorizer,
WsConnections, BoardFanout): a Python client connects, subscribes, receives the latest quote of what
it subscribed to, in order, stops receiving after unsubscribing; gone clients are cleaned up."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tickerstream_local.runner import LocalStack
from websocket_local.live import (
    PROTOCOL,
    READ_SCOPE,
    WRITE_SCOPE,
    ask,
    connection_items,
    flowing,
    machine_token,
    open_board,
    put,
    quote,
    quotes_until,
    wait_for,
)


@pytest.fixture(scope="module")
def stack():
    with contextlib.redirect_stdout(io.StringIO()), \
            LocalStack(api_port=0, moto_port=0, ws_port=0, state_file=None, ops_interval=None) as running:
        yield running


@pytest.fixture(scope="module")
def token(stack):
    return machine_token(stack.info, READ_SCOPE)


def own_connection_id(stack, before: set[str]) -> str:
    (connection_id,) = set(stack.websocket.connections) - before
    return connection_id


def handshake_status(stack, subprotocols):
    with pytest.raises(InvalidStatus) as refused:
        connect(stack.info["websocket_url"], subprotocols=subprotocols, open_timeout=30)
    return refused.value.response.status_code


def test_local_json_names_the_websocket_and_connections_urls(stack):
    info = stack.info
    stage = stack.deployment.ctx.parameters["Stage"]
    assert info["websocket_url"] == f"ws://127.0.0.1:{stack.ws_port}/{stage}"
    assert info["connections_url"] == f"http://127.0.0.1:{stack.ws_port}/{stage}"
    assert info["board_url"] == info["api_url"] + "/"


def test_handshake_without_a_token_is_refused_401(stack):
    assert handshake_status(stack, None) == 401
    assert handshake_status(stack, [PROTOCOL]) == 401  # the protocol alone carries no token


def test_handshake_with_an_invalid_token_is_refused_401(stack, token):
    head, payload, signature = token.split(".")
    assert handshake_status(stack, [PROTOCOL, "not-a-jwt"]) == 401
    assert handshake_status(stack, [PROTOCOL, f"{head}.{payload}.{signature[::-1]}"]) == 401  # forged signature


def test_handshake_with_a_write_only_token_is_refused_403(stack):
    assert handshake_status(stack, [PROTOCOL, machine_token(stack.info, WRITE_SCOPE)]) == 403


def test_a_valid_token_connects_with_the_tickerstream_subprotocol(stack, token):
    with open_board(stack.info, token) as client:
        assert client.subprotocol == PROTOCOL
        assert ask(client, {"action": "subscribe", "tickers": ["AAA"], "sectors": []}) == {
            "type": "subscribed", "tickers": ["AAA"], "sectors": []}


def test_subscriber_receives_only_the_latest_quote_of_its_ticker_per_batch(stack, token):
    with open_board(stack.info, token) as client:
        ask(client, {"action": "subscribe", "tickers": ["QXZ"], "sectors": []})
        flowing(stack, client, "QXZ")
        put(stack, [quote("QXZ", 10.0), quote("OTHR", 5.0, "ENERGY"), quote("QXZ", 11.0), quote("QXZ", 12.5)])
        received = quotes_until(client, "QXZ", 12.5)
    assert [m["quote"]["ticker_symbol"] for m in received] == ["QXZ"] * len(received)  # nothing unsubscribed
    last = received[-1]
    assert last["quote"] == quote("QXZ", 12.5) and last["arrived_at"].endswith("Z")
    # one batch took all four records: only its latest QXZ quote is pushed
    assert [m["quote"]["price"] for m in received] == [12.5]


def test_sector_subscription_receives_its_tickers(stack, token):
    with open_board(stack.info, token) as client:
        assert ask(client, {"action": "subscribe", "tickers": [], "sectors": ["ENERGY"]})["type"] == "subscribed"
        flowing(stack, client, "OILY", sector="ENERGY")
        put(stack, [quote("OILY", 70.0, "ENERGY"), quote("QXZ", 1.0)])
        received = quotes_until(client, "OILY", 70.0)
    assert {m["quote"]["sector"] for m in received} == {"ENERGY"}


def test_after_unsubscribing_a_ticker_no_more_of_its_quotes_arrive(stack, token):
    with open_board(stack.info, token) as client:
        ask(client, {"action": "subscribe", "tickers": ["GONE", "STAY"], "sectors": []})
        flowing(stack, client, "GONE")
        flowing(stack, client, "STAY")
        assert ask(client, {"action": "unsubscribe", "tickers": ["GONE"], "sectors": []}) == {
            "type": "unsubscribed", "tickers": ["STAY"], "sectors": []}
        put(stack, [quote("GONE", 2.0)])
        put(stack, [quote("STAY", 3.0)])  # a later batch: once it arrives, GONE's would have too
        received = quotes_until(client, "STAY", 3.0)
    assert [m["quote"]["ticker_symbol"] for m in received] == ["STAY"]


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prices=st.lists(st.integers(1, 10_000), min_size=2, max_size=30), calls=st.integers(1, 4))
def test_a_tickers_quotes_never_arrive_out_of_order(stack, token, prices, calls):
    ticker = "ORDR"
    final = 20_000.0 + len(prices)  # a price no drawn quote has: marks the end
    quotes = [quote(ticker, float(p)) for p in prices] + [quote(ticker, final)]
    with open_board(stack.info, token) as client:
        ask(client, {"action": "subscribe", "tickers": [ticker], "sectors": []})
        flowing(stack, client, ticker)
        size = -(-len(quotes) // calls)
        for start in range(0, len(quotes), size):  # spread over several PutRecords calls (and batches)
            put(stack, quotes[start:start + size])
        received = quotes_until(client, ticker, final)
    positions = [(int(m["sequence"]), m["sub_sequence"]) for m in received]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert received[-1]["quote"]["price"] == final


def test_unknown_action_and_bad_input_get_an_error_message(stack, token):
    with open_board(stack.info, token) as client:
        for message in ({"action": "dance"}, "not json", {"action": "subscribe", "tickers": ["lower-case!"]}):
            reply = ask(client, message)
            assert reply["type"] == "error" and reply["message"], reply
        assert ask(client, {"action": "subscribe", "tickers": ["OK"], "sectors": []})["type"] == "subscribed"


def test_an_oversized_message_closes_the_connection_1009_as_api_gateway_does(stack, token):
    with open_board(stack.info, token, max_size=None) as client:
        client.send(json.dumps({"action": "subscribe", "tickers": ["X" * 40_000]}))
        with pytest.raises(ConnectionClosed) as closed:
            client.recv(timeout=30)
    assert closed.value.rcvd.code == 1009


def test_disconnect_removes_the_connections_items(stack, token):
    before = set(stack.websocket.connections)
    with open_board(stack.info, token) as client:
        ask(client, {"action": "subscribe", "tickers": ["BYE", "CYA"], "sectors": []})
        connection_id = own_connection_id(stack, before)
        assert {i["topic"]["S"] for i in connection_items(stack, connection_id)} == {"META", "TICKER#BYE", "TICKER#CYA"}
    assert wait_for(lambda: not connection_items(stack, connection_id)), connection_items(stack, connection_id)


def test_a_client_gone_without_disconnect_is_removed_after_its_push_answers_410(stack, token):
    """A connection API Gateway dropped without $disconnect reaching the table (its items copied under
    an id the server never had): the next push to it answers 410, and BoardFanout deletes its items."""
    dynamodb = stack.deployment.client("dynamodb")
    table = stack.deployment.physical["ConnectionsTable"]
    before = set(stack.websocket.connections)
    with open_board(stack.info, token) as client:
        ask(client, {"action": "subscribe", "tickers": ["GHST"], "sectors": []})
        live = own_connection_id(stack, before)
        ghost = "ghostConnectn="
        for item in connection_items(stack, live):
            dynamodb.put_item(TableName=table, Item={**item, "connection_id": {"S": ghost}})
        assert len(connection_items(stack, ghost)) == 2
        gone_before = stack.websocket.stats["gone"]
        price = 1.0

        def ghost_removed() -> bool:
            nonlocal price
            price += 1
            put(stack, [quote("GHST", price)])
            quotes_until(client, "GHST", price)  # the live subscriber keeps getting its quotes
            return not connection_items(stack, ghost)

        assert wait_for(ghost_removed, timeout=60, interval=0)
        assert stack.websocket.stats["gone"] > gone_before  # it was the 410 that removed it
        assert {i["topic"]["S"] for i in connection_items(stack, live)} == {"META", "TICKER#GHST"}


def test_the_demo_opens_the_board_with_a_token_that_connects(stack, monkeypatch):
    from rich.console import Console

    from tickerstream_cli.demo import show_board

    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    out = io.StringIO()
    show_board(Console(file=out, width=4000), stack.info)
    lines = out.getvalue().splitlines()
    assert opened == [stack.info["board_url"]] and f"live board: {stack.info['board_url']}" in lines
    printed = lines[lines.index(next(line for line in lines if line.startswith("paste this access token"))) + 1]
    with connect(stack.info["websocket_url"], subprotocols=["tickerstream.v1", printed]) as client:
        assert client.subprotocol == "tickerstream.v1"
