"""Properties of BoardFanout's batch reduction: whatever the batch, each ticker's pushed quote is its
latest valid one by stream position (sequence number, then KPL sub-sequence), and nothing else is."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from board_fanout.records import latest_quotes

from .conftest import TABLE, context, create_connections_table, load
from .fanout_support import FakeConnections, kinesis_record, kpl_record, quote, subscribe

TICKERS = ["QXZ", "TBV", "NFLX", "A.B", "X-1"]
prices = st.integers(min_value=1, max_value=10**6).map(lambda cents: cents / 100)


@st.composite
def batches(draw):
    """Kinesis records in stream order: plain quotes, KPL aggregates of one ticker, and invalid records."""
    records, user_records = [], []  # user_records: (sequence, sub_sequence, ticker or None, price)
    for sequence in range(1, draw(st.integers(min_value=0, max_value=25)) + 1):
        kind = draw(st.sampled_from(["plain", "plain", "kpl", "invalid"]))
        ticker = draw(st.sampled_from(TICKERS))
        if kind == "plain":
            price = draw(prices)
            records.append(kinesis_record(sequence, quote(ticker, price), ticker))
            user_records.append((sequence, 0, ticker, price))
        elif kind == "kpl":
            chosen = draw(st.lists(prices, min_size=1, max_size=4))
            records.append(kpl_record(sequence, ticker, [quote(ticker, p) for p in chosen]))
            user_records += [(sequence, sub, ticker, p) for sub, p in enumerate(chosen)]
        else:
            records.append(kinesis_record(sequence, json.dumps({"ticker_symbol": ticker.lower(), "price": -1}).encode()))
            user_records.append((sequence, 0, None, None))
    return records, user_records


def expected_latest(user_records) -> dict[str, tuple[float, int, int]]:
    latest = {}
    for sequence, sub, ticker, price in sorted(user_records, key=lambda r: (r[0], r[1])):
        if ticker is not None:
            latest[ticker] = (price, sequence, sub)
    return latest


@given(batches(), st.randoms(use_true_random=False))
def test_latest_quotes_keeps_exactly_each_tickers_latest_whatever_the_delivery_order(batch, shuffler):
    records, user_records = batch
    shuffled = list(records)
    shuffler.shuffle(shuffled)  # positions decide, not the order records are seen in
    result = latest_quotes(shuffled)
    got = {t: (l.quote.price, int(l.sequence[-8:]), l.sub_sequence) for t, l in result.latest.items()}
    assert got == expected_latest(user_records)
    assert result.user_records == len(user_records)
    assert result.invalid == sum(1 for r in user_records if r[2] is None)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=batches(), subscribed=st.sets(st.sampled_from(TICKERS), min_size=1))
def test_through_the_handler_each_subscriber_gets_one_message_per_ticker_the_latest(aws, batch, subscribed):
    client = aws.client("dynamodb")
    if TABLE in client.list_tables()["TableNames"]:
        client.delete_table(TableName=TABLE)
    create_connections_table(aws)
    routes, fanout = load("WsConnections"), load("BoardFanout")
    subscribe(routes, "c1", tickers=sorted(subscribed))
    records, user_records = batch
    fake = FakeConnections()
    fanout.pusher.post = fake.post
    assert fanout.handler({"Records": records}, context("BoardFanout")) == {"batchItemFailures": []}
    received = {}
    for message in fake.received("c1"):
        ticker = message["quote"]["ticker_symbol"]
        assert ticker not in received, f"{ticker} pushed twice in one batch"
        received[ticker] = (message["quote"]["price"], int(message["sequence"][-8:]), message["sub_sequence"])
    expected = {t: v for t, v in expected_latest(user_records).items() if t in subscribed}
    assert received == expected

