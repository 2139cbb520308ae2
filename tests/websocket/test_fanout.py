"""BoardFanout on moto, with the @connections API replaced by a fake that records posts and answers
410 for some ids; subscribers are made through WsConnections, so both functions agree on the table."""

from __future__ import annotations

import json
import time

import pytest

from .conftest import TABLE, context, items, load
from .fanout_support import (FakeConnections, candle_record, kinesis_record, kpl_record, quote, subscribe)


@pytest.fixture
def routes(dynamodb):
    return load("WsConnections")


@pytest.fixture
def fanout(dynamodb):
    return load("BoardFanout")


def run(fanout, records, fake: FakeConnections, timeout_seconds: int | None = None) -> dict:
    fanout.pusher.post = fake.post
    return fanout.handler({"Records": records}, context("BoardFanout", timeout_seconds))


def test_only_the_latest_quote_of_each_ticker_is_pushed(routes, fanout):
    subscribe(routes, "c1", tickers=["QXZ", "NFLX"])
    fake = FakeConnections()
    records = [kinesis_record(1, quote("QXZ", 84.51)), kinesis_record(2, quote("NFLX", 180.86, "TECHNOLOGY")),
               kinesis_record(3, quote("QXZ", 84.63), arrival=1763700001.5), kinesis_record(4, quote("TBV", 1.0))]
    assert run(fanout, records, fake) == {"batchItemFailures": []}
    got = {m["quote"]["ticker_symbol"]: m for m in fake.received("c1")}
    assert sorted(got) == ["NFLX", "QXZ"] and len(fake.posts) == 2
    assert got["QXZ"] == {"type": "quote", "quote": {"ticker_symbol": "QXZ", "sector": "HEALTHCARE", "change": 0.1, "price": 84.63},
                          "sequence": records[2]["kinesis"]["sequenceNumber"], "sub_sequence": 0,
                          "arrived_at": "2025-11-21T04:40:01.500Z"}


def test_sector_subscribers_get_each_ticker_of_the_sector_once(routes, fanout):
    subscribe(routes, "both", tickers=["QXZ"], sectors=["HEALTHCARE"])
    subscribe(routes, "sector", sectors=["HEALTHCARE"])
    subscribe(routes, "other", sectors=["ENERGY"])
    fake = FakeConnections()
    run(fanout, [kinesis_record(1, quote("QXZ", 1.5)), kinesis_record(2, quote("TBV", 2.5)),
                 kinesis_record(3, quote("XOM", 3.5, "ENERGY"))], fake)
    assert sorted(m["quote"]["ticker_symbol"] for m in fake.received("both")) == ["QXZ", "TBV"]
    assert sorted(m["quote"]["ticker_symbol"] for m in fake.received("sector")) == ["QXZ", "TBV"]
    assert [m["quote"]["ticker_symbol"] for m in fake.received("other")] == ["XOM"]


def test_kpl_aggregates_are_decoded_and_the_last_sub_record_wins(routes, fanout):
    subscribe(routes, "c1", tickers=["TBV"])
    fake = FakeConnections()
    run(fanout, [kpl_record(1, "TBV", [quote("TBV", 1.0), quote("TBV", 2.0), quote("TBV", 3.0)])], fake)
    (message,) = fake.received("c1")
    assert (message["quote"]["price"], message["sub_sequence"]) == (3.0, 2)


def test_invalid_records_are_skipped_and_counted_never_failing_the_batch(routes, fanout, capsys):
    subscribe(routes, "c1", tickers=["QXZ"])
    fake = FakeConnections()
    records = [kinesis_record(1, b"not json"), kinesis_record(2, quote("qxz", 1.0)), kinesis_record(3, b"\xf3\x89\x9a\xc2broken"),
               kinesis_record(4, quote("QXZ", 2.0))]
    records.append({**kinesis_record(5, b""), "kinesis": {**kinesis_record(5, b"")["kinesis"], "data": "%%%"}})
    assert run(fanout, records, fake) == {"batchItemFailures": []}
    assert [m["quote"]["price"] for m in fake.received("c1")] == [2.0]
    metrics = _metrics(capsys.readouterr().out)
    assert (metrics["FanoutRecords"], metrics["InvalidRecords"], metrics["PushesSent"]) == (5, 4, 1)


def test_gone_connections_are_deleted_and_not_pushed_to_again(routes, fanout, dynamodb):
    subscribe(routes, "alive", tickers=["QXZ"], sectors=["HEALTHCARE"])
    subscribe(routes, "gone", tickers=["QXZ", "TBV"], sectors=["HEALTHCARE"])
    fake = FakeConnections(gone={"gone"})
    assert run(fanout, [kinesis_record(1, quote("QXZ", 1.0))], fake) == {"batchItemFailures": []}
    assert {item["connection_id"]["S"] for item in items(dynamodb)} == {"alive"}  # META and every subscription
    fake.gone.clear()  # even if it answered again, it is no longer a subscriber (cache forgot it too)
    run(fanout, [kinesis_record(2, quote("QXZ", 2.0))], fake)
    assert [cid for cid, _ in fake.posts] == ["alive", "alive"]


def test_failing_clients_cost_their_push_only(routes, fanout, capsys):
    subscribe(routes, "ok", tickers=["QXZ"])
    subscribe(routes, "broken", tickers=["QXZ"])
    fake = FakeConnections(broken={"broken"})
    assert run(fanout, [kinesis_record(1, quote("QXZ", 1.0))], fake) == {"batchItemFailures": []}
    assert len(fake.received("ok")) == 1
    metrics = _metrics(capsys.readouterr().out)
    assert (metrics["PushesSent"], metrics["PushesFailed"], metrics["ConnectionsGone"]) == (1, 1, 0)


def test_the_time_budget_stops_pushing_and_the_batch_still_succeeds(dynamodb, capsys):
    routes = load("WsConnections")
    fanout = load("BoardFanout", PUSH_BUDGET_SECONDS="1", PUSH_CONCURRENCY="2", PUSH_TIMEOUT_SECONDS="1")
    for i in range(30):
        subscribe(routes, f"slow-{i:02d}", tickers=["QXZ"])
    fake = FakeConnections(delay=0.2)
    started = time.monotonic()
    assert run(fanout, [kinesis_record(1, quote("QXZ", 1.0))], fake) == {"batchItemFailures": []}
    elapsed = time.monotonic() - started
    metrics = _metrics(capsys.readouterr().out)
    assert elapsed < 1 + 2 * 1 + 1  # budget + grace for pushes in flight + margin
    assert 4 <= metrics["PushesSent"] <= 14  # about budget x concurrency / delay = 10
    assert metrics["PushesSent"] + metrics["PushesSkipped"] == 30 == len(fake.posts) + metrics["PushesSkipped"]


def test_the_budget_shrinks_to_the_invocations_remaining_time(routes, fanout, capsys):
    subscribe(routes, "c1", tickers=["QXZ"])
    fake = FakeConnections()
    # 3 s left: less than the safety margin and two push timeouts, so nothing is started.
    run(fanout, [kinesis_record(1, quote("QXZ", 1.0))], fake, timeout_seconds=3)
    metrics = _metrics(capsys.readouterr().out)
    assert fake.posts == [] and (metrics["PushesSent"], metrics["PushesSkipped"]) == (0, 0)


def test_connections_past_their_lifetime_are_not_pushed_to(routes, fanout, dynamodb):
    subscribe(routes, "old", tickers=["QXZ"])
    dynamodb.update_item(TableName=TABLE, Key={"connection_id": {"S": "old"}, "topic": {"S": "TICKER#QXZ"}},
                         UpdateExpression="SET expires_at = :past", ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}})
    fake = FakeConnections()
    run(fanout, [kinesis_record(1, quote("QXZ", 1.0))], fake)
    assert fake.posts == []


def test_subscriber_lookups_are_cached_briefly(routes, fanout, capsys):
    subscribe(routes, "c1", tickers=["QXZ"])
    fake = FakeConnections()
    run(fanout, [kinesis_record(1, quote("QXZ", 1.0))], fake)
    run(fanout, [kinesis_record(2, quote("QXZ", 2.0))], fake)
    queries = [m["SubscriberQueries"] for m in _all_metrics(capsys.readouterr().out) if "SubscriberQueries" in m]
    assert queries == [2, 0]  # TICKER#QXZ and SECTOR#HEALTHCARE once, then from the cache
    assert len(fake.posts) == 2


def test_written_candles_go_to_ticker_and_sector_subscribers(routes, fanout):
    subscribe(routes, "ticker", tickers=["QXZ"])
    subscribe(routes, "sector", sectors=["HEALTHCARE"])
    fake = FakeConnections()
    records = [candle_record("QXZ"), candle_record("QXZ", "REMOVE"), {"eventName": "INSERT", "eventSource": "aws:dynamodb",
                                                                     "dynamodb": {"NewImage": {"ticker": {"S": "QXZ"}}}}]
    assert run(fanout, records, fake) == {"batchItemFailures": []}
    expected = {"type": "candle", "candle": {"ticker_symbol": "QXZ", "sector": "HEALTHCARE", "window_start": "2026-11-21T15:36:00Z",
                                             "window_end": "2026-11-21T15:37:00Z", "open": 84.51, "high": 84.9, "low": 84.2,
                                             "close": 84.63, "count": 42}}
    assert fake.received("ticker") == fake.received("sector") == [expected]


def test_an_empty_batch_pushes_nothing(fanout):
    fake = FakeConnections()
    assert run(fanout, [], fake) == {"batchItemFailures": []} and fake.posts == []


def _all_metrics(out: str) -> list[dict]:
    found = []
    for line in out.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            found.append({k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in document.items() if k != "_aws"})
    return found


def _metrics(out: str) -> dict:
    (metrics,) = [m for m in _all_metrics(out) if "PushesSent" in m]
    return metrics


def test_a_failed_lookup_costs_that_topics_pushes_only(routes, fanout, capsys):
    subscribe(routes, "c1", tickers=["QXZ"], sectors=["ENERGY"])
    real = fanout.index._query
    fanout.index._query = lambda topic: (_ for _ in ()).throw(RuntimeError("throttled")) if topic == "TICKER#QXZ" else real(topic)
    fake = FakeConnections()
    assert run(fanout, [kinesis_record(1, quote("QXZ", 1.0)), kinesis_record(2, quote("XOM", 2.0, "ENERGY"))], fake) == {"batchItemFailures": []}
    assert [m["quote"]["ticker_symbol"] for m in fake.received("c1")] == ["XOM"]
    metrics = _metrics(capsys.readouterr().out)
    assert (metrics["SubscriberLookupErrors"], metrics["TopicsUnanswered"]) == (1, 1)
