"""`tickerstream lake`: the lake's Athena queries, run offline with DuckDB.

    tickerstream lake queries                                   # the template's named queries
    tickerstream lake query biggest-movers-of-the-day           # on the running local stack's lake
    tickerstream lake query latest-price-per-ticker --date 2026-11-21 --format json
    tickerstream lake query "SELECT sector, count(*) AS quotes FROM quotes GROUP BY sector"
    tickerstream lake query hourly-average-by-sector --lake-dir ./lake-copy   # a directory laid out as the bucket

Queries are written in Athena's dialect (the template's named queries unchanged); tickerstream_local.lake_sql
translates where DuckDB differs. `current_date` is today in UTC, or the day given with --date. The lake
comes from --lake-dir, or is copied from the bucket (--bucket, --stack-name's LakeBucketName output, or the
running local stack's LakeBucket) into a temporary directory first.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import sys
import tempfile
from pathlib import Path
from typing import Any

from tickerstream_cli.config import ConfigError, resolve


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="milliseconds")
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return value  # DECIMAL columns stay Decimal: dumps_exact writes them digit for digit


def render(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> str:
    if fmt == "json":
        from tickerstream.numbers import dumps_exact

        objects = [dumps_exact({c: _json_value(v) for c, v in zip(columns, row)}) for row in rows]
        return "[\n" + ",\n".join(f"  {line}" for line in objects) + ("\n]\n" if objects else "]\n")
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_text(v) for v in row] for row in rows)
        return out.getvalue()
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, caption=f"{len(rows)} row{'s' if len(rows) != 1 else ''}")
    for row in rows:
        table.add_row(*(_text(v) for v in row))
    out = io.StringIO()
    Console(file=out, width=200, force_terminal=False).print(table)
    return out.getvalue()


def _copy_bucket(args: argparse.Namespace, into: Path) -> int:
    from tickerstream_local.lake import download_lake

    target = resolve(explicit=args.bucket, output_key="LakeBucketName", logical_id="LakeBucket",
                     stack_name=args.stack_name, region=args.region, endpoint_url=args.endpoint_url)
    try:
        return download_lake(target.client("s3"), target.value, into)
    except Exception as exc:  # noqa: BLE001 - a bucket we cannot read is a usage error, said in one line
        if type(exc).__module__.startswith("botocore") and "NoCredentials" not in type(exc).__name__:
            raise ConfigError(f"cannot read the lake bucket {target.value} ({target.source}): {exc}") from None
        raise


def run_query(args: argparse.Namespace) -> int:
    from tickerstream_local import lake
    from tickerstream_local.lake_sql import utc_today

    today = args.date or utc_today()
    with tempfile.TemporaryDirectory(prefix="tickerstream-lake-") as scratch:
        if args.lake_dir:
            if not args.lake_dir.is_dir():
                raise ConfigError(f"--lake-dir {args.lake_dir} is not a directory")
            lake_dir = args.lake_dir
        else:
            lake_dir = Path(scratch)
            copied = _copy_bucket(args, lake_dir)
            print(f"{copied} lake objects copied", file=sys.stderr)
        try:
            result = lake.run(lake.connect(lake_dir), args.query, today)
        except lake.LakeError as exc:
            raise ConfigError(str(exc)) from None
    sys.stdout.write(render(result.columns, result.rows, args.format))
    return 0


def list_queries(args: argparse.Namespace) -> int:
    from tickerstream_local.template import resources_of_type

    for resource in resources_of_type("AWS::Athena::NamedQuery").values():
        props = resource["Properties"]
        print(f"{props['Name']:<30} {props.get('Description', '')}")
    return 0


def add_lake_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("lake", help="query the data lake offline with DuckDB (Athena's SQL)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="lake_command", required=True)
    query = commands.add_parser("query", help="run a named query (by Name) or Athena SQL on the lake")
    query.add_argument("query", help="a named query's Name (see `tickerstream lake queries`) or SQL over the table quotes")
    query.add_argument("--date", type=_day, help="the day current_date stands for, YYYY-MM-DD (default: today, UTC)")
    query.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    query.add_argument("--lake-dir", type=Path, help="a directory laid out as the lake bucket (datos/sector=…/…)")
    query.add_argument("--bucket", help="lake bucket to copy (default: from --stack-name or the local stack)")
    query.add_argument("--stack-name", help="deployed stack whose LakeBucketName output to use")
    query.add_argument("--endpoint-url", help="S3 endpoint (e.g. the local stack's moto server)")
    query.add_argument("--region", help="AWS region")
    query.set_defaults(func=run_query)
    names = commands.add_parser("queries", help="list the template's named queries")
    names.set_defaults(func=list_queries)
