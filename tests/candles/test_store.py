"""CandlesTable writes: packs of 100 for a first close, the rule against what is stored for the rest."""

from __future__ import annotations

from candle_aggregator.candles import Candle
from candle_aggregator.store import CandleStore, WindowKey
from candles.candle_support import WINDOW, candles_in_table, ohlcc

KEY = WindowKey(WINDOW["start"], WINDOW["end"], 1797868620)


def candle(ticker: str, first: int, last: int, open_=10.0, close=11.0, count=2, high=None, low=None) -> Candle:
    return Candle(ticker, "TECHNOLOGY", open_, high or max(open_, close), low or min(open_, close), close, count, (first, 0), (last, 0))


def store_of(deployment, concurrency=4) -> tuple[CandleStore, list]:
    client = deployment.client("dynamodb")
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb", lambda model, **kw: calls.append(model.name))
    return CandleStore(client, deployment.physical["CandlesTable"], concurrency), calls


def test_thousands_of_tickers_close_in_packs_of_100_and_a_replay_changes_nothing(deployment):
    store, calls = store_of(deployment)
    candles = [candle(f"T{n:04d}", 10 + n, 20 + n) for n in range(1050)]
    written, requests, failure = store.write_window(candles, KEY)
    assert failure is None, failure
    assert len(written) == 1050 and {w.outcome for w in written.values()} == {"created"}
    assert requests == len(calls) == 11 and set(calls) == {"TransactWriteItems"}
    before = candles_in_table(deployment)
    written, _, failure = store.write_window(candles[:150], KEY)  # a replay of part of the window
    assert failure is None, failure
    assert {w.outcome for w in written.values()} == {"stale"}
    assert candles_in_table(deployment) == before


def test_a_re_bisected_final_invoke_replaces_the_partial_candle_with_the_fuller_one(deployment):
    store, _ = store_of(deployment)
    store.write_window([candle("B", 10, 20, 10.0, 12.0, 2)], KEY)  # the first half's final invoke
    written, _, _ = store.write_window([candle("B", 10, 30, 10.0, 9.0, 3, high=12.0)], KEY)
    assert written["B"].outcome == "replace"
    assert ohlcc(candles_in_table(deployment)[("B", WINDOW["start"])]) == (10, 12, 9, 9, 3)


def test_an_overlapping_candle_is_a_conflict_and_the_stored_one_stays(deployment):
    store, _ = store_of(deployment)
    store.write_window([candle("C", 10, 20)], KEY)
    before = candles_in_table(deployment)
    written, _, failure = store.write_window([candle("C", 15, 25, 50.0, 60.0)], KEY)
    assert failure is None and written["C"].outcome == "conflict"
    assert candles_in_table(deployment) == before


def test_a_rewrite_keeps_the_record_of_the_alert(deployment):
    store, _ = store_of(deployment)
    store.write_window([candle("D", 10, 20, 10.0, 20.0)], KEY)
    assert store.mark_alerted("D", KEY.start, "up", "2026-11-21T15:37:01Z") is True
    assert store.mark_alerted("D", KEY.start, "up", "2026-11-21T15:37:02Z") is False  # once
    written, _, _ = store.write_window([candle("D", 21, 30, 20.0, 21.0)], KEY)
    assert written["D"].outcome == "append" and written["D"].alerted
    item = candles_in_table(deployment)[("D", WINDOW["start"])]
    assert (item["alerted_at"], item["count"]) == ("2026-11-21T15:37:01Z", "4")
