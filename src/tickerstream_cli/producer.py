"""`tickerstream produce`: send demo quotes (or replay a file) to the quote stream.

By default user records are KPL-aggregated as the Kinesis Producer Library does it: the quotes bound for
one shard travel together in Kinesis records of up to 1 MiB, each user record keeping its ticker as its
own partition key (QuoteProcessor and Firehose de-aggregate). So a call is not capped at one record per
ticker, and a market of thousands of tickers still fills few, large records. Where the shards cannot be
listed, each ticker's quotes are aggregated on their own. Order per ticker holds under partial failures:
``put_records`` resends a failed Kinesis record whole, and sends nothing later of the same record key
(a shard's first ticker in the window) until it has succeeded or finally failed; the next
window of quotes goes out only after the current one is settled. Delivery is at least once, as with
any Kinesis producer (the KPL included): a call that timed out after Kinesis stored it is sent again,
and then its records appear twice, the copy right after the original and before anything later of the
same ticker. The latest quote per ticker ends the same; what adds quotes up (sector summaries, the
lake) sees the repeat. Per-entry failures (throttling) never duplicate: a failed entry was not stored.
``--plain`` sends one Kinesis record per quote, for consumers that cannot de-aggregate.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tickerstream.kinesis_put import MAX_RECORD_BYTES, MAX_RECORDS_PER_REQUEST, PutResult, put_records
from tickerstream.kpl import pack_keyed
from tickerstream_cli.config import ConfigError, explain_code
from tickerstream_cli.demo_quotes import DemoQuotes, DemoRecord, synthetic_universe
from tickerstream_cli.shards import shard_router

# User records gathered before aggregating: big enough to fill calls for thousands of tickers, small
# enough (~1 MB of quotes) that a window is settled well within a second.
AGGREGATION_WINDOW = 10_000


@dataclass
class ProduceReport:
    sent: int = 0  # user records (quotes) Kinesis accepted
    failed: int = 0  # user records given up on after retries
    retried: int = 0  # extra times user records were carried by a call (an aggregate counts each it holds)
    invalid_sent: int = 0  # accepted records that are not valid quotes (deliberately, or as found in a file)
    kinesis_records: int = 0  # Kinesis records accepted: fewer than `sent` when aggregated
    elapsed: float = 0.0
    last_quotes: dict[str, dict] = field(default_factory=dict)  # ticker -> last accepted quote
    failures: dict[str, int] = field(default_factory=dict)  # error code -> user records
    stopped_by: str | None = None  # "code: message" when a call failed whole with an error no retry helps

    @property
    def records_per_second(self) -> float:
        return self.sent / self.elapsed if self.elapsed else 0.0


def plain_entries(batch: Sequence[DemoRecord]) -> tuple[list[tuple[str, bytes]], list[list[DemoRecord]]]:
    return [(r.partition_key, r.data) for r in batch], [[r] for r in batch]


def aggregated_entries(
    batch: Sequence[DemoRecord], record_limit: int = MAX_RECORD_BYTES, shard_of: Callable[[str], str] | None = None
) -> tuple[list[tuple[str, bytes]], list[list[DemoRecord]]]:
    """Kinesis records for ``batch``: the quotes bound for one shard (``shard_of``; one ticker's when it
    is None), in order, packed into as few records as fit 1 MiB. Every record of a group is sent under
    the group's first partition key, which routes it to that shard, and ``put_records`` sends a key's
    records strictly one after another, so each ticker's quotes stay in order even when a call fails."""
    groups: dict[str, list[DemoRecord]] = {}
    for record in batch:
        group = shard_of(record.partition_key) if shard_of else record.partition_key
        groups.setdefault(group, []).append(record)
    entries: list[tuple[str, bytes]] = []
    carried: list[list[DemoRecord]] = []
    for records in groups.values():
        record_key = records[0].partition_key
        start = 0
        for data, count in pack_keyed(record_key, [(r.partition_key, r.data) for r in records], record_limit):
            entries.append((record_key, data))
            carried.append(records[start : start + count])
            start += count
    return entries, carried


def produce(
    client: Any,
    stream_name: str,
    records: Iterable[DemoRecord],
    *,
    count: int | None = None,
    duration: float | None = None,
    rate: float | None = None,
    chunk: int = MAX_RECORDS_PER_REQUEST,
    aggregate: bool = False,
    window: int = AGGREGATION_WINDOW,
    record_limit: int = MAX_RECORD_BYTES,  # bytes per Kinesis record; smaller only in tests
    on_progress: Callable[[ProduceReport], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    put: Callable[..., list[PutResult]] = put_records,
) -> ProduceReport:
    """Send records until `count` are sent, `duration` passes or `records` ends, at most `rate` records/s.

    Stops early when a whole call fails with one error no retry can fix (a missing stream, access
    denied): `stopped_by` says which; missing credentials or region raise ConfigError at once.
    """
    if count is None and duration is None:
        raise ValueError("give a count, a duration, or both")
    report = ProduceReport()
    started = clock()
    source = iter(records)
    step = window if aggregate else min(chunk, MAX_RECORDS_PER_REQUEST)
    if rate:
        step = max(1, min(step, int(rate / 10) or 1))  # ~10 calls a second keeps the rate smooth

    shard_of = shard_router(client, stream_name) if aggregate else None

    def to_entries(batch: list[DemoRecord]) -> tuple[list[tuple[str, bytes]], list[list[DemoRecord]]]:
        return aggregated_entries(batch, record_limit, shard_of) if aggregate else plain_entries(batch)

    attempted = 0
    while True:
        now = clock()
        if duration is not None and now - started >= duration:
            break
        size = step if count is None else min(step, count - attempted)
        if size <= 0:
            break
        if rate:
            due = started + attempted / rate
            if due > now:
                sleep(due - now)
        batch = list(itertools.islice(source, size))
        if not batch:
            break
        attempted += len(batch)
        entries, carried = to_entries(batch)
        results = put(client, stream_name, entries)
        for users, result in zip(carried, results, strict=True):
            _account(report, users, result)
        report.elapsed = clock() - started
        if on_progress:
            on_progress(report)
        if _fatal(report, results):
            break
    report.elapsed = clock() - started
    return report


def _account(report: ProduceReport, users: list[DemoRecord], result: PutResult) -> None:
    report.retried += max(0, result.attempts - 1) * len(users)
    if not result.ok:
        code = result.error_code or "Unknown"
        report.failed += len(users)
        report.failures[code] = report.failures.get(code, 0) + len(users)
        return
    report.kinesis_records += 1
    report.sent += len(users)
    for record in users:
        if record.valid and record.quote is not None:
            report.last_quotes[record.quote["ticker_symbol"]] = record.quote
        else:
            report.invalid_sent += 1


def _fatal(report: ProduceReport, results: list[PutResult]) -> bool:
    """True when every entry of the call failed the same way and no retry could change that."""
    if not results or any(r.ok or r.retryable for r in results):
        return False
    codes = {r.error_code for r in results}
    if len(codes) != 1:
        return False
    code, message = results[0].error_code or "Unknown", results[0].error_message or ""
    usage = explain_code(code, message)
    if usage is not None:
        raise usage
    report.stopped_by = f"{code}: {message}"
    return True


def add_produce_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "produce", help="send demo quotes (or replay a file) to the quote stream",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--count", type=int, help="records to send (default 1000, or the whole --file, unless --duration)")
    parser.add_argument("--duration", type=float, help="seconds to keep sending")
    parser.add_argument("--rate", type=float, help="records per second at most (default: as fast as possible)")
    parser.add_argument("--file", type=Path, help="replay this file's records as they are (NDJSON, JSON array or CSV)")
    parser.add_argument("--format", choices=("auto", "ndjson", "json", "csv"), default="auto",
                        help="format of --file (default: .csv is CSV, '[' starts a JSON array, else NDJSON)")
    parser.add_argument("--tickers", type=int, help="a synthetic universe of this many tickers over the sectors "
                        "(deterministic from --seed; default: the source's 32 seed tickers)")
    parser.add_argument("--plain", action="store_true",
                        help="one Kinesis record per quote, for consumers that cannot de-aggregate KPL records")
    parser.add_argument("--stream-name", help="Kinesis stream name (default: from --stack-name or the local stack)")
    parser.add_argument("--stack-name", help="deployed stack whose QuoteStreamName output to use")
    parser.add_argument("--endpoint-url", help="AWS endpoint (e.g. the local stack's moto server)")
    parser.add_argument("--region", help="AWS region")
    parser.add_argument("--invalid-fraction", type=float, default=0.0, help="fraction of deliberately invalid records (0-1)")
    parser.add_argument("--seed", type=int, help="random seed, for reproducible runs")
    parser.set_defaults(run=_run)


def source_of(args: argparse.Namespace) -> tuple[Iterable[DemoRecord], int | None]:
    """The records to send and how many there are (None: endless)."""
    if args.file is not None:
        if args.tickers is not None or args.invalid_fraction:
            raise ConfigError("--tickers and --invalid-fraction shape generated quotes; a --file is sent as it is")
        from tickerstream_cli.replay import read_replay

        records = read_replay(args.file, args.format)
        return records, len(records)
    if not 0.0 <= args.invalid_fraction <= 1.0:
        raise ConfigError("--invalid-fraction must be between 0 and 1")
    try:
        tickers = synthetic_universe(args.tickers, args.seed) if args.tickers is not None else None
    except ValueError as exc:
        raise ConfigError(f"--tickers: {exc}") from None
    return DemoQuotes(seed=args.seed, invalid_fraction=args.invalid_fraction, tickers=tickers), None


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tickerstream_cli.config import resolve

    console = Console(stderr=True)
    records, available = source_of(args)
    target = resolve(
        explicit=args.stream_name,
        output_key="QuoteStreamName",
        logical_id="QuoteStream",
        stack_name=args.stack_name,
        region=args.region,
        endpoint_url=args.endpoint_url,
    )
    client = target.client("kinesis")
    count = args.count if args.count is not None or args.duration else (available or 1000)
    mode = "one Kinesis record per quote" if args.plain else "KPL-aggregated"
    console.print(f"Sending to [bold]{target.value}[/] ({target.source}), {mode}")
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.0f} rec/s"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("producing", total=min(count, available or count) if count else None, rate=0.0)

        def show(report: ProduceReport) -> None:
            progress.update(task, completed=report.sent + report.failed, rate=report.records_per_second)

        report = produce(client, target.value, records, count=count, duration=args.duration, rate=args.rate,
                         aggregate=not args.plain, on_progress=show)
    invalid = "deliberately invalid" if args.file is None else "not valid quotes, sent for the pipeline to quarantine"
    console.print(
        f"sent {report.sent} (of which {report.invalid_sent} {invalid}) in {report.kinesis_records} Kinesis records, "
        f"retried {report.retried}, failed {report.failed}, {report.records_per_second:,.0f} records/s"
    )
    for code, records_failed in sorted(report.failures.items()):
        console.print(f"  [red]{records_failed} failed with {code}[/]")
    if report.stopped_by:
        console.print(f"[red]stopped: every record of a call failed with {report.stopped_by}[/]")
    return 1 if report.failed else 0
