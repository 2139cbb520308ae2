"""Candle reconciliation: candles computed from the lake with DuckDB against the Candles table.

The lake holds every valid quote with its Kinesis arrival time (FirehoseTransform's `arrival_time` is the
record's approximateArrivalTimestamp, to the millisecond) and its stream position, so the candles
CandleAggregator writes can be recomputed independently: a quote belongs to the window
[floor(arrival / W) * W, + W) - Lambda's tumbling windows assign records by the same timestamp - and
open and close are its first and last quote in stream order (sequence number by length then as text,
then sub-sequence number), as the Candles contract says. Quotes Firehose delivered twice (delivery is
at-least-once) are counted once.

Only closed windows are compared (window end at or before `closed_before`): a window still open may
lack its last quotes on either side.

    from tickerstream_local.lake_candles import reconcile_deployment
    differences = reconcile_deployment(stack.deployment)      # [] when lake and table agree
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tickerstream_local.lake import connect, data_files, download_lake, table_schema

STORED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # window_start / window_end, as Lambda's window.start
NUMBERS = ("open", "high", "low", "close")
COMPARED = ("window_end", "sector", *NUMBERS, "count", "first_sequence_number", "first_sub_sequence_number",
            "last_sequence_number", "last_sub_sequence_number")

MISSING_IN_TABLE = "missing_in_table"
MISSING_IN_LAKE = "missing_in_lake"
DIFFERENT = "different"

Key = tuple[str, str]  # (ticker, window_start)


@dataclass(frozen=True)
class CandleDifference:
    ticker: str
    window_start: str
    kind: str  # MISSING_IN_TABLE, MISSING_IN_LAKE or DIFFERENT
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (lake, table), for DIFFERENT

    def __str__(self) -> str:
        detail = ", ".join(f"{name} lake={lake} table={table}" for name, (lake, table) in self.fields.items())
        return f"{self.ticker} {self.window_start}: {self.kind}" + (f" ({detail})" if detail else "")


def stored(epoch_seconds: int) -> str:
    return dt.datetime.fromtimestamp(epoch_seconds, dt.UTC).strftime(STORED_FORMAT)


def _lines_view(connection: Any, lake_dir: Path) -> None:
    """`quote_lines`: every line with its own fields (the quote's sector, not the partition's slug)."""
    schema = table_schema()
    files = data_files(lake_dir, schema)
    columns = {**dict(schema.columns), "sector": "VARCHAR"}
    if not files:
        nulls = ", ".join(f'CAST(NULL AS {kind}) AS "{name}"' for name, kind in columns.items())
        connection.execute(f"CREATE VIEW quote_lines AS SELECT {nulls} WHERE false")
        return
    spec = ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items())
    paths = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
    connection.execute(f"CREATE VIEW quote_lines AS SELECT * FROM read_json([{paths}], "
                       f"format = 'newline_delimited', columns = {{{spec}}}, hive_partitioning = false)")


def _candles_sql(window_seconds: int) -> str:
    stream_order = "length(sequence_number){d}, sequence_number{d}, sub_sequence_number{d}"
    return f"""
        WITH distinct_quotes AS (
          SELECT DISTINCT ticker_symbol, sector, price, arrival_time, sequence_number, sub_sequence_number
          FROM quote_lines
        ),
        windowed AS (
          SELECT *, (epoch_ms(arrival_time) // {window_seconds * 1000}) * {window_seconds} AS window_start
          FROM distinct_quotes
        ),
        ordered AS (
          SELECT *,
                 row_number() OVER (PARTITION BY ticker_symbol, window_start ORDER BY {stream_order.format(d="")}) AS from_first,
                 row_number() OVER (PARTITION BY ticker_symbol, window_start ORDER BY {stream_order.format(d=" DESC")}) AS from_last
          FROM windowed
        )
        SELECT ticker_symbol, window_start,
               max(CASE WHEN from_last = 1 THEN sector END) AS sector,
               max(CASE WHEN from_first = 1 THEN price END) AS open,
               max(price) AS high, min(price) AS low,
               max(CASE WHEN from_last = 1 THEN price END) AS close,
               count(*) AS count,
               max(CASE WHEN from_first = 1 THEN sequence_number END) AS first_sequence_number,
               max(CASE WHEN from_first = 1 THEN sub_sequence_number END) AS first_sub_sequence_number,
               max(CASE WHEN from_last = 1 THEN sequence_number END) AS last_sequence_number,
               max(CASE WHEN from_last = 1 THEN sub_sequence_number END) AS last_sub_sequence_number
        FROM ordered
        GROUP BY ticker_symbol, window_start
    """


def lake_candles(lake_dir: Path, window_seconds: int, closed_before: dt.datetime) -> dict[Key, dict[str, Any]]:
    """Candles of the closed windows, computed from the lake directory (laid out as the bucket)."""
    connection = connect(lake_dir)
    _lines_view(connection, Path(lake_dir))
    cursor = connection.execute(_candles_sql(int(window_seconds)))
    names = [column[0] for column in cursor.description]
    limit = closed_before.timestamp()
    candles: dict[Key, dict[str, Any]] = {}
    for row in cursor.fetchall():
        values = dict(zip(names, row))
        start = int(values.pop("window_start"))
        if start + window_seconds > limit:
            continue
        ticker = values.pop("ticker_symbol")
        values["window_end"] = stored(start + window_seconds)
        for name in NUMBERS:  # the shortest decimal that reads back as the double: the number as written
            values[name] = Decimal(repr(values[name]))
        candles[(ticker, stored(start))] = values
    return candles


def _attribute(value: dict[str, Any]) -> Any:
    if "N" in value:
        return Decimal(value["N"])
    return value.get("S")


def table_candles(dynamodb: Any, table_name: str, closed_before: dt.datetime) -> dict[Key, dict[str, Any]]:
    """The Candles table's items of the closed windows (a Scan: a reconciliation reads everything)."""
    limit = closed_before.astimezone(dt.UTC).strftime(STORED_FORMAT)
    candles: dict[Key, dict[str, Any]] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True):
        for item in page.get("Items") or []:
            values = {name: _attribute(item[name]) for name in COMPARED if name in item}
            if str(values.get("window_end", "")) > limit:
                continue
            candles[(item["ticker"]["S"], item["window_start"]["S"])] = values
    return candles


def _same(name: str, lake: Any, table: Any) -> bool:
    if lake is None or table is None:
        return lake is table
    if name in NUMBERS or name in ("count", "first_sub_sequence_number", "last_sub_sequence_number"):
        return Decimal(lake) == Decimal(table)
    return str(lake) == str(table)


def compare(lake: dict[Key, dict[str, Any]], table: dict[Key, dict[str, Any]]) -> list[CandleDifference]:
    differences = []
    for key in sorted(lake.keys() | table.keys()):
        if key not in table:
            differences.append(CandleDifference(*key, MISSING_IN_TABLE))
        elif key not in lake:
            differences.append(CandleDifference(*key, MISSING_IN_LAKE))
        else:
            fields = {name: (lake[key].get(name), table[key].get(name)) for name in COMPARED
                      if not _same(name, lake[key].get(name), table[key].get(name))}
            if fields:
                differences.append(CandleDifference(*key, DIFFERENT, fields))
    return differences


def reconcile_candles(lake_dir: Path, dynamodb: Any, table_name: str, window_seconds: int,
                      closed_before: dt.datetime) -> list[CandleDifference]:
    """Differences between the lake's candles and the table's, for every window closed by `closed_before`."""
    return compare(lake_candles(Path(lake_dir), window_seconds, closed_before),
                   table_candles(dynamodb, table_name, closed_before))


def reconcile_deployment(deployment: Any, closed_before: dt.datetime | None = None) -> list[CandleDifference]:
    """The same on a local-stack deployment: its lake bucket (copied to a temporary directory), its
    CandlesTable and its CandleWindowSeconds. `closed_before` defaults to now."""
    closed_before = closed_before or dt.datetime.now(dt.UTC)
    window_seconds = int(deployment.ctx.parameters["CandleWindowSeconds"])
    with tempfile.TemporaryDirectory(prefix="tickerstream-candles-") as scratch:
        download_lake(deployment.client("s3"), deployment.physical["LakeBucket"], Path(scratch))
        return reconcile_candles(Path(scratch), deployment.client("dynamodb"), deployment.physical["CandlesTable"],
                                 window_seconds, closed_before)
