"""Candle reconciliation (tickerstream_local.lake_candles) on a hand-built lake and Candles table."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal

import boto3
import pytest
from lake.lake_data import Sent, seq, write_lake

from tickerstream_local import lake_candles
from tickerstream_local.lake_candles import DIFFERENT, MISSING_IN_LAKE, MISSING_IN_TABLE

W = 60
DAY = "2026-11-21"
QUOTES = [
    # AAPL 15:36: two quotes of one PutRecords call, then one a millisecond before the window ends
    Sent("AAPL", "TECHNOLOGY", 100, f"{DAY} 15:36:10.000", seq(1)),
    Sent("AAPL", "TECHNOLOGY", 101.5, f"{DAY} 15:36:10.000", seq(2)),
    Sent("AAPL", "TECHNOLOGY", 99.25, f"{DAY} 15:36:59.999", seq(3)),
    # AAPL 15:37: the window's first millisecond
    Sent("AAPL", "TECHNOLOGY", 102, f"{DAY} 15:37:00.000", seq(4)),
    # MSFT 15:36: moto-style sequence numbers, "10" after "9"
    Sent("MSFT", "TECHNOLOGY", 400, f"{DAY} 15:36:30.000", "9"),
    Sent("MSFT", "TECHNOLOGY", 404, f"{DAY} 15:36:30.000", "10"),
    # BP: a sector whose partition slug differs from the sector itself
    Sent("BP", "OIL & GAS", 30.123456, f"{DAY} 15:37:45.500", seq(30)),
    # NFLX 15:38: still open when reconciling at 15:38:30
    Sent("NFLX", "TECHNOLOGY", 90, f"{DAY} 15:38:05.000", seq(20), sub=0),
    Sent("NFLX", "TECHNOLOGY", 91, f"{DAY} 15:38:05.000", seq(20), sub=1),
]
CLOSED_BEFORE = dt.datetime(2026, 11, 21, 15, 38, 30, tzinfo=dt.UTC)


def candle(ticker, start, sector, open_, high, low, close, count, first, last, first_sub=0, last_sub=0):
    """A Candles item as the contract describes CandleAggregator's writes."""
    end = (dt.datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ") + dt.timedelta(seconds=W)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "ticker": {"S": ticker}, "window_start": {"S": start}, "window_end": {"S": end}, "sector": {"S": sector},
        "open": {"N": open_}, "high": {"N": high}, "low": {"N": low}, "close": {"N": close}, "count": {"N": str(count)},
        "first_sequence_number": {"S": first}, "first_sub_sequence_number": {"N": str(first_sub)},
        "last_sequence_number": {"S": last}, "last_sub_sequence_number": {"N": str(last_sub)},
        "expires_at": {"N": "1798472220"},
    }


# Computed by hand from QUOTES.
EXPECTED = [
    candle("AAPL", "2026-11-21T15:36:00Z", "TECHNOLOGY", "100", "101.5", "99.25", "99.25", 3, seq(1), seq(3)),
    candle("AAPL", "2026-11-21T15:37:00Z", "TECHNOLOGY", "102", "102", "102", "102", 1, seq(4), seq(4)),
    candle("MSFT", "2026-11-21T15:36:00Z", "TECHNOLOGY", "400", "404", "400", "404", 2, "9", "10"),
    candle("BP", "2026-11-21T15:37:00Z", "OIL & GAS", "30.123456", "30.123456", "30.123456", "30.123456", 1,
           seq(30), seq(30)),
]
OPEN_WINDOW = candle("NFLX", "2026-11-21T15:38:00Z", "TECHNOLOGY", "90", "91", "90", "91", 2, seq(20), seq(20), 0, 1)


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory):
    return write_lake(tmp_path_factory.mktemp("lake"), QUOTES)


@pytest.fixture
def table(deployment):
    return deployment.ctx.refs["CandlesTable"]


def fill(table, items):
    client = boto3.client("dynamodb")
    for item in items:
        client.put_item(TableName=table, Item=item)
    return client


def test_the_lake_candles_are_the_hand_computed_ones(lake_dir):
    computed = lake_candles.lake_candles(lake_dir, W, CLOSED_BEFORE)
    expected = {(i["ticker"]["S"], i["window_start"]["S"]): i for i in EXPECTED}
    assert set(computed) == set(expected)  # NFLX's 15:38 window is still open
    for key, values in computed.items():
        item = expected[key]
        assert values["sector"] == item["sector"]["S"] and values["window_end"] == item["window_end"]["S"], key
        assert [values[n] for n in ("open", "high", "low", "close")] == [Decimal(item[n]["N"]) for n in ("open", "high", "low", "close")], key
        assert (values["count"], values["first_sequence_number"], values["last_sequence_number"]) == (
            int(item["count"]["N"]), item["first_sequence_number"]["S"], item["last_sequence_number"]["S"]), key


def test_equal_lake_and_table_have_no_differences(lake_dir, table):
    client = fill(table, EXPECTED + [OPEN_WINDOW])
    assert lake_candles.reconcile_candles(lake_dir, client, table, W, CLOSED_BEFORE) == []
    # once its window has closed, the NFLX candle (ordered by sub-sequence number) agrees too
    later = CLOSED_BEFORE + dt.timedelta(minutes=1)
    assert lake_candles.reconcile_candles(lake_dir, client, table, W, later) == []


def test_a_changed_close_and_a_missing_candle_are_reported(lake_dir, table):
    changed = candle("AAPL", "2026-11-21T15:36:00Z", "TECHNOLOGY", "100", "101.5", "99.25", "101.5", 3, seq(1), seq(2))
    client = fill(table, [changed, EXPECTED[1], EXPECTED[3]])  # MSFT's candle is missing
    differences = lake_candles.reconcile_candles(lake_dir, client, table, W, CLOSED_BEFORE)
    assert [(d.ticker, d.window_start, d.kind) for d in differences] == [
        ("AAPL", "2026-11-21T15:36:00Z", DIFFERENT), ("MSFT", "2026-11-21T15:36:00Z", MISSING_IN_TABLE)]
    assert {name: tuple(map(str, pair)) for name, pair in differences[0].fields.items()} == {
        "close": ("99.25", "101.5"), "last_sequence_number": (seq(3), seq(2))}
    assert "close lake=99.25 table=101.5" in str(differences[0])


def test_a_candle_the_lake_does_not_explain_is_reported(lake_dir, table):
    ghost = candle("ZZZ", "2026-11-21T15:30:00Z", "RETAIL", "1", "1", "1", "1", 1, seq(99), seq(99))
    client = fill(table, EXPECTED + [ghost])
    differences = lake_candles.reconcile_candles(lake_dir, client, table, W, CLOSED_BEFORE)
    assert [(d.ticker, d.kind) for d in differences] == [("ZZZ", MISSING_IN_LAKE)]


def test_a_quote_firehose_delivered_twice_counts_once(lake_dir, tmp_path, table):
    twice = tmp_path / "lake"
    shutil.copytree(lake_dir, twice)
    write_lake(twice, QUOTES[:3], object_name="tickerstream-LakeDeliveryStream-retry")
    client = fill(table, EXPECTED)
    assert lake_candles.reconcile_candles(twice, client, table, W, CLOSED_BEFORE) == []


def test_an_empty_lake_reports_every_closed_candle_of_the_table(tmp_path, table):
    client = fill(table, EXPECTED)
    differences = lake_candles.reconcile_candles(tmp_path, client, table, W, CLOSED_BEFORE)
    assert sorted(d.kind for d in differences) == [MISSING_IN_LAKE] * len(EXPECTED)
