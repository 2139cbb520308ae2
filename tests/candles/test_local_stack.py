"""The whole candle path on the local stack: quotes into the stream → the local event-source mapping's
tumbling windows → CandleAggregator → candles in CandlesTable, an alert on the local SNS topic and at
the local webhook receiver (its URL in the local Secrets Manager)."""

from __future__ import annotations

import contextlib
import io
import json
import time

import pytest

from candles.candle_support import candles_in_table, ohlcc, received_alerts, subscribe_queue
from tickerstream_local.provision_analytics import point_secret_at
from tickerstream_local.runner import LocalStack
from tickerstream_local.webhook_receiver import WebhookReceiver

WINDOW_SECONDS = 2


def put(stack, quotes):
    kinesis = stack.deployment.client("kinesis")
    records = [{"PartitionKey": q["ticker_symbol"], "Data": json.dumps(q).encode()} for q in quotes]
    response = kinesis.put_records(StreamName=stack.deployment.physical["QuoteStream"], Records=records)
    assert response["FailedRecordCount"] == 0


def start_of_next_window(margin: float = 0.05) -> float:
    now = time.time()
    start = now - now % WINDOW_SECONDS + WINDOW_SECONDS
    time.sleep(start - now + margin)
    return start


@pytest.fixture(scope="module")
def run():
    with contextlib.redirect_stdout(io.StringIO()), WebhookReceiver() as receiver, LocalStack(
        api_port=0, moto_port=0, state_file=None, parameter_overrides={"CandleWindowSeconds": WINDOW_SECONDS},
    ) as stack:
        queue = subscribe_queue(stack.deployment)
        point_secret_at(stack.deployment, "AlertWebhookSecret", receiver.url)
        window_start = start_of_next_window()
        put(stack, [
            {"ticker_symbol": "AAPL", "sector": "TECHNOLOGY", "change": 0.1, "price": 100.0},
            {"ticker_symbol": "MSFT", "sector": "TECHNOLOGY", "change": 0.1, "price": 50.0},
            {"ticker_symbol": "AAPL", "sector": "TECHNOLOGY", "change": 3.0, "price": 103.0},
            {"ticker_symbol": "AAPL", "sector": "TECHNOLOGY", "change": -4.0, "price": 99.0},
        ])
        put(stack, [{"ticker_symbol": "AAPL", "sector": "TECHNOLOGY", "change": 8.0, "price": 107.0},
                    {"ticker_symbol": "MSFT", "sector": "TECHNOLOGY", "change": 0.5, "price": 50.5}])
        # Records of the next window close this one: the local mapping closes a shard's window on the
        # shard's next record (Lambda also closes it when the window's time is up, records or not).
        start_of_next_window()
        put(stack, [{"ticker_symbol": t, "sector": "TECHNOLOGY", "change": 0, "price": 1.0} for t in ("AAPL", "MSFT")])
        stack.drain()
        yield stack, queue, receiver, window_start


def test_candles_of_the_closed_window_are_in_the_table(run):
    stack, _, _, window_start = run
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(window_start))
    table = candles_in_table(stack.deployment)
    assert ("AAPL", start) in table, (start, sorted(table), [vars(m.stats) for m in stack.mappings])
    assert ohlcc(table[("AAPL", start)]) == (100, 107, 99, 107, 4)
    assert ohlcc(table[("MSFT", start)]) == (50, 50.5, 50, 50.5, 2)
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(window_start + WINDOW_SECONDS))
    assert table[("AAPL", start)]["window_end"] == end
    assert ohlcc(table[("AAPL", start)])[-1] == 4  # the next window's quote is not in this candle


def test_one_alert_on_the_local_topic_and_at_the_webhook(run):
    stack, queue, receiver, _ = run
    alerts = received_alerts(stack.deployment, queue)
    assert [(body["ticker"], attributes) for body, attributes in alerts] == [
        ("AAPL", {"ticker": "AAPL", "sector": "TECHNOLOGY", "direction": "up"})
    ]
    assert [a["ticker"] for a in receiver.alerts] == ["AAPL"]


def test_the_mapping_runs_with_the_template_window(run):
    stack, *_ = run
    mapping = stack.mapping("CandleAggregator")
    assert mapping.settings.tumbling_window == WINDOW_SECONDS
    assert mapping.stats.function_errors == mapping.stats.partial_failures == mapping.stats.records_discarded == 0


def test_make_demo_reconciliation_finds_the_lake_and_the_table_agree_and_sees_a_changed_candle(run):
    """`make demo`'s candle line: candles recomputed from the lake with DuckDB equal CandlesTable for every
    closed window, and a candle changed in the table is reported."""
    from tickerstream_cli.demo import reconcile_closed_candles

    stack, _, _, window_start = run
    time.sleep(max(0.0, window_start + 2 * WINDOW_SECONDS + 1.2 - time.time()))  # the first window is closed
    closed, differences = reconcile_closed_candles(stack.deployment)
    assert differences == [] and closed >= 2
    dynamodb, table = stack.deployment.client("dynamodb"), stack.deployment.physical["CandlesTable"]
    key = {"ticker": {"S": "AAPL"}, "window_start": {"S": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(window_start))}}
    original = dynamodb.get_item(TableName=table, Key=key)["Item"]
    dynamodb.put_item(TableName=table, Item={**original, "close": {"N": "106.5"}})
    try:
        _, differences = reconcile_closed_candles(stack.deployment)
        assert [(d.ticker, d.kind, d.fields["close"]) for d in differences] == [("AAPL", "different", (107, 106.5))]
    finally:
        dynamodb.put_item(TableName=table, Item=original)
