"""`tickerstream alarms`: every CloudWatch alarm with its state, reason and last change.

Against the running local stack by default (found as the other commands find it, through local.json;
no AWS settings needed): its alarms are the template's, judged by the local evaluator. With
--endpoint-url/--region it reads any CloudWatch, AWS's included (then the usual credentials apply).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from tickerstream_cli.config import ConfigError, aws_session, local_session, local_stack_file
from tickerstream_local.paths import running_stack

STATE_ORDER = {"ALARM": 0, "INSUFFICIENT_DATA": 1, "OK": 2}
STATE_STYLE = {"ALARM": "bold red", "INSUFFICIENT_DATA": "yellow", "OK": "green"}


def cloudwatch_client(region: str | None, endpoint_url: str | None) -> Any:
    if endpoint_url or region:
        return aws_session(region, endpoint_url).client("cloudwatch", endpoint_url=endpoint_url)
    local = running_stack(local_stack_file())  # a file left by a stopped stack does not count
    if not local:
        raise ConfigError(f"no local stack is running ({local_stack_file()} is missing or stale): start it with "
                          "`make local`, or pass --endpoint-url / --region to read another CloudWatch")
    session = local_session(local.get("region"))
    return session.client("cloudwatch", endpoint_url=local["aws_endpoint_url"])


def list_alarms(cloudwatch: Any) -> list[dict[str, Any]]:
    """Metric and composite alarms, ALARM first, then INSUFFICIENT_DATA, then OK; by name within each."""
    rows = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate():
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            changed = alarm.get("StateUpdatedTimestamp")
            rows.append({
                "name": alarm["AlarmName"],
                "state": alarm.get("StateValue", "INSUFFICIENT_DATA"),
                "reason": alarm.get("StateReason", ""),
                "last_change": changed.astimezone(dt.UTC).isoformat() if isinstance(changed, dt.datetime) else changed,
                "metric": _metric_of(alarm),
            })
    return sorted(rows, key=lambda r: (STATE_ORDER.get(r["state"], 3), r["name"]))


def _metric_of(alarm: dict[str, Any]) -> str:
    if alarm.get("MetricName"):
        return f"{alarm.get('Namespace')} {alarm['MetricName']}"
    returned = [m for m in alarm.get("Metrics", []) if m.get("ReturnData", True) and m.get("Expression")]
    return returned[0]["Expression"] if returned else ""


def render(rows: list[dict[str, Any]], console: Any) -> None:
    from rich.table import Table

    table = Table(title=f"{len(rows)} alarm(s), {sum(r['state'] == 'ALARM' for r in rows)} in ALARM")
    for column in ("state", "alarm", "metric", "last change (UTC)", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        style = STATE_STYLE.get(row["state"], "")
        changed = str(row["last_change"] or "")[:19].replace("T", " ")
        table.add_row(f"[{style}]{row['state']}[/]", row["name"], row["metric"], changed, row["reason"])
    console.print(table)


def run(args: argparse.Namespace) -> int:
    rows = list_alarms(cloudwatch_client(args.region, args.endpoint_url))
    if args.state:
        rows = [r for r in rows if r["state"] == args.state]
    if args.format == "json":
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from rich.console import Console

        render(rows, Console(file=sys.stdout))
    return 0


def add_alarms_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("alarms", help="list CloudWatch alarms with state and reason (the local stack's by default)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--state", choices=tuple(STATE_ORDER), help="only alarms in this state")
    parser.add_argument("--region", help="read this region's CloudWatch instead of the local stack's")
    parser.add_argument("--endpoint-url", help="read this CloudWatch endpoint instead of the local stack's")
    parser.set_defaults(run=run)
