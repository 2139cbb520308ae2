"""QuoteProcessor's write path at market scale: a 10,000-record batch over 5,000 tickers through the
handler, DynamoDB answered in-process after a fixed latency per request (the network and DynamoDB's
work, slept), for each way of writing: one transaction per ticker or packs of tickers, one unit at a
time or several.

Run: .venv/bin/python bench/bench_scale.py [--latency-ms 5] [--tickers 5000] [--records 10000] [--json]
(`make bench` runs it in a process of its own: it imports the handler as `app` and sets its knobs.)
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import REPO_ROOT, placeholder_environment

SECTORS = ["TECHNOLOGY", "HEALTHCARE", "ENERGY", "FINANCIAL", "UTILITIES", "REAL_ESTATE", "MATERIALS",
           "INDUSTRIALS", "CONSUMER", "TELECOM", "RETAIL"]


def batch(records: int, tickers: int) -> list[dict]:
    base = 49654545165112456784571549023486612048960102839364386818
    out = []
    for i in range(records):
        ticker = f"T{i % tickers:05d}"
        quote = {"ticker_symbol": ticker, "sector": SECTORS[(i % tickers) % len(SECTORS)], "change": 0.25, "price": 10 + i}
        sequence = str(base + i)
        out.append(
            {
                "kinesis": {
                    "partitionKey": ticker,
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(json.dumps(quote).encode()).decode(),
                    "approximateArrivalTimestamp": time.time(),
                },
                "eventID": f"shardId-000000000000:{sequence}",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/bench",
            }
        )
    return out


def slow_answers(client, latency_s: float) -> dict[str, int]:
    """Answer every request of a real botocore client with `{}` after `latency_s` (serialising,
    signing and parsing still run); count requests."""
    from botocore.awsrequest import AWSResponse

    counts = {"requests": 0}

    class _Raw:
        def stream(self, **_):
            yield b"{}"

    def answer(request, **_):
        counts["requests"] += 1  # under the GIL; += on an int in a dict is one bytecode-level race we accept
        time.sleep(latency_s)
        return AWSResponse(request.url, 200, {"x-amzn-RequestId": "bench"}, _Raw())

    client.meta.events.register("before-send", answer)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--tickers", type=int, default=5000)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()

    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                       "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "Bench",
                       "POWERTOOLS_LOG_LEVEL": "ERROR"})
    os.environ.update(placeholder_environment("QuoteProcessor"))
    sys.path[:0] = [str(REPO_ROOT / "src"), str(REPO_ROOT / "functions/quote_processor"), str(REPO_ROOT / "layers/shared")]
    import app  # the handler module, as Lambda imports it
    from tickerstream_local.functions import LocalContext

    counts = slow_answers(app.store._client, args.latency_ms / 1000)
    records = batch(args.records, args.tickers)
    context = LocalContext("bench-QuoteProcessor")
    modes = [("one transaction per ticker, sequential", 1, 1), ("one transaction per ticker, 16 at a time", 16, 1),
             ("packs of tickers, sequential", 1, 100), ("packs of tickers, 4 at a time", 4, 100)]
    if not args.json:
        print(f"{args.records} records, {args.tickers} tickers, {args.latency_ms} ms per DynamoDB request")
        print(f"{'mode':<44} {'µs/record':>10} {'requests':>9} {'seconds':>8}")
    figures: dict[str, float] = {}
    for name, concurrency, pack in modes:
        app.WRITE_CONCURRENCY, app.store.max_pack_tickers = concurrency, pack
        before = counts["requests"]
        started = time.perf_counter()
        response = app.handler({"Records": records}, context)
        elapsed = time.perf_counter() - started
        assert response == {"batchItemFailures": []}, response
        key = MODE_KEYS[name]
        figures[f"scale_{key}_us_per_record"] = elapsed / args.records * 1e6
        figures[f"scale_{key}_requests"] = counts["requests"] - before
        if not args.json:
            print(f"{name:<44} {elapsed / args.records * 1e6:>10.1f} {counts['requests'] - before:>9} {elapsed:>8.2f}")
    if args.json:
        print(json.dumps(figures))


MODE_KEYS = {"one transaction per ticker, sequential": "per_ticker_sequential",
             "one transaction per ticker, 16 at a time": "per_ticker_16",
             "packs of tickers, sequential": "packs_sequential",
             "packs of tickers, 4 at a time": "packs_4"}


def run() -> dict[str, float]:
    """For bench/run.py: 10,000 records over 5,000 tickers, 5 ms per request, in a process of its own."""
    done = subprocess.run([sys.executable, str(Path(__file__)), "--json"], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(figures: dict[str, float]) -> list[tuple[str, str, str]]:
    rows = [("QuoteProcessor write path, 10,000 records over 5,000 tickers, 5 ms per DynamoDB request", "", "")]
    for name, key in MODE_KEYS.items():
        rows.append((f"  {name}: µs/record (write requests)",
                     f"{figures[f'scale_{key}_us_per_record']:,.0f} ({figures[f'scale_{key}_requests']:,.0f})", ""))
    rows.append(("  packs ÷ one transaction per ticker (sequential)",
                 f"{figures['scale_per_ticker_sequential_us_per_record'] / figures['scale_packs_sequential_us_per_record']:.0f}× faster", ""))
    return rows


if __name__ == "__main__":
    main()
