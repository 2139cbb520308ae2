"""Every Athena named query of template.yaml, run with DuckDB on a known lake, against answers computed
by hand from tests/lake/lake_data.py (KNOWN_DAY; "today" is 2026-11-21 UTC)."""

from __future__ import annotations

import datetime as dt

import pytest
from lake.lake_data import KNOWN_DAY, TODAY, Sent, seq, write_lake

from tickerstream_local import lake

T = dt.datetime

EXPECTED = {
    "latest-price-per-ticker": (
        ["ticker_symbol", "sector", "price", "change", "arrival_time"],
        [
            ("AAPL", "TECHNOLOGY", 189.0, 0.0, T(2026, 11, 21, 9, 15)),
            # 141 is later in the stream though it arrived a millisecond "earlier"
            ("GOOG", "TECHNOLOGY", 141.0, 0.0, T(2026, 11, 21, 9, 0)),
            ("MSFT", "TECHNOLOGY", 410.123456, 0.0, T(2026, 11, 21, 8, 30)),
            ("XOM", "ENERGY", 53.0, 0.0, T(2026, 11, 21, 23, 59, 59, 999000)),
        ],
    ),
    "hourly-average-by-sector": (
        ["sector", "year", "month", "day", "hour", "quotes", "avg_price", "min_price", "max_price"],
        [
            ("ENERGY", 2026, 11, 21, 23, 1, 53.0, 53.0, 53.0),
            ("TECHNOLOGY", 2026, 11, 21, 8, 3, 263.8745, 190.0, 410.123456),   # 791.623456 / 3
            ("TECHNOLOGY", 2026, 11, 21, 9, 3, 156.6667, 140.0, 189.0),        # 470 / 3
        ],
    ),
    "biggest-movers-of-the-day": (
        ["ticker_symbol", "sector", "first_price", "last_price", "change_pct", "quotes"],
        [
            ("NFLX", "TECHNOLOGY", 100.0, 90.0, -10.0, 2),     # one KPL aggregate: sub-sequence 0, then 1
            ("XYZ", "ENERGY", 15.33, 15.86, 3.46, 3),          # 0.53 / 15.33, one PutRecords call
            ("AAPL", "TECHNOLOGY", 181.2, 185.78, 2.53, 4),    # 4.58 / 181.2; the last three share an arrival
            ("MSFT", "TECHNOLOGY", 400.0, 404.0, 1.0, 2),      # sequence "10" follows "9"
        ],
    ),
}


@pytest.fixture(scope="module")
def known_lake(tmp_path_factory):
    return lake.connect(write_lake(tmp_path_factory.mktemp("lake"), KNOWN_DAY))


def test_every_named_query_of_the_template_has_hand_computed_answers():
    assert set(lake.named_queries()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_named_query_answers(known_lake, name):
    columns, rows = EXPECTED[name]
    result = lake.run(known_lake, name, TODAY)
    assert result.columns == columns
    assert result.rows == rows


def test_the_day_is_pinned_by_the_caller(known_lake):
    """Two days later there is nothing of "yesterday"; on 2026-11-20 AAPL's latest is the day's last."""
    assert lake.run(known_lake, "biggest-movers-of-the-day", dt.date(2026, 11, 23)).rows == []
    latest = lake.run(known_lake, "latest-price-per-ticker", dt.date(2026, 11, 20)).rows
    assert [(row[0], row[2]) for row in latest] == [("AAPL", 185.78), ("MSFT", 404.0), ("NFLX", 90.0), ("XYZ", 15.86)]


def test_ties_are_broken_by_stream_position_whatever_the_file_order(tmp_path):
    """The same quotes written newest-first (another object, another order) give the same answers."""
    reversed_lake = lake.connect(write_lake(tmp_path, list(reversed(KNOWN_DAY))))
    for name, (_, rows) in EXPECTED.items():
        assert lake.run(reversed_lake, name, TODAY).rows == rows, name


def test_twelve_movers_show_the_ten_largest(tmp_path):
    quotes = [
        Sent(f"T{i:02d}", "RETAIL", price, f"2026-11-20 10:00:00.000", seq(1000 + 2 * i))
        for i, price in enumerate([10] * 12)
    ] + [
        Sent(f"T{i:02d}", "RETAIL", 10 + i, f"2026-11-20 10:00:00.000", seq(1001 + 2 * i))
        for i in range(12)
    ]
    rows = lake.run(lake.connect(write_lake(tmp_path, quotes)), "biggest-movers-of-the-day", TODAY).rows
    assert [row[0] for row in rows] == [f"T{i:02d}" for i in range(11, 1, -1)]
    assert [row[4] for row in rows] == [float(10 * i) for i in range(11, 1, -1)]


def test_an_empty_lake_answers_every_query_with_no_rows(tmp_path):
    empty = lake.connect(tmp_path)
    for name, (columns, _) in EXPECTED.items():
        result = lake.run(empty, name, TODAY)
        assert (result.columns, result.rows) == (columns, []), name


def test_objects_duckdb_cannot_read_are_named_not_skipped(tmp_path):
    folder = tmp_path / lake.table_schema().prefix / "sector=ENERGY/year=2026/month=11/day=21/hour=08"
    folder.mkdir(parents=True)
    (folder / "tickerstream-LakeDeliveryStream-1-2026-11-21-08-00-00-x.snappy").write_bytes(b"\x00")
    with pytest.raises(lake.LakeError, match="only GZIP or UNCOMPRESSED"):
        lake.connect(tmp_path)


def test_the_table_is_the_templates_glue_table():
    schema = lake.table_schema()
    assert (schema.name, schema.prefix) == ("quotes", "datos/")
    assert [name for name, _ in schema.columns] == ["ticker_symbol", "change", "price", "arrival_time",
                                                    "sequence_number", "sub_sequence_number"]
    assert [name for name, _ in schema.partition_keys] == ["sector", "year", "month", "day", "hour"]
