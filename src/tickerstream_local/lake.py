"""The data lake on DuckDB: the Glue table `quotes` as template.yaml defines it, over a local copy of
the lake bucket, and the template's Athena named queries run on it.

DuckDB reads the NDJSON objects (GZIP by extension, or uncompressed) under the Hive partitions
`datos/sector=…/year=…/month=…/day=…/hour=…/` itself. Objects of the local stack's bucket are copied to
a directory first (`download_lake`): DuckDB's S3 support is an extension fetched from the internet, and a
copy works offline and reads the bytes Firehose wrote. The column names, types and order, the partition
keys and the data prefix all come from the template's LakeQuotesTable, so `SELECT *` gives Athena's
columns in Athena's order.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tickerstream_local.lake_sql import configure, to_duckdb
from tickerstream_local.template import resources_of_type, sam_template

TABLE_RESOURCE = "LakeQuotesTable"
GLUE_TO_DUCKDB = {"string": "VARCHAR", "double": "DOUBLE", "timestamp": "TIMESTAMP", "int": "INTEGER",
                  "bigint": "BIGINT", "boolean": "BOOLEAN"}
# Firehose object names end in the compression's extension; DuckDB reads these two as text.
READABLE_SUFFIXES = ("", ".gz")


class LakeError(Exception):
    """A query that cannot run: unknown name, SQL DuckDB refuses, objects DuckDB cannot read."""


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[tuple[str, str], ...]         # data columns (name, DuckDB type), in Glue's order
    partition_keys: tuple[tuple[str, str], ...]  # partition columns, in Glue's order
    prefix: str                                  # key prefix of the data in the bucket, e.g. "datos/"


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def table_schema(template: dict[str, Any] | None = None) -> TableSchema:
    table = (template or sam_template())["Resources"][TABLE_RESOURCE]["Properties"]["TableInput"]
    storage = table["StorageDescriptor"]
    location = storage["Location"]
    location = location.get("Fn::Sub", location) if isinstance(location, dict) else location
    match = re.fullmatch(r"s3://[^/]+/(.*)", location)
    if not match:
        raise LakeError(f"{TABLE_RESOURCE} Location {location!r} is not s3://<bucket>/<prefix>")

    def typed(column: dict[str, str]) -> tuple[str, str]:
        return column["Name"], GLUE_TO_DUCKDB[column["Type"].lower()]

    return TableSchema(
        name=table["Name"],
        columns=tuple(typed(c) for c in storage["Columns"]),
        partition_keys=tuple(typed(c) for c in table["PartitionKeys"]),
        prefix=match.group(1),
    )


def named_queries(template: dict[str, Any] | None = None) -> dict[str, str]:
    """The template's Athena named queries: Name -> SQL (as written for Athena)."""
    return {
        resource["Properties"]["Name"]: resource["Properties"]["QueryString"]
        for resource in resources_of_type("AWS::Athena::NamedQuery", template).values()
    }


def data_files(lake_dir: Path, schema: TableSchema) -> list[Path]:
    root = lake_dir / schema.prefix
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    unreadable = [p for p in files if p.suffix not in READABLE_SUFFIXES]
    if unreadable:
        raise LakeError(f"{len(unreadable)} objects DuckDB cannot read as NDJSON (e.g. {unreadable[0].name}): "
                        "only GZIP or UNCOMPRESSED lakes (LakeCompressionFormat) are queryable offline")
    return files


def connect(lake_dir: Path, schema: TableSchema | None = None) -> Any:
    """A DuckDB connection with Athena's session settings and the view `quotes` over `lake_dir`, a
    directory laid out as the bucket is (`<lake_dir>/datos/sector=…/…`)."""
    import duckdb

    schema = schema or table_schema()
    connection = duckdb.connect()
    configure(connection)
    files = data_files(Path(lake_dir), schema)
    names = [name for name, _ in schema.columns + schema.partition_keys]
    select = ", ".join(f'"{name}"' for name in names)
    if files:
        columns = ", ".join(f"'{name}': '{kind}'" for name, kind in schema.columns)
        partitions = ", ".join(f"'{name}': '{kind}'" for name, kind in schema.partition_keys)
        paths = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
        source = (f"read_json([{paths}], format = 'newline_delimited', columns = {{{columns}}}, "
                  f"hive_partitioning = true, hive_types = {{{partitions}}})")
    else:  # an empty lake is a table without rows, not an error
        nulls = ", ".join(f'CAST(NULL AS {kind}) AS "{name}"' for name, kind in schema.columns + schema.partition_keys)
        source = f"(SELECT {nulls} WHERE false)"
    connection.execute(f'CREATE VIEW "{schema.name}" AS SELECT {select} FROM {source}')
    return connection


def resolve_query(name_or_sql: str, template: dict[str, Any] | None = None) -> str:
    """A named query's SQL, or the argument itself when it is SQL; an unknown bare name is an error."""
    queries = named_queries(template)
    if name_or_sql in queries:
        return queries[name_or_sql]
    if re.fullmatch(r"[A-Za-z0-9_-]+", name_or_sql.strip()):
        raise LakeError(f"no named query {name_or_sql!r}; the template's: {', '.join(sorted(queries))}")
    return name_or_sql


def run(connection: Any, name_or_sql: str, today: dt.date, template: dict[str, Any] | None = None) -> QueryResult:
    """Run a named query (by Name) or Athena SQL on the lake, `today` being Athena's current_date."""
    import duckdb

    sql = to_duckdb(resolve_query(name_or_sql, template), today)
    try:
        cursor = connection.execute(sql)
        rows = cursor.fetchall()
    except duckdb.Error as exc:
        raise LakeError(f"DuckDB: {exc}") from None
    return QueryResult([column[0] for column in cursor.description or []], rows)


def download_lake(s3: Any, bucket: str, destination: Path, schema: TableSchema | None = None) -> int:
    """Copy every object under the table's prefix to `destination`, keeping the keys; returns the count."""
    schema = schema or table_schema()
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=schema.prefix):
        for entry in page.get("Contents") or []:
            key = entry["Key"]
            if key.endswith("/") or ".." in key.split("/"):
                continue
            target = destination / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            count += 1
    return count
