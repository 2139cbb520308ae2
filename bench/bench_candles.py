"""CandleAggregator on a 10,000-record batch beside the floor (decode only), and the write requests it
sends to close a window (demo tickers, and 5,000 tickers on one shard)."""

from __future__ import annotations

import base64
import json
import os
import sys
import time

from common import REPO_ROOT, best_of, demo_kinesis_batch

BATCH = 10_000
MANY_TICKERS = 5_000


def _candle_path():
    sys.path[:0] = [str(REPO_ROOT / "functions/candle_aggregator"), str(REPO_ROOT / "layers/shared")]
    from candle_aggregator.store import CandleStore, WindowKey
    from candle_aggregator.window import aggregate, candles_of, dump_state, load_state, state_bytes

    return aggregate, candles_of, dump_state, load_state, state_bytes, CandleStore, WindowKey


def _many_tickers_batch() -> list[dict]:
    base = 49654545165112456784571549023486612048960102839364386818
    records = []
    for i in range(MANY_TICKERS * 2):
        quote = {"ticker_symbol": f"T{i % MANY_TICKERS:04d}", "sector": "TECHNOLOGY", "change": 0.1, "price": 10 + i % 7}
        sequence = str(base + i * 10**20)
        records.append({"kinesis": {"sequenceNumber": sequence, "data": base64.b64encode(json.dumps(quote).encode()).decode(),
                                    "approximateArrivalTimestamp": 1763700000.0, "partitionKey": quote["ticker_symbol"]}})
    return records


def run() -> dict[str, float]:
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    from bench_processor import StubbedClient

    aggregate, candles_of, dump_state, load_state, state_bytes, CandleStore, WindowKey = _candle_path()
    records = demo_kinesis_batch(BATCH)
    window = WindowKey("2026-11-21T15:36:00Z", "2026-11-21T15:37:00Z", 1797868620)
    dynamodb = StubbedClient("dynamodb")

    def floor():
        for record in records:
            json.loads(base64.b64decode(record["kinesis"]["data"]))

    def invocation():  # one mid-window invocation: state in, aggregate, state out
        working = load_state(json.loads(json.dumps(dump_state({}, window.start))), window.start)
        aggregate(records, working)
        json.dumps(dump_state(working, window.start))

    requests = []

    def final_invocation():  # the window's final invoke: aggregate and write every candle
        before = dynamodb.requests
        working: dict = {}
        aggregate(records, working)
        written, _, failure = CandleStore(dynamodb.client, "bench", concurrency=1).write_window(candles_of(working), window)
        assert failure is None
        requests.append((len(written), dynamodb.requests - before))

    invocation()
    final_invocation()
    timings = {"floor": [], "invocation": [], "final": []}
    for _ in range(5):
        timings["floor"].append(best_of(floor, 1))
        timings["invocation"].append(best_of(invocation, 1))
        timings["final"].append(best_of(final_invocation, 1))
    per_record = {name: min(values) / BATCH * 1e6 for name, values in timings.items()}
    demo_tickers, demo_requests = requests[-1]

    many = _many_tickers_batch()
    working: dict = {}
    aggregate(many, working)
    many_state = state_bytes(dump_state(working, window.start))
    before = dynamodb.requests
    started = time.perf_counter()
    written, _, failure = CandleStore(dynamodb.client, "bench", concurrency=1).write_window(candles_of(working), window)
    many_write_seconds = time.perf_counter() - started
    assert failure is None and len(written) == MANY_TICKERS
    return {
        "candles_floor_us_per_record": per_record["floor"],
        "candles_invocation_us_per_record": per_record["invocation"],
        "candles_final_invocation_us_per_record": per_record["final"],
        "candles_vs_floor_ratio": per_record["invocation"] / per_record["floor"],
        "candles_demo_tickers": demo_tickers,
        "candles_demo_write_requests_per_window": demo_requests,
        "candles_5000_tickers_write_requests_per_window": dynamodb.requests - before,
        "candles_5000_tickers_state_kib": many_state / 1024,
        "candles_5000_tickers_write_build_seconds": many_write_seconds,
    }


def table(r: dict[str, float]) -> list[tuple[str, str, str]]:
    return [
        ("Floor: base64 + json.loads per record (10,000-record batch)", f"{r['candles_floor_us_per_record']:.2f} µs/record", "—"),
        ("CandleAggregator mid-window invocation (state in, aggregate, state out)",
         f"{r['candles_invocation_us_per_record']:.2f} µs/record ({r['candles_vs_floor_ratio']:.1f}× floor)", "≤ 3× floor"),
        ("CandleAggregator final invocation (aggregate + write every candle, stubbed DynamoDB)",
         f"{r['candles_final_invocation_us_per_record']:.2f} µs/record", "—"),
        (f"Write requests to close a window: demo batch ({int(r['candles_demo_tickers'])} tickers)",
         f"{int(r['candles_demo_write_requests_per_window'])}", "⌈tickers / 100⌉"),
        ("Write requests to close a window: 5,000 tickers on one shard",
         f"{int(r['candles_5000_tickers_write_requests_per_window'])}", "50"),
        ("Window state with 5,000 tickers (56-digit sequence numbers)", f"{r['candles_5000_tickers_state_kib']:.0f} KiB", "< 1 MB (Lambda's cap)"),
    ]
