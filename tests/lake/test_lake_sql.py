"""Athena (Trino) -> DuckDB translation, one test per rule of tickerstream_local.lake_sql: each shows what
DuckDB answers without the rule and that, with it, the answer is Athena's."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from tickerstream_local import lake_sql
from tickerstream_local.lake_sql import RENAMED_FUNCTIONS, SESSION_SETTINGS, configure, to_duckdb

TODAY = dt.date(2026, 11, 21)


@pytest.fixture
def plain():
    return duckdb.connect()


@pytest.fixture
def athena_like():
    connection = duckdb.connect()
    configure(connection)
    return connection


def one(connection, sql):
    return connection.execute(sql).fetchone()[0]


def test_every_rule_has_a_test_here():
    assert set(SESSION_SETTINGS) == {"TimeZone", "integer_division", "default_null_order"}
    assert set(RENAMED_FUNCTIONS) == {"approx_distinct", "to_unixtime", "from_unixtime", "regexp_like"}


def test_sessions_are_utc(athena_like):
    plain = duckdb.connect()
    plain.execute("SET TimeZone = 'America/New_York'")
    sql = "SELECT CAST(TIMESTAMPTZ '2026-11-21 03:00:00+00' AS DATE)"
    assert one(plain, sql) == dt.date(2026, 11, 20)  # the machine's zone would move the day
    assert one(athena_like, sql) == dt.date(2026, 11, 21)


def test_integer_operands_divide_to_an_integer(plain, athena_like):
    assert one(plain, "SELECT 7 / 2") == 3.5
    assert one(athena_like, "SELECT 7 / 2") == 3  # Trino: integer division
    assert one(athena_like, "SELECT 7.0 / 2") == 3.5  # not when an operand is decimal or double


def test_nulls_sort_last_in_both_directions(athena_like):
    athena_like.execute("SET default_null_order = 'nulls_first'")  # whatever a user's config says …
    configure(athena_like)  # … the session is Trino's
    for direction in ("ASC", "DESC"):
        rows = athena_like.execute(f"SELECT x FROM (VALUES (1), (NULL), (2)) t(x) ORDER BY x {direction}").fetchall()
        assert rows[-1] == (None,), direction


def test_current_date_is_pinned(athena_like):
    sql = to_duckdb("SELECT current_date - INTERVAL '1' DAY, CURRENT_DATE", TODAY)
    assert sql == "SELECT DATE '2026-11-21' - INTERVAL '1' DAY, DATE '2026-11-21'"
    assert athena_like.execute(sql).fetchone() == (dt.datetime(2026, 11, 20), TODAY)


def test_rewrites_leave_literals_identifiers_and_comments_alone():
    sql = """SELECT 'current_date', "current_date", 'it''s approx_distinct(' -- current_date
    /* regexp_like(x) */ FROM t WHERE d = current_date"""
    assert to_duckdb(sql, TODAY) == sql.replace("d = current_date", "d = DATE '2026-11-21'")


def test_a_column_named_like_a_function_is_not_renamed():
    assert to_duckdb("SELECT to_unixtime, to_unixtime(ts), approx_distinct (x) FROM t", TODAY) == (
        "SELECT to_unixtime, epoch(ts), approx_count_distinct (x) FROM t")


@pytest.mark.parametrize(("athena", "expected"), [
    ("SELECT approx_distinct(x) FROM (VALUES (1), (2), (2)) t(x)", 2),
    ("SELECT to_unixtime(TIMESTAMP '2026-11-21 15:36:00.5')", 1795275360.5),
    ("SELECT CAST(from_unixtime(1795275360) AS TIMESTAMP)", dt.datetime(2026, 11, 21, 15, 36)),
    ("SELECT regexp_like('AAPL', 'A+P')", True),
])
def test_renamed_functions(plain, athena_like, athena, expected):
    with pytest.raises(duckdb.CatalogException):
        plain.execute(athena)  # DuckDB has no function by Athena's name
    assert one(athena_like, to_duckdb(athena, TODAY)) == expected


def test_what_has_no_rule_fails_with_duckdbs_message(athena_like):
    with pytest.raises(duckdb.CatalogException, match="date_format"):
        athena_like.execute(to_duckdb("SELECT date_format(current_date, '%Y')", TODAY))


def test_today_is_the_utc_date():
    assert lake_sql.utc_today() == dt.datetime.now(dt.UTC).date()
