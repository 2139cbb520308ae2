"""Producer throughput into an in-process moto stream: plain (one Kinesis record per quote, at most one per
ticker per call to keep order) vs KPL-aggregated, for the seed's 32 tickers and a 5,000-ticker universe.

    .venv/bin/python bench/bench_producer.py [--records 20000]   # alone: prints a table
    make bench                                                   # with the others: results.json, README

Every run is read back and de-aggregated: the quote count must match.
"""

from __future__ import annotations

import argparse
import os
import time

for _name, _value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                      "AWS_DEFAULT_REGION": "us-east-1"}.items():
    os.environ.setdefault(_name, _value)


def read_back(kinesis, stream: str) -> int:
    from tickerstream.kpl import deaggregate, is_aggregated

    count = 0
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while True:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            count += sum(len(deaggregate(r["Data"])) if is_aggregated(r["Data"]) else 1 for r in page["Records"])
            if not page["Records"]:
                break
            iterator = page["NextShardIterator"]
    return count


def one_run(tickers: int | None, aggregate: bool, records: int) -> tuple[float, int, int]:
    import boto3
    from moto import mock_aws

    from tickerstream_cli.demo_quotes import DemoQuotes, synthetic_universe
    from tickerstream_cli.producer import produce
    from tickerstream_local.stack import deploy

    with mock_aws():
        deployment = deploy(boto3.Session(region_name="us-east-1"))  # the template's QuoteStream
        kinesis, stream = deployment.client("kinesis"), deployment.physical["QuoteStream"]
        universe = synthetic_universe(tickers, seed=1) if tickers else None
        started = time.perf_counter()
        report = produce(kinesis, stream, DemoQuotes(seed=1, tickers=universe), count=records, aggregate=aggregate)
        elapsed = time.perf_counter() - started
        assert (report.sent, report.failed) == (records, 0), report
        assert read_back(kinesis, stream) == records
        return records / elapsed, report.kinesis_records, records


UNIVERSES = (None, 5000)  # the seed's 32 tickers, a synthetic market
BENCH_RECORDS = 20_000


def run() -> dict[str, float]:
    """For bench/run.py: quotes/s and Kinesis records per universe and mode, side by side in one run."""
    figures: dict[str, float] = {}
    for tickers in UNIVERSES:
        for aggregate in (False, True):
            rate, kinesis_records, _ = one_run(tickers, aggregate, BENCH_RECORDS)
            name = f"producer_{tickers or 32}_tickers_{'aggregated' if aggregate else 'plain'}"
            figures[f"{name}_quotes_per_s"] = rate
            figures[f"{name}_kinesis_records"] = kinesis_records
    for tickers in UNIVERSES:
        prefix = f"producer_{tickers or 32}_tickers"
        figures[f"{prefix}_aggregation_speedup"] = (figures[f"{prefix}_aggregated_quotes_per_s"]
                                                    / figures[f"{prefix}_plain_quotes_per_s"])
    return figures


def table(figures: dict[str, float]) -> list[tuple[str, str, str]]:
    rows = [(f"producer into in-process moto, {BENCH_RECORDS:,} quotes, read back and counted", "", "")]
    for tickers in UNIVERSES:
        prefix = f"producer_{tickers or 32}_tickers"
        for mode in ("plain", "aggregated"):
            rows.append((f"  {tickers or 32} tickers, {mode}: quotes/s (Kinesis records)",
                         f"{figures[f'{prefix}_{mode}_quotes_per_s']:,.0f} ({figures[f'{prefix}_{mode}_kinesis_records']:,.0f})",
                         ""))
        rows.append((f"  {tickers or 32} tickers: aggregated ÷ plain", f"{figures[f'{prefix}_aggregation_speedup']:.1f}×", ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    print("| universe | mode | quotes | Kinesis records | quotes/s |\n|---|---|---:|---:|---:|")
    for tickers in (None, 5000):
        for aggregate in (False, True):
            rate, kinesis_records, quotes = one_run(tickers, aggregate, args.records)
            print(f"| {tickers or 32} tickers | {'aggregated' if aggregate else 'plain'} | {quotes:,} | "
                  f"{kinesis_records:,} | {rate:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
