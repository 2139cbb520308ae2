"""`produce --file`: replaying NDJSON, a JSON array or CSV as it is; bad records go through to quarantine,
a file that cannot be read as its format is refused with one line before anything is sent."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from cli.conftest import run_cli
from tickerstream.keys import ticker_key
from tickerstream_cli.replay import ReplayError, read_replay

SEED = resources.files("tickerstream_cli").joinpath("data/seed_quotes.json")


def test_the_source_material_replays_as_a_json_array():
    records = read_replay(SEED)
    seeds = json.loads(SEED.read_text())
    assert len(records) == len(seeds) == 70
    assert [r.partition_key for r in records] == [q["ticker_symbol"] for q in seeds]
    assert all(r.valid for r in records)
    assert [json.loads(r.data) for r in records] == seeds


def test_ndjson_bad_lines_are_kept_as_they_are_in_file_order(tmp_path):
    path = tmp_path / "replay.ndjson"
    path.write_bytes(
        b'{"ticker_symbol":"AAPL","sector":"TECHNOLOGY","change":0.5,"price":182.6}\n'
        b"\n"
        b'{"ticker_symbol":"AAPL","sector":"TECHNOLOGY","change":0.5,"price":-1}\n'
        b"this is not json\n"
        b'{"ticker_symbol": "\xc3\x28", "sector": "X", "change": 0, "price": 1}\r\n'
        b'["AAPL", 1]\n'
    )
    records = read_replay(path)
    assert [r.valid for r in records] == [True, False, False, False, False]
    assert [r.partition_key for r in records] == ["AAPL", "AAPL", "line-4", "line-5", "line-6"]
    assert records[2].data == b"this is not json"
    assert records[3].data.endswith(b"}")  # line ending stripped, bytes otherwise untouched


def test_csv_with_the_quote_columns(tmp_path):
    path = tmp_path / "quotes.csv"
    path.write_text("ticker_symbol,sector,change,price,note\n"
                    "QXZ,HEALTHCARE,-0.05,84.51,x\n"
                    "TGT,RETAIL,1,53,\n"
                    "BAD,RETAIL,0.1,abc,\n")
    records = read_replay(path)
    assert [json.loads(r.data) for r in records] == [
        {"ticker_symbol": "QXZ", "sector": "HEALTHCARE", "change": -0.05, "price": 84.51},
        {"ticker_symbol": "TGT", "sector": "RETAIL", "change": 1, "price": 53},
        {"ticker_symbol": "BAD", "sector": "RETAIL", "change": 0.1, "price": "abc"},
    ]
    assert [r.valid for r in records] == [True, True, False]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.json", b'[{"ticker_symbol": "AAPL",', "not a JSON array"),
        ("object.json", b'  [1, 2', "not a JSON array"),
        ("binary.ndjson", bytes(range(256)) * 4, "no line of it is JSON"),
        ("empty.ndjson", b"\n\n", "no records"),
        ("no-header.csv", b"AAPL,TECHNOLOGY,0.5,182.6\n", "header must name"),
        ("latin1.csv", "ticker_symbol,sector,change,price\nÅ,X,1,2\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_a_file_that_cannot_be_read_as_its_format_is_refused(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ReplayError, match=message) as caught:
        read_replay(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(ReplayError, match="cannot read"):
        read_replay(tmp_path / "nope.ndjson")


def test_a_record_kinesis_can_never_take_is_refused_up_front(tmp_path):
    path = tmp_path / "huge.ndjson"
    path.write_text('{"ticker_symbol":"AAPL"}\n' + json.dumps({"pad": "x" * (1024 * 1024)}) + "\n")
    with pytest.raises(ReplayError, match="record 2 .* at most"):
        read_replay(path)


# -- through the CLI, against the running local stack, with no AWS settings -------------------------


def quarantined(stack) -> int:
    stack.drain()
    sqs = stack.deployment.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.deployment.ctx.refs["QuarantineQueue"],
                                          AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_replaying_a_file_sends_it_whole_and_the_pipeline_quarantines_its_bad_lines(local_stack, user_env, tmp_path):
    stack, _ = local_stack
    path = tmp_path / "replay.ndjson"
    good = [{"ticker_symbol": "RPLY", "sector": "ENERGY", "change": i / 10, "price": 10 + i} for i in range(5)]
    path.write_text("\n".join([*(json.dumps(q) for q in good), "not json", '{"ticker_symbol":"RPLY","price":-3}']))
    before = quarantined(stack)
    ran = run_cli(["produce", "--file", str(path)], user_env)
    assert ran.code == 0, ran.stderr
    assert "sent 7 (of which 2 not valid quotes" in ran.stderr
    assert quarantined(stack) - before == 2
    table = stack.deployment.client("dynamodb")
    item = table.get_item(TableName=stack.deployment.physical["QuotesTable"],
                          Key=dict(zip(("pk", "sk"), ({"S": k} for k in ticker_key("RPLY"))))).get("Item")
    assert item is not None and float(item["price"]["N"]) == 14  # the last good line is the newest quote


def test_an_unparseable_file_is_one_line_exit_2_and_sends_nothing(local_stack, user_env, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[{"ticker_symbol": "AAPL",')
    ran = run_cli(["produce", "--file", str(path)], user_env)
    assert ran.code == 2
    assert ran.stderr.count("\n") == 1 and "not a JSON array" in ran.stderr and "Traceback" not in ran.stderr
    assert "Sending" not in ran.stderr


def test_generated_quote_options_do_not_apply_to_a_file(user_env):
    ran = run_cli(["produce", "--file", str(SEED), "--tickers", "50"], user_env)
    assert ran.code == 2 and "sent as it is" in ran.stderr


def test_tickers_draws_from_a_synthetic_universe(local_stack, user_env):
    ran = run_cli(["produce", "--tickers", "400", "--count", "3000", "--seed", "3"], user_env)
    assert ran.code == 0, ran.stderr
    assert "sent 3000" in ran.stderr
    ran = run_cli(["produce", "--tickers", "0", "--count", "3"], user_env)
    assert ran.code == 2 and "--tickers" in ran.stderr
