"""`tickerstream lake query`: the template's named queries on the local stack's lake, run as a new user
runs them (no AWS settings at all), and on a lake directory."""

from __future__ import annotations

import csv
import io
import json

import pytest
from cli.conftest import run_cli
from lake.lake_data import KNOWN_DAY, write_lake

from tickerstream_cli.main import main

MOVERS = [
    {"ticker_symbol": "NFLX", "sector": "TECHNOLOGY", "first_price": 100.0, "last_price": 90.0, "change_pct": -10.0, "quotes": 2},
    {"ticker_symbol": "XYZ", "sector": "ENERGY", "first_price": 15.33, "last_price": 15.86, "change_pct": 3.46, "quotes": 3},
    {"ticker_symbol": "AAPL", "sector": "TECHNOLOGY", "first_price": 181.2, "last_price": 185.78, "change_pct": 2.53, "quotes": 4},
    {"ticker_symbol": "MSFT", "sector": "TECHNOLOGY", "first_price": 400.0, "last_price": 404.0, "change_pct": 1.0, "quotes": 2},
]


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory):
    return write_lake(tmp_path_factory.mktemp("lake"), KNOWN_DAY)


def test_the_readme_lines_run_on_the_local_stack_with_no_aws_settings(local_stack, user_env, lake_dir):
    stack, _ = local_stack
    s3, bucket = stack.deployment.client("s3"), stack.deployment.physical["LakeBucket"]
    for path in lake_dir.rglob("*.gz"):
        s3.put_object(Bucket=bucket, Key=str(path.relative_to(lake_dir)), Body=path.read_bytes())
    ran = run_cli(["lake", "query", "biggest-movers-of-the-day", "--date", "2026-11-21", "--format", "json"], user_env)
    assert ran.code == 0, ran.stderr
    assert json.loads(ran.stdout) == MOVERS
    ran = run_cli(["lake", "query", "SELECT sector, count(*) AS quotes FROM quotes WHERE day = day(current_date) "
                   "GROUP BY sector ORDER BY sector", "--date", "2026-11-21"], user_env)
    assert ran.code == 0, ran.stderr
    assert "ENERGY" in ran.stdout and "TECHNOLOGY" in ran.stdout and "2 rows" in ran.stdout
    ran = run_cli(["lake", "queries"], user_env)
    assert ran.code == 0 and "biggest-movers-of-the-day" in ran.stdout


def test_csv_and_table_from_a_lake_directory(lake_dir, capsys):
    assert main(["lake", "query", "latest-price-per-ticker", "--lake-dir", str(lake_dir), "--date", "2026-11-21",
                 "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["ticker_symbol", "sector", "price", "change", "arrival_time"]
    assert rows[1:] == [["AAPL", "TECHNOLOGY", "189.0", "0.0", "2026-11-21 09:15:00.000"],
                        ["GOOG", "TECHNOLOGY", "141.0", "0.0", "2026-11-21 09:00:00.000"],
                        ["MSFT", "TECHNOLOGY", "410.123456", "0.0", "2026-11-21 08:30:00.000"],
                        ["XOM", "ENERGY", "53.0", "0.0", "2026-11-21 23:59:59.999"]]
    assert main(["lake", "query", "hourly-average-by-sector", "--lake-dir", str(lake_dir), "--date", "2026-11-21"]) == 0
    table = capsys.readouterr().out
    assert "263.8745" in table and "156.6667" in table and "3 rows" in table


@pytest.mark.parametrize(("args", "message"), [
    (["no-such-query"], "no named query 'no-such-query'"),
    (["SELECT date_format(arrival_time, '%Y') FROM quotes"], "date_format"),
    (["SELECT * FROM trades"], "trades"),
])
def test_what_cannot_run_is_one_line_and_exit_2(lake_dir, capsys, args, message):
    assert main(["lake", "query", *args, "--lake-dir", str(lake_dir)]) == 2
    assert message in capsys.readouterr().err


def test_a_bad_date_is_a_usage_error(lake_dir, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["lake", "query", "latest-price-per-ticker", "--lake-dir", str(lake_dir), "--date", "21/11/2026"])
    assert exit_.value.code == 2 and "is not a date YYYY-MM-DD" in capsys.readouterr().err


def test_without_a_lake_the_command_says_where_to_find_one(empty_home):
    from cli.conftest import scrubbed_environment
    from tickerstream_cli.config import LOCAL_STACK_ENV

    env = scrubbed_environment(empty_home, **{LOCAL_STACK_ENV: str(empty_home / "none.json")})
    ran = run_cli(["lake", "query", "latest-price-per-ticker"], env)
    assert ran.code == 2 and "no LakeBucket given" in ran.stderr and "make local" in ran.stderr
