"""`tickerstream cost`: the monthly cost of running the stack for a given load, service by service.

    tickerstream cost                                    # the demo's load: 500 quotes/s, 8 h a day
    tickerstream cost --quotes-per-second 5000 --tickers 5000 --hours-per-day 24 --days-per-month 30.42
    tickerstream cost --stream-mode PROVISIONED --parameter LakeCompressionFormat=HADOOP_SNAPPY --format json

The stack's settings (stream mode, retention, batching, Lambda memory, the lake's lifecycle and buffers,
log retention, Cognito tier, token lifetime) are template.yaml's defaults, changed with --parameter; the
functions and resources priced are the template's; measured durations come from bench/results.json; prices
(us-east-1) from src/tickerstream_cli/data/prices.json, which says where each was read. See docs/cost.md.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, fields
from typing import Any

from tickerstream_cli.config import ConfigError

HELP = {
    "quotes_per_second": "average quotes a second while trading",
    "record_bytes": "average size of one quote as sent (default: the demo's quotes)",
    "tickers": "distinct tickers (default: the demo's seed universe)",
    "sectors": "distinct sectors",
    "hours_per_day": "trading hours a day (24 = around the clock)",
    "days_per_month": "trading days a month (30.42 = every day)",
    "producer_flush_seconds": "how long the producer gathers quotes per PutRecords call (KPL's buffer time)",
    "peak_factor": "busiest rate ÷ average rate; provisioned shards are sized for the peak",
    "invalid_fraction": "share of records that are invalid (quarantined)",
    "api_requests_per_second": "average API requests a second while trading",
    "api_write_share": "share of API requests that are POST /quotes",
    "monthly_active_users": "Cognito monthly active users",
    "sign_ins_per_user": "sign-ins per user a month",
    "token_refreshes_per_user": "token refreshes per user a month",
    "new_users_per_month": "sign-ups a month",
    "machine_clients": "machine (client_credentials) app clients",
    "machine_token_requests": "machine token requests a month (default: one per token lifetime while trading)",
    "lake_age_days": "days of data the lake holds (datos/ never expires; lifecycle moves it to cheaper classes)",
    "lambda_memory_mb": "memory of every function (default: each function's MemorySize in the template)",
    "processor_ms_per_batch": "measured QuoteProcessor duration per batch (default: bench/results.json + writes)",
}


def _parse_parameters(pairs: list[str]) -> dict[str, Any]:
    from tickerstream_local.template import sam_template

    known = sam_template().get("Parameters") or {}
    overrides: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in known:
            raise ConfigError(f"--parameter {pair!r}: expected Name=Value with a parameter of template.yaml "
                              f"({', '.join(sorted(known))})")
        allowed = known[name].get("AllowedValues")
        if allowed and value not in [str(a) for a in allowed]:
            raise ConfigError(f"--parameter {name}: {value!r} is not one of {', '.join(map(str, allowed))}")
        overrides[name] = float(value) if known[name].get("Type") == "Number" else value
    return overrides


def add_cost_command(subparsers: argparse._SubParsersAction) -> None:
    from tickerstream_cli.cost_model import Load

    parser = subparsers.add_parser("cost", help="estimate the monthly AWS cost for a load, per service",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for spec in fields(Load):
        if spec.name == "aggregated":
            parser.add_argument("--plain", action="store_true", help="producers send one Kinesis record per quote (no KPL aggregation)")
            continue
        kind = {"int": int, "float": float}.get(str(spec.type).split(" ")[0], float)
        flags = [f"--{spec.name.replace('_', '-')}"] + (["--lake-retention-days"] if spec.name == "lake_age_days" else [])
        parser.add_argument(*flags, dest=spec.name, type=kind, default=None,
                            help=HELP.get(spec.name, "model assumption") + (f" (default {spec.default})" if spec.default is not None else ""))
    parser.add_argument("--stream-mode", choices=("ON_DEMAND", "PROVISIONED"),
                        help="Kinesis capacity mode of the total (default: the template's StreamMode)")
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="override a template parameter, e.g. RetentionPeriodHours=168 (repeatable)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(run=_run)


def load_from(args: argparse.Namespace) -> Any:
    from tickerstream_cli.cost_inputs import demo_record_shape
    from tickerstream_cli.cost_model import Load

    record_bytes, tickers, sectors = demo_record_shape()
    given = {spec.name: getattr(args, spec.name) for spec in fields(Load)
             if spec.name != "aggregated" and getattr(args, spec.name, None) is not None}
    load = Load(record_bytes=round(record_bytes, 1), tickers=tickers, sectors=sectors, aggregated=not args.plain).more(**given)
    problems = [f"--{name.replace('_', '-')} must not be negative" for name, value in asdict(load).items()
                if isinstance(value, int | float) and not isinstance(value, bool) and value < 0]
    if load.hours_per_day > 24:
        problems.append("--hours-per-day is at most 24")
    if not 0 <= load.invalid_fraction <= 1 or not 0 <= load.api_write_share <= 1:
        problems.append("--invalid-fraction and --api-write-share are between 0 and 1")
    if load.tickers < 1 or load.sectors < 1 or load.record_bytes <= 0:
        problems.append("--tickers, --sectors and --record-bytes must be positive")
    if problems:
        raise ConfigError("; ".join(problems))
    return load


def report(estimate: Any, prices: dict[str, Any], facts: Any, measured: Any) -> dict[str, Any]:
    return {
        "region": prices["region"], "prices_read_on": prices["read_on"], "currency": "USD",
        "load": asdict(estimate.load), "stream_mode": estimate.mode,
        "services": [{"service": s.service, "monthly": round(s.total, 2), "note": s.note,
                      "lines": [asdict(line) for line in s.lines]} for s in estimate.services],
        "total": round(estimate.total, 2),
        "kinesis": {"modes": {m: round(v, 2) for m, v in estimate.kinesis_modes.items()},
                    "break_even_quotes_per_second": estimate.break_even_quotes_per_second,
                    "cheaper_below_break_even": estimate.cheaper_below_break_even,
                    "break_even_peak_factor": estimate.break_even_peak_factor, "kpl": estimate.kpl},
        "configurations": {k: round(v, 2) for k, v in estimate.configurations.items()},
        "cheapest": estimate.cheapest,
        "durations_from": measured.source or "assumed (bench/results.json not found)",
    }


def _run(args: argparse.Namespace) -> int:
    from tickerstream_cli.cost_inputs import measured, prices, template_facts
    from tickerstream_cli.cost_services import estimate

    load = load_from(args)
    facts = template_facts(_parse_parameters(args.parameter))
    price_list, bench = prices(), measured()
    result = estimate(load, facts, bench, price_list, args.stream_mode)
    data = report(result, price_list, facts, bench)
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        _print(data)
    return 0


def _print(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    load = data["load"]
    title = (f"Monthly cost, {data['region']} prices of {data['prices_read_on']}: {load['quotes_per_second']:g} quotes/s, "
             f"{load['hours_per_day']:g} h × {load['days_per_month']:g} days, {data['stream_mode'].lower()} stream")
    table = Table(title=title)
    for column, justify in (("service / item", "left"), ("quantity", "right"), ("USD", "right"), ("note", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    for service in data["services"]:
        table.add_row(f"[bold]{service['service']}[/]", "", f"[bold]{service['monthly']:,.2f}[/]", service["note"])
        for line in service["lines"]:
            if line["quantity"] or line["cost"]:
                table.add_row(f"  {line['item']}", f"{line['quantity']:,.2f} {line['unit']}", f"{line['cost']:,.2f}", line["note"])
    table.add_row("[bold]total[/]", "", f"[bold]{data['total']:,.2f}[/]", "")
    console = Console()
    console.print(table)
    kinesis = data["kinesis"]
    modes = ", ".join(f"{m.lower().replace('_', '-')} {v:,.2f}" for m, v in kinesis["modes"].items())
    rate, peak = kinesis["break_even_quotes_per_second"], kinesis["break_even_peak_factor"]
    below = kinesis["cheaper_below_break_even"].lower().replace("_", "-")
    other = "on-demand" if below == "provisioned" else "provisioned"
    console.print(f"Kinesis alone: {modes} USD. " + (
        f"Break-even at {rate:,.1f} quotes/s: {below} is cheaper below, {other} above" if rate else
        f"{below.capitalize()} is cheaper at every rate from 1 to 1,000,000 quotes/s with this traffic shape") + (
        f"; on-demand becomes cheaper once the peak is {peak:,.1f}× the average." if peak else "."))
    kpl = kinesis["kpl"]
    console.print(f"KPL aggregation: {kpl['plain']['kinesis_records']:,.0f} → {kpl['aggregated']['kinesis_records']:,.0f} "
                  f"Kinesis records, {kpl['plain']['put_payload_units']:,.0f} → {kpl['aggregated']['put_payload_units']:,.0f} "
                  f"PUT payload units, Firehose {kpl['plain']['firehose_billed_gb']:,.1f} → "
                  f"{kpl['aggregated']['firehose_billed_gb']:,.1f} billed GB a month.")
    ranked = sorted(data["configurations"].items(), key=lambda item: item[1])
    console.print("Whole stack by configuration: " + "; ".join(f"{k} {v:,.2f}" for k, v in ranked) +
                  f". Cheapest: [bold]{data['cheapest']}[/].")
