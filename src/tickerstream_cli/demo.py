"""`make demo`: the whole template on a laptop — stream, QuoteProcessor, Firehose lake and API — then a check.

It starts the local stack (moto server, template's resources, event-source mappings, Firehose, API and
token endpoint), streams demo quotes (a few deliberately invalid) for a bounded time while showing what
flows where, then reconciles three views of the data and exits 0 only if they agree:
produced = applied + quarantined; lake records = valid records; latest API price per ticker = last produced.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import logging
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from tickerstream_cli.demo_candles import DEMO_CANDLE_WINDOW_SECONDS, candle_rows, start_webhook
from tickerstream_cli.producer import ProduceReport, produce


@dataclass
class Reconciliation:
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    def add(self, name: str, passed: bool, detail: str) -> None:
        self.checks.append((name, passed, detail))

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(passed for _, passed, _ in self.checks)


# -- reading back what landed ---------------------------------------------------------------------


def table_contents(deployment: Any) -> tuple[dict[str, dict], dict[str, dict]]:
    """(latest quote by ticker, summary by sector) read back from the Quotes table."""
    dynamodb = deployment.client("dynamodb")
    latest: dict[str, dict] = {}
    summaries: dict[str, dict] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=deployment.physical["QuotesTable"]):
        for item in page["Items"]:
            plain = {k: next(iter(v.values())) for k, v in item.items()}
            if plain["sk"] == "LATEST":
                latest[plain["ticker_symbol"]] = plain
            else:
                summaries[plain["sector"]] = plain
    return latest, summaries


def queue_depth(deployment: Any, logical_id: str) -> int:
    attributes = deployment.client("sqs").get_queue_attributes(
        QueueUrl=deployment.ctx.refs[logical_id], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def lake_objects(deployment: Any, prefix: str) -> list[bytes]:
    """Every object under `prefix` in the lake bucket, decompressed."""
    s3 = deployment.client("s3")
    bucket = deployment.physical["LakeBucket"]
    bodies = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            bodies.append(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)
    return bodies


def lake_prefixes(deployment: Any) -> tuple[str, str]:
    """The fixed parts of the delivery stream's Prefix and ErrorOutputPrefix (e.g. datos/, errors/)."""
    [stream] = [r for r in deployment.template["Resources"].values() if r["Type"] == "AWS::KinesisFirehose::DeliveryStream"]
    s3 = stream["Properties"]["ExtendedS3DestinationConfiguration"]
    return tuple(str(s3[key]).split("!{", 1)[0] for key in ("Prefix", "ErrorOutputPrefix"))  # type: ignore[return-value]


def lake_lines(deployment: Any, prefix: str) -> list[dict]:
    return [json.loads(line) for body in lake_objects(deployment, prefix) for line in body.splitlines() if line.strip()]


def api_get(url: str, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def latest_prices_via_api(info: dict[str, Any], tickers: list[str]) -> dict[str, float | None]:
    from tickerstream_cli.token import request_token

    # no scope asked: Cognito grants the machine client's allowed scopes (template: MachineClientScopes)
    token, _ = request_token(info["token_url"], info["machine_client_id"], info["machine_client_secret"], ())
    prices: dict[str, float | None] = {}
    for ticker in tickers:
        status, body = api_get(f"{info['api_url'].rstrip('/')}/quotes/{ticker}", token)
        prices[ticker] = float(body["price"]) if status == 200 and isinstance(body, dict) and "price" in body else None
    return prices


def reconcile(report: ProduceReport, stack: Any) -> Reconciliation:
    deployment = stack.deployment
    result = Reconciliation()
    latest, summaries = table_contents(deployment)
    valid_sent = report.sent - report.invalid_sent
    applied = sum(int(s["quote_count"]) for s in summaries.values())
    quarantined = queue_depth(deployment, "QuarantineQueue")
    result.add("produced = applied + quarantined", report.sent == applied + quarantined,
               f"{report.sent} = {applied} + {quarantined}")
    result.add("every valid quote applied exactly once", applied == valid_sent, f"{applied} applied, {valid_sent} valid sent")
    result.add("every invalid record quarantined", quarantined == report.invalid_sent,
               f"{quarantined} quarantined, {report.invalid_sent} invalid sent")
    stale = [t for t, q in report.last_quotes.items() if t not in latest or float(latest[t]["price"]) != q["price"]]
    result.add("table: latest price per ticker = last produced", not stale,
               f"{len(report.last_quotes) - len(stale)}/{len(report.last_quotes)} tickers")
    result.add("no batch ran out of retries", queue_depth(deployment, "FailedBatchesQueue") == 0, "failed-batches queue empty")

    if "LakeBucket" in deployment.physical:
        data_prefix, error_prefix = lake_prefixes(deployment)
        lines = lake_lines(deployment, data_prefix)
        result.add("lake records = valid records", len(lines) == valid_sent, f"{len(lines)} lines under {data_prefix}, {valid_sent} valid sent")
        # partition key = ticker, so (ticker, sequence, sub-sequence) names one stream record
        # (moto's sequence numbers are per-shard counters and repeat across shards)
        positions = [(line["ticker_symbol"], line["sequence_number"], line["sub_sequence_number"]) for line in lines]
        result.add("no record twice in the lake", len(set(positions)) == len(positions), f"{len(set(positions))} distinct records")
        failed = sum(len(body.splitlines()) for body in lake_objects(deployment, error_prefix))
        result.add("invalid records under errors/", failed == report.invalid_sent, f"{failed} error records under {error_prefix}")
    if "CandlesTable" in deployment.physical and "LakeBucket" in deployment.physical:
        closed, differences = reconcile_closed_candles(deployment)
        result.add("candles: lake (DuckDB) = CandlesTable for every closed window", not differences,
                   f"{closed} candles compared" if not differences else "; ".join(map(str, differences[:3])))
    if stack.info.get("machine_client_id") and stack.info.get("api_url"):
        prices = latest_prices_via_api(stack.info, sorted(report.last_quotes))
        wrong = [t for t, q in report.last_quotes.items() if prices.get(t) != q["price"]]
        result.add("API: latest price per ticker = last produced", not wrong,
                   f"{len(prices) - len(wrong)}/{len(prices)} tickers via GET /quotes/{{ticker}}")
    return result


def reconcile_closed_candles(deployment: Any) -> tuple[int, list[Any]]:
    """Candles recomputed from the lake against CandlesTable, for the windows that are surely closed: those
    that ended a window's length before now (a shard's last window closes when its time is up)."""
    import datetime as dt

    from tickerstream_cli.demo_candles import candle_items
    from tickerstream_local.lake_candles import reconcile_deployment

    window = int(deployment.ctx.parameters["CandleWindowSeconds"])
    closed_before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=window + 1)
    stamp = closed_before.strftime("%Y-%m-%dT%H:%M:%SZ")
    closed = sum(1 for item in candle_items(deployment) if item["window_end"] <= stamp)
    return closed, reconcile_deployment(deployment, closed_before=closed_before)


# -- the live view --------------------------------------------------------------------------------


class ApiClient(threading.Thread):
    """A client asking the API for random tickers while the demo runs (what a dashboard would do)."""

    def __init__(self, info: dict[str, Any], tickers: list[str], stop: threading.Event):
        super().__init__(name="demo-api-client", daemon=True)
        self.info, self.tickers, self.stop_event = info, tickers, stop
        self.statuses: dict[int, int] = {}

    def run(self) -> None:
        from tickerstream_cli.token import TokenError, request_token

        try:
            token, _ = request_token(self.info["token_url"], self.info["machine_client_id"],
                                     self.info["machine_client_secret"], ())
        except TokenError:
            self.statuses[0] = 1
            return
        while not self.stop_event.wait(0.25):
            status, _ = api_get(f"{self.info['api_url'].rstrip('/')}/quotes/{random.choice(self.tickers)}", token)
            self.statuses[status] = self.statuses.get(status, 0) + 1


def live_table(report: ProduceReport | None, stack: Any, client: ApiClient | None, elapsed: float) -> Any:
    from rich.table import Table

    stats = stack.stats()
    # QuoteProcessor's mapping: the one whose checkpoint says how far the table is behind the stream
    mappings = [m for name, m in stats["mappings"].items() if name.startswith("QuoteProcessor/")]
    hoses = list(stats["firehoses"].values())
    deployment = stack.deployment
    _, summaries = table_contents(deployment)
    table = Table(title=f"tickerstream, locally — {elapsed:4.1f} s", show_header=True)
    table.add_column("flow")
    table.add_column("count", justify="right")
    sent = report.sent if report else 0
    table.add_row("records into the stream", f"{sent:,}")
    table.add_row("  of which deliberately invalid", f"{report.invalid_sent if report else 0:,}")
    table.add_row("QuoteProcessor: quotes applied", f"{sum(int(s['quote_count']) for s in summaries.values()):,}")
    table.add_row("QuoteProcessor: quarantined", f"{queue_depth(deployment, 'QuarantineQueue'):,}")
    checkpointed = min((m["records_checkpointed"] for m in mappings), default=0)  # the slowest mapping's
    table.add_row("event-source mapping: invocations", f"{sum(m['invocations'] for m in mappings):,}")
    kinesis_records = report.kinesis_records if report else 0
    table.add_row("iterator lag (Kinesis records not yet checkpointed)", f"{max(0, kinesis_records - checkpointed):,}")
    for flow, count in candle_rows(deployment, getattr(stack, "webhook", None)):
        table.add_row(flow, count)
    if hoses:
        table.add_row("Firehose: records delivered to S3", f"{sum(h['delivered'] for h in hoses):,}")
        table.add_row("Firehose: processing failed → errors/", f"{sum(h['failed'] for h in hoses):,}")
        table.add_row("Firehose: objects written", f"{sum(h['objects'] + h['error_objects'] for h in hoses):,}")
    api = stats.get("api") or {}
    if api:
        answered = ", ".join(f"{k}: {v}" for k, v in sorted((client.statuses if client else {}).items()))
        table.add_row("API requests", f"{api.get('requests', 0):,}" + (f"  ({answered})" if answered else ""))
    if getattr(stack, "ops", None) is not None:  # the template's alarms, judged locally (docs/local-alarms.md)
        states = stack.ops.states()
        firing = sorted(name for name, status in states.items() if status.state == "ALARM")
        table.add_row("alarms in ALARM", f"[bold red]{', '.join(firing)}[/]" if firing else f"none of {len(states)}")
    return table


def run_demo(duration: float, rate: float, invalid_fraction: float, seed: int | None, api_port: int, aws_port: int,
             open_board: bool = False) -> int:
    from rich.console import Console

    from tickerstream_local.runner import LocalStack

    console = Console(file=sys.stdout)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    # The functions print their logs and EMF metrics to stdout, as in Lambda, where that is the log
    # stream; here it would tear the live view, so it goes to os.devnull and the console keeps the terminal.
    with open(os.devnull, "w") as function_output, contextlib.redirect_stdout(function_output):
        with console.status("starting the local stack (moto, template resources, mappings, Firehose, API)"):
            stack = LocalStack(api_port=api_port, moto_port=aws_port, state_file=None,
                               parameter_overrides={"CandleWindowSeconds": DEMO_CANDLE_WINDOW_SECONDS}).start()
            stack.webhook = start_webhook(stack.deployment)
        try:
            if open_board:
                show_board(console, stack.info)
            return _show_and_reconcile(console, stack, duration, rate, invalid_fraction, seed)
        finally:
            stack.stop()
            if stack.webhook is not None:
                stack.webhook.stop()


def show_board(console: Any, info: dict[str, Any]) -> None:
    """Open the live board on the demo's stack, with a token to paste into its sign-in: the demo's stack is
    gone when the demo ends, and so is the token (a read-only machine token of this throwaway pool)."""
    import webbrowser

    from tickerstream_cli.token import TokenError, request_token

    url = info.get("board_url")
    if not url:
        console.print("[yellow]this template has no board[/]")
        return
    try:
        token, _ = request_token(info["token_url"], info["machine_client_id"], info["machine_client_secret"],
                                 ("tickerstream/quotes.read",))
    except (TokenError, KeyError) as exc:
        console.print(f"[yellow]no token for the board ({exc}); sign up on the page instead[/]")
        token = None
    console.print(f"live board: {url}")
    if token:
        console.print(f"paste this access token into the board's sign-in (valid while the demo runs):\n{token}")
    webbrowser.open(url)


def _show_and_reconcile(console: Any, stack: Any, duration: float, rate: float, invalid_fraction: float,
                        seed: int | None) -> int:
    from rich.live import Live

    from tickerstream_cli.demo_quotes import DemoQuotes, universe

    console.print(f"local AWS on {stack.info['aws_endpoint_url']}, API on {stack.info.get('api_url')}")
    deployment = stack.deployment
    holder: dict[str, ProduceReport] = {}
    stop = threading.Event()
    client = None
    if stack.info.get("machine_client_id"):
        client = ApiClient(stack.info, sorted(universe()), stop)
        client.start()

    def producer() -> None:
        holder["final"] = produce(
            deployment.client("kinesis"), deployment.physical["QuoteStream"],
            DemoQuotes(seed=seed, invalid_fraction=invalid_fraction),
            duration=duration, rate=rate, aggregate=True, on_progress=lambda r: holder.__setitem__("live", r),
        )

    thread = threading.Thread(target=producer, name="demo-producer", daemon=True)
    started = time.monotonic()
    thread.start()
    with Live(console=console, refresh_per_second=4) as live:
        while thread.is_alive():
            live.update(live_table(holder.get("live"), stack, client, time.monotonic() - started))
            thread.join(0.5)
        stack.drain()
        stop.set()
        live.update(live_table(holder["final"], stack, client, time.monotonic() - started))
    if client:
        client.join(5)

    report = holder["final"]
    console.print(f"produced {report.sent:,} records ({report.invalid_sent} invalid) in {report.kinesis_records:,} "
                  f"KPL-aggregated Kinesis records in {report.elapsed:.1f} s; "
                  f"retried {report.retried}, failed {report.failed}")
    result = reconcile(report, stack)
    for name, passed, detail in result.checks:
        console.print(f"{'[green]✔' if passed else '[red]✘'}[/] {name}: {detail}")
    console.print("[bold green]all views agree[/]" if result.ok else "[bold red]the views disagree[/]")
    return 0 if result.ok else 1


def add_demo_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the whole pipeline locally on moto, then reconcile")
    parser.add_argument("--duration", type=float, default=12.0, help="seconds of producing (default 12)")
    parser.add_argument("--rate", type=float, default=500.0, help="records per second (default 500)")
    parser.add_argument("--invalid-fraction", type=float, default=0.02, help="deliberately invalid share (default 0.02)")
    parser.add_argument("--seed", type=int, default=None, help="random seed")
    parser.add_argument("--port", type=int, default=0, help="local API port (default: any free port)")
    parser.add_argument("--aws-port", type=int, default=0, help="local AWS (moto) port (default: any free port)")
    parser.add_argument("--open-board", action="store_true",
                        help="open the live board in the browser while the demo runs (prints a token to paste)")
    parser.set_defaults(run=lambda a: run_demo(a.duration, a.rate, a.invalid_fraction, a.seed, a.port, a.aws_port,
                                               a.open_board))
