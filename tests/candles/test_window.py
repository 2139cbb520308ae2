"""Window aggregation and its state, without AWS: candles equal a direct computation over the records in
stream order, however Lambda splits the window into invocations; the state stays small."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from candle_aggregator.candles import Candle, Merge, merge_kind, merged
from candle_aggregator.window import aggregate, candles_of, dump_state, load_state, state_bytes
from candles.candle_support import WINDOW, kpl_record, quote, record

TICKERS = ["AAPL", "MSFT", "X", "BRK.B"]
prices = st.integers(min_value=1, max_value=10**9).map(lambda n: n / 10**4)  # 4 decimal places, > 0
quotes = st.lists(st.tuples(st.sampled_from(TICKERS), prices, st.sampled_from(["TECHNOLOGY", "ENERGY"])), min_size=1, max_size=60)


def expected_candles(stream: list[tuple[str, float, str]]) -> dict[str, tuple]:
    """Open/high/low/close/count straight from the quotes in stream order."""
    out: dict[str, list] = {}
    for ticker, price, sector in stream:
        prices_of = out.setdefault(ticker, [])
        prices_of.append((price, sector))
    return {t: (ps[0][0], max(p for p, _ in ps), min(p for p, _ in ps), ps[-1][0], len(ps), ps[-1][1]) for t, ps in out.items()}


def as_records(stream, kpl_sizes):
    """Records in stream order; runs of quotes go into KPL aggregates of the sizes drawn."""
    records, index, position = [], 0, 0
    sizes = iter(kpl_sizes)
    while position < len(stream):
        size = min(next(sizes, 1), len(stream) - position)
        chunk = [quote(t, p, s) for t, p, s in stream[position : position + size]]
        records.append(kpl_record(index, chunk) if size > 1 else record(index, json.dumps(chunk[0]).encode(), chunk[0]["ticker_symbol"]))
        index += 1
        position += size
    return records


@settings(max_examples=150, deadline=None)
@given(stream=quotes, kpl_sizes=st.lists(st.integers(1, 4), max_size=60), cuts=st.lists(st.integers(0, 60), max_size=6),
       redeliver=st.lists(st.integers(0, 60), max_size=3))
def test_candle_equals_a_direct_computation_whatever_the_split(stream, kpl_sizes, cuts, redeliver):
    records = as_records(stream, kpl_sizes)
    bounds = sorted({0, len(records), *(c % (len(records) + 1) for c in cuts)})
    state: dict = {}
    for start, end in zip(bounds, bounds[1:]):
        # a redelivery may start the next invocation earlier than where the last one ended
        back = max([start - r % (start + 1) for r in redeliver] or [start])
        working = load_state(json.loads(json.dumps(state)), WINDOW["start"])
        aggregate(records[min(back, start):end], working)
        state = dump_state(working, WINDOW["start"])
    got = {c.ticker: (c.open, c.high, c.low, c.close, c.count, c.sector) for c in candles_of(load_state(state, WINDOW["start"]))}
    assert got == expected_candles(stream)


def test_state_round_trips_through_json():
    working: dict = {}
    aggregate([kpl_record(0, [quote("A", 1.5), quote("B", 2.0, "ENERGY")]), record(1, json.dumps(quote("A", 1.25)).encode())], working)
    state = dump_state(working, WINDOW["start"])
    assert load_state(json.loads(json.dumps(state)), WINDOW["start"]) == working


def test_a_state_of_another_window_is_refused():
    import pytest

    from candle_aggregator.window import StaleState

    state = dump_state({"A": ["S", 1, 1, 1, 1, 1, 5, 0, 5, 0]}, "2026-11-21T15:35:00Z")
    with pytest.raises(StaleState):
        load_state(state, WINDOW["start"])


def test_five_thousand_tickers_with_worst_case_sequence_numbers_stay_well_under_one_megabyte():
    """Lambda ends a window early past 1 MB of state per shard. Worst case per ticker: a 10-character
    symbol, 18-significant-digit prices, 56-digit sequence numbers spread over their whole range (so the
    base-36 offsets are as long as they get), KPL sub-sequence numbers, a 64-character sector."""
    lowest, highest = 10**55, 10**56 - 1
    span = highest - lowest
    working = {}
    for n in range(5000):
        ticker = f"T{n:09d}"
        first = lowest + span * n // 5000
        last = highest - span * n // 10000
        sector = f"{'S' * 60}{n % 11:04d}"
        working[ticker] = [sector, 999999999999.999999, 999999999999.999999, 0.000001, 123456789012.345678, 9999,
                           first, 4294967295, last, 4294967295]
    state = dump_state(working, WINDOW["start"])
    size = state_bytes(state)
    assert size < 1_000_000, size
    assert load_state(json.loads(json.dumps(state)), WINDOW["start"]) == working
    # realistic values (4-letter symbols, prices of 2 places, first and last 10**24 apart): about half
    base = 49654545165112456784571549023486612048960102839364386818
    typical = {f"{n:04d}": ["TECHNOLOGY", 84.51, 86.0, 83.2, 85.17, 12, base + n * 10**20, 0, base + n * 10**20 + 10**24, 0]
               for n in range(5000)}
    assert state_bytes(dump_state(typical, WINDOW["start"])) < 550_000


C = Candle


def candle(first, last, open_=10.0, close=11.0, high=12.0, low=9.0, count=3):
    return C("A", "S", open_, high, low, close, count, (first, 0), (last, 0))


def test_merge_rule():
    stored = candle(10, 20)
    assert merge_kind(stored, candle(10, 20)) is Merge.STALE  # a replay
    assert merge_kind(stored, candle(12, 18)) is Merge.STALE  # part of what is stored
    assert merge_kind(stored, candle(21, 30)) is Merge.APPEND
    assert merge_kind(stored, candle(1, 9)) is Merge.PREPEND
    assert merge_kind(stored, candle(10, 25)) is Merge.REPLACE  # a fuller recomputation
    assert merge_kind(stored, candle(15, 25)) is Merge.CONFLICT
    union = merged(stored, candle(21, 30, open_=20.0, close=5.0, high=21.0, low=4.0, count=2), Merge.APPEND)
    assert (union.open, union.high, union.low, union.close, union.count, union.first, union.last) == (10.0, 21.0, 4.0, 5.0, 5, (10, 0), (30, 0))


def test_window_bounds_are_stored_as_whole_seconds_utc():
    from candle_aggregator.window import Window

    window = Window.from_event({"window": {"start": "2026-11-21T15:36:00.000Z", "end": "2026-11-21T16:37:00+01:00"},
                                "isFinalInvokeForWindow": True})
    assert (window.start, window.end, window.closes) == ("2026-11-21T15:36:00Z", "2026-11-21T15:37:00Z", True)
