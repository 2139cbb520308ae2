"""Through the handler and the table: whatever Lambda does with a window — invocations of any size, the
window closed in several parts (ended early, a re-bisected final invoke), redelivered whole — the stored
candle equals a direct computation over the window's quotes in stream order, and alerts go out once."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from candles.candle_support import candles_in_table, event, ohlcc, received_alerts
from candles.test_window import as_records, expected_candles, quotes

_windows = itertools.count()


def fresh_window() -> dict[str, str]:
    n = next(_windows)
    return {"start": f"2026-11-21T{10 + n // 60:02d}:{n % 60:02d}:00Z", "end": f"2026-11-21T{10 + n // 60:02d}:{n % 60:02d}:59Z"}


# No shrinking: each example drives moto, and a shrink would take minutes (a failure prints its data).
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(stream=quotes, kpl_sizes=st.lists(st.integers(1, 3), max_size=60),
       plan=st.lists(st.tuples(st.integers(0, 60), st.sampled_from(["carry", "final", "early"])), max_size=5),
       replay=st.booleans())
def test_the_stored_candle_is_the_direct_computation(aggregator, context, deployment, alerts_queue, stream, kpl_sizes, plan, replay):
    window = fresh_window()
    records = as_records(stream, kpl_sizes)
    cuts = sorted({c % (len(records) + 1) for c, _ in plan} | {0, len(records)})
    kinds = dict((c % (len(records) + 1), k) for c, k in plan)
    state: dict = {}
    for start, end in zip(cuts, cuts[1:]):
        kind = kinds.get(end, "carry")
        final = kind != "carry" or end == len(records)
        response = aggregator.handler(json.loads(json.dumps(event(records[start:end], state, final, window, kind == "early"))), context)
        assert response["batchItemFailures"] == []
        state = json.loads(json.dumps(response["state"]))
    if replay:
        aggregator.handler(event(records, {}, True, window), context)
    table = {t: item for (t, w), item in candles_in_table(deployment).items() if w == window["start"]}
    expected = expected_candles(stream)
    exact = {t: tuple(Decimal(repr(v)) for v in e[:5]) for t, e in expected.items()}  # the decimals producers sent
    assert {t: ohlcc(item) for t, item in table.items()} == exact
    alerted = [body["ticker"] for body, _ in received_alerts(deployment, alerts_queue) if body["window_start"] == window["start"]]
    assert len(alerted) == len(set(alerted))  # at most one alert per ticker and window
