"""`tickerstream produce`: send demo quotes to the stream the way the Firehose console's demo does."""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tickerstream.kinesis_put import MAX_RECORDS_PER_REQUEST, PutResult, put_records
from tickerstream_cli.demo_quotes import DemoQuotes, DemoRecord


@dataclass
class ProduceReport:
    sent: int = 0  # records Kinesis accepted
    failed: int = 0  # records given up on after retries
    retried: int = 0  # extra attempts spent on partially failed calls
    invalid_sent: int = 0  # deliberately invalid records accepted by Kinesis
    elapsed: float = 0.0
    last_quotes: dict[str, dict] = field(default_factory=dict)  # ticker -> last accepted quote
    failures: dict[str, int] = field(default_factory=dict)  # error code -> records

    @property
    def records_per_second(self) -> float:
        return self.sent / self.elapsed if self.elapsed else 0.0


def produce(
    client: Any,
    stream_name: str,
    records: Iterable[DemoRecord],
    *,
    count: int | None = None,
    duration: float | None = None,
    rate: float | None = None,
    chunk: int = MAX_RECORDS_PER_REQUEST,
    on_progress: Callable[[ProduceReport], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    put: Callable[..., list[PutResult]] = put_records,
) -> ProduceReport:
    """Send records until `count` are sent or `duration` passes, at most `rate` records/s."""
    if count is None and duration is None:
        raise ValueError("give a count, a duration, or both")
    report = ProduceReport()
    started = clock()
    source = iter(records)
    chunk = min(chunk, MAX_RECORDS_PER_REQUEST)
    if rate:
        chunk = max(1, min(chunk, int(rate / 10) or 1))  # ~10 calls a second keeps the rate smooth
    attempted = 0
    while True:
        now = clock()
        if duration is not None and now - started >= duration:
            break
        size = chunk if count is None else min(chunk, count - attempted)
        if size <= 0:
            break
        if rate:
            due = started + attempted / rate
            if due > now:
                sleep(due - now)
        batch = list(itertools.islice(source, size))
        attempted += len(batch)
        results = put(client, stream_name, [(r.partition_key, r.data) for r in batch])
        for record, result in zip(batch, results, strict=True):
            report.retried += max(0, result.attempts - 1)
            if result.ok:
                report.sent += 1
                if record.valid:
                    report.last_quotes[record.quote["ticker_symbol"]] = record.quote
                else:
                    report.invalid_sent += 1
            else:
                report.failed += 1
                report.failures[result.error_code or "Unknown"] = report.failures.get(result.error_code or "Unknown", 0) + 1
        report.elapsed = clock() - started
        if on_progress:
            on_progress(report)
    report.elapsed = clock() - started
    return report


def add_produce_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("produce", help="send demo quotes to the quote stream")
    parser.add_argument("--count", type=int, help="records to send (default 1000 unless --duration)")
    parser.add_argument("--duration", type=float, help="seconds to keep sending")
    parser.add_argument("--rate", type=float, help="records per second at most (default: as fast as possible)")
    parser.add_argument("--stream-name", help="Kinesis stream name (default: from --stack-name or the local stack)")
    parser.add_argument("--stack-name", help="deployed stack whose QuoteStreamName output to use")
    parser.add_argument("--endpoint-url", help="AWS endpoint (e.g. the local stack's moto server)")
    parser.add_argument("--region", help="AWS region")
    parser.add_argument("--invalid-fraction", type=float, default=0.0, help="fraction of deliberately invalid records (0-1)")
    parser.add_argument("--seed", type=int, help="random seed, for reproducible runs")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tickerstream_cli.config import resolve

    console = Console(stderr=True)
    target = resolve(
        explicit=args.stream_name,
        output_key="QuoteStreamName",
        logical_id="QuoteStream",
        stack_name=args.stack_name,
        region=args.region,
        endpoint_url=args.endpoint_url,
    )
    count = args.count if args.count is not None or args.duration else 1000
    console.print(f"Sending to [bold]{target.value}[/] ({target.source})")
    records = DemoQuotes(seed=args.seed, invalid_fraction=args.invalid_fraction)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.0f} rec/s"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("producing", total=count or None, rate=0.0)

        def show(report: ProduceReport) -> None:
            progress.update(task, completed=report.sent + report.failed, rate=report.records_per_second)

        report = produce(
            target.client("kinesis"), target.value, records,
            count=count, duration=args.duration, rate=args.rate, on_progress=show,
        )
    console.print(
        f"sent {report.sent} (of which {report.invalid_sent} deliberately invalid), retried {report.retried}, "
        f"failed {report.failed}, {report.records_per_second:,.0f} records/s"
    )
    for code, records_failed in sorted(report.failures.items()):
        console.print(f"  [red]{records_failed} failed with {code}[/]")
    return 1 if report.failed else 0
