"""End-to-end local throughput and latency: produce → QuoteProcessor applied, and → delivered to the S3
lake, through the whole local stack (moto server, event-source mappings, Firehose), zero loss reconciled.

Runs side by side in one process tree:
- the seed's 32 tickers, the producer as shipped (KPL-aggregated) — the figure issue 9 asks to keep;
- the seed's 32 tickers, plain (one Kinesis record per quote, at most one per ticker per call) — the
  producer of before, for the ratio;
- a market-sized universe of 5,000 tickers, aggregated — the issue's ≥ 2,000 quotes/s target.

Latency is per quote, from the Kinesis record's arrival (its approximateArrivalTimestamp, stamped by the
local Kinesis when PutRecords stores it) to the moment QuoteProcessor returned from the invocation that
applied it; an aggregate's quotes share their record's arrival."""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import logging
import multiprocessing
import os
import statistics
import threading
import time
from typing import Any

INVALID_FRACTION = 0.02
RUNS = (
    # (result prefix, label, tickers, quotes, aggregate)
    ("local_32_aggregated", "32 tickers, producer as shipped (KPL-aggregated)", 32, 10_000, True),
    ("local_32_plain", "32 tickers, plain producer (one record per quote)", 32, 10_000, False),
    ("local_5000_aggregated", "5,000 tickers, producer as shipped (KPL-aggregated)", 5_000, 20_000, True),
)
TARGET_QUOTES_PER_S = 2_000


def _wait(condition, timeout: float = 300.0, step: float = 0.02) -> float:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("local stack did not finish in time")
        time.sleep(step)
    return time.time()


def _produce_in_own_process(endpoint_url: str, stream_name: str, tickers: int, quotes: int, aggregate: bool):
    """A producer is its own program in real life; here too, so it does not share the stack's GIL."""
    import boto3

    from tickerstream_cli.demo_quotes import DemoQuotes, synthetic_universe, universe
    from tickerstream_cli.producer import produce

    client = boto3.client("kinesis", endpoint_url=endpoint_url, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    names = universe() if tickers == len(universe()) else synthetic_universe(tickers, seed=11)
    source = DemoQuotes(seed=11, invalid_fraction=INVALID_FRACTION, tickers=names)
    return produce(client, stream_name, source, count=quotes, aggregate=aggregate)


class AppliedClock:
    """Wraps QuoteProcessor's handler: when an invocation returns, each of its records not reported as
    failed (and not after a failure: the mapping retries from there) is applied; keep arrival → applied."""

    def __init__(self, handler: Any) -> None:
        from tickerstream.kpl import deaggregate, is_aggregated

        self._handler, self._deaggregate, self._is_aggregated = handler, deaggregate, is_aggregated
        self._lock = threading.Lock()
        self.latencies: list[tuple[float, int]] = []  # (seconds from arrival to applied, quotes it carried)
        self._seen: set[tuple[str, str]] = set()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        import base64

        response = self._handler(event, context)
        applied_at = time.time()
        failures = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
        with self._lock:
            for record in event["Records"]:
                kinesis = record["kinesis"]
                if kinesis["sequenceNumber"] in failures:
                    break
                position = (record["eventID"], kinesis["sequenceNumber"])
                if position in self._seen:
                    continue
                self._seen.add(position)
                data = base64.b64decode(kinesis["data"])
                quotes = len(self._deaggregate(data)) if self._is_aggregated(data) else 1
                self.latencies.append((applied_at - kinesis["approximateArrivalTimestamp"], quotes))
        return response

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        total = sum(quotes for _, quotes in ordered)
        running = 0
        for latency, quotes in ordered:
            running += quotes
            if running >= fraction * total:
                return latency
        return ordered[-1][0] if ordered else float("nan")


def _one_run(tickers: int, quotes: int, aggregate: bool) -> dict[str, float]:
    from tickerstream_cli.demo import reconcile
    from tickerstream_local.runner import LocalStack

    # the functions' EMF metrics and logs go to stdout, as in Lambda; keep them out of the report
    with contextlib.redirect_stdout(io.StringIO()), LocalStack(api_port=0, moto_port=0, state_file=None) as stack:
        processor = [m for m in stack.mappings if m.function_id == "QuoteProcessor"]
        clock = AppliedClock(processor[0].handler)
        for mapping in processor:
            mapping.handler = clock
        hoses = stack.firehoses
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pool.submit(int, 0).result()  # the producer process is up before the clock starts
            started = time.time()
            report = pool.submit(_produce_in_own_process, stack.deployment.endpoint_url,
                                 stack.deployment.physical["QuoteStream"], tickers, quotes, aggregate).result()
            produced = time.time()
        applied = _wait(lambda: sum(m.stats.records_checkpointed for m in processor) >= report.kinesis_records)
        stack.drain()  # flushes Firehose buffers instead of waiting out their 60 s interval
        delivered = _wait(lambda: sum(h.stats.delivered + h.stats.failed for h in hoses) >= report.sent)
        failed_checks = [f"{name}: {detail}" for name, passed, detail in reconcile(report, stack).checks if not passed]
        if failed_checks or report.failed:
            raise AssertionError(f"records lost or duplicated: {failed_checks}, {report.failed} not sent")
        esm, fh = [m.stats for m in processor], [h.stats for h in hoses]
        latencies = [latency for latency, _ in clock.latencies]
        return {
            "quotes": report.sent,
            "tickers": tickers,
            "kinesis_records": report.kinesis_records,
            "produce_quotes_per_s": report.sent / (produced - started),
            "applied_quotes_per_s": report.sent / (applied - started),
            "delivered_quotes_per_s": report.sent / (delivered - started),
            "latency_p50_s": clock.percentile(0.50),
            "latency_p95_s": clock.percentile(0.95),
            "latency_max_s": max(latencies),
            "latency_mean_s": statistics.fmean(latencies),
            "time_produce_s": produced - started,
            "time_esm_get_records_s": sum(s.fetch_seconds for s in esm),
            "time_quote_processor_s": sum(s.handler_seconds for s in esm),
            "esm_invocations": sum(s.invocations for s in esm),
            "time_firehose_read_s": sum(s.read_seconds for s in fh),
            "time_firehose_transform_s": sum(s.invoke_seconds for s in fh),
            "time_firehose_write_s": sum(s.write_seconds for s in fh),
            "lost_quotes": 0,
        }


def run() -> dict[str, float]:
    os.environ.update({"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"})
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    results: dict[str, float] = {}
    for prefix, _, tickers, quotes, aggregate in RUNS:
        results.update({f"{prefix}_{k}": v for k, v in _one_run(tickers, quotes, aggregate).items()})
    results["local_32_aggregation_speedup"] = (results["local_32_aggregated_applied_quotes_per_s"]
                                               / results["local_32_plain_applied_quotes_per_s"])
    return results


def table(r: dict[str, float]) -> list[tuple[str, str, str]]:
    rows = [("local stack end to end (2 % invalid, producer in its own process, zero loss reconciled)", "", "")]
    target = f"≥ {TARGET_QUOTES_PER_S:,} quotes/s"
    for prefix, label, _, _, _ in RUNS:
        if f"{prefix}_quotes" not in r:
            continue
        aim = target if prefix == "local_5000_aggregated" else ""
        rows += [
            (f"  {label}: {int(r[prefix + '_quotes']):,} quotes in {int(r[prefix + '_kinesis_records']):,} Kinesis records", "", ""),
            ("    produce → applied by QuoteProcessor", f"{r[prefix + '_applied_quotes_per_s']:,.0f} quotes/s", aim),
            ("    produce → delivered to the S3 lake (buffers flushed)", f"{r[prefix + '_delivered_quotes_per_s']:,.0f} quotes/s", aim),
            ("    latency arrival → applied, p50 / p95",
             f"{r[prefix + '_latency_p50_s'] * 1000:,.0f} / {r[prefix + '_latency_p95_s'] * 1000:,.0f} ms", ""),
            ("    quotes lost or duplicated (reconciled)", f"{int(r[prefix + '_lost_quotes'])}", "0"),
            (f"    time: PutRecords {r[prefix + '_time_produce_s']:.2f} s, ESM GetRecords {r[prefix + '_time_esm_get_records_s']:.2f} s, "
             f"QuoteProcessor {r[prefix + '_time_quote_processor_s']:.2f} s ({int(r[prefix + '_esm_invocations'])} invocations)", "", ""),
        ]
    if "local_32_aggregation_speedup" in r:
        rows.append(("  32 tickers: aggregated ÷ plain, applied", f"{r['local_32_aggregation_speedup']:.2f}×", "≥ 1×"))
    return rows
