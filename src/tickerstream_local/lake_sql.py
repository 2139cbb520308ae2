"""Athena SQL (engine version 3, i.e. Trino) made to run on DuckDB: the one place the dialects meet.

The template's named queries stay written for Athena; `tickerstream lake query` runs them, or any SQL a
user types in Athena's dialect, on DuckDB. Most of what those queries use means the same in both
(window functions, `min_by`/`max_by`, `arbitrary`, `INTERVAL '1' DAY`, `length`, `round`). Where the
two differ, the rule is here and nowhere else, each with a test in tests/lake/test_lake_sql.py:

Session settings (DuckDB made to behave as Athena does):
  * ``TimeZone = 'UTC'``: Athena sessions are UTC; DuckDB's default is the machine's zone.
  * ``integer_division = true``: in Trino ``7 / 2`` is 3 (integer operands divide to an integer);
    DuckDB's ``/`` gives 3.5 unless told otherwise.
  * ``default_null_order = 'nulls_last'``: Trino sorts NULL last whatever the direction.

Text rewrites (outside string literals, quoted identifiers and comments only):
  * ``current_date`` becomes ``DATE 'YYYY-MM-DD'``: "today" is pinned (to the UTC date, or to the day
    given with --date), so a query's answer does not depend on the machine's clock or zone.
  * functions Athena names differently: see RENAMED_FUNCTIONS.

Anything else Athena has and DuckDB lacks (``date_format``, ``from_iso8601_timestamp``, …) fails with
DuckDB's own message, which names the function: nothing is guessed at.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

SESSION_SETTINGS: dict[str, str] = {
    "TimeZone": "'UTC'",
    "integer_division": "true",
    "default_null_order": "'nulls_last'",
}

# Athena (Trino) name -> DuckDB name, for functions that take the same arguments and mean the same.
RENAMED_FUNCTIONS: dict[str, str] = {
    "approx_distinct": "approx_count_distinct",  # both HyperLogLog estimates of count(DISTINCT x)
    "to_unixtime": "epoch",                      # timestamp -> seconds since the epoch, as a double
    "from_unixtime": "to_timestamp",             # seconds since the epoch -> timestamp with time zone
    "regexp_like": "regexp_matches",             # both true when the pattern matches any part
}

# Pieces of SQL whose text is data, not code: '…' literals ('' escapes a quote), "…" identifiers,
# -- line comments and /* */ block comments. Rewrites apply to the code between them only.
_NOT_CODE = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.DOTALL)
_CURRENT_DATE = re.compile(r"\bcurrent_date\b(?!\s*\()", re.IGNORECASE)
_RENAMED = re.compile(r"\b(" + "|".join(RENAMED_FUNCTIONS) + r")(\s*\()", re.IGNORECASE)


def _rewrite_code(code: str, today: dt.date) -> str:
    code = _CURRENT_DATE.sub(f"DATE '{today.isoformat()}'", code)
    return _RENAMED.sub(lambda m: RENAMED_FUNCTIONS[m.group(1).lower()] + m.group(2), code)


def to_duckdb(sql: str, today: dt.date) -> str:
    """`sql` in Athena's dialect, as DuckDB must read it to give Athena's answer on `today` (UTC)."""
    pieces, position = [], 0
    for match in _NOT_CODE.finditer(sql):
        pieces.append(_rewrite_code(sql[position:match.start()], today))
        pieces.append(match.group(0))
        position = match.end()
    pieces.append(_rewrite_code(sql[position:], today))
    return "".join(pieces)


def configure(connection: Any) -> None:
    """Apply SESSION_SETTINGS to a DuckDB connection."""
    for name, value in SESSION_SETTINGS.items():
        connection.execute(f"SET {name} = {value}")


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
