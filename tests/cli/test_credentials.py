"""Against the local stack no AWS settings are needed; against AWS a missing credential is named at once."""

from __future__ import annotations

import json
import time

import pytest

from cli.conftest import run_cli, scrubbed_environment
from tickerstream.kpl import deaggregate, is_aggregated


def stream_records(stack) -> list[bytes]:
    return list(stream_by_position(stack).values())


def stream_by_position(stack) -> dict[tuple[str, str], bytes]:
    kinesis = stack.deployment.client("kinesis")
    name = stack.deployment.physical["QuoteStream"]
    data = {}
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while True:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            data.update({(shard["ShardId"], r["SequenceNumber"]): r["Data"] for r in page["Records"]})
            if not page["Records"]:
                break
            iterator = page["NextShardIterator"]
    return data


def user_records(stack) -> list[bytes]:
    out = []
    for data in stream_records(stack):
        out += [u.data for u in deaggregate(data)] if is_aggregated(data) else [data]
    return out


def test_the_readme_produce_line_works_with_no_aws_settings(local_stack, user_env):
    stack, _ = local_stack
    before = len(user_records(stack))
    started = time.monotonic()
    ran = run_cli(["produce", "--count", "2000", "--invalid-fraction", "0.02"], user_env)
    assert ran.code == 0, ran.stderr
    assert time.monotonic() - started < 30
    assert "sent 2000" in ran.stderr and "KPL-aggregated" in ran.stderr
    assert len(user_records(stack)) - before == 2000


def test_plain_mode_too(local_stack, user_env):
    stack, _ = local_stack
    before = stream_by_position(stack)
    ran = run_cli(["produce", "--count", "50", "--plain", "--seed", "4"], user_env)
    assert ran.code == 0, ran.stderr
    added = [data for position, data in stream_by_position(stack).items() if position not in before]
    assert len(added) == 50 and not any(is_aggregated(d) for d in added)
    assert all(json.loads(d)["ticker_symbol"] for d in added)


def test_producing_to_aws_without_credentials_is_named_at_once(empty_home):
    env = scrubbed_environment(empty_home, AWS_DEFAULT_REGION="eu-west-1")
    started = time.monotonic()
    ran = run_cli(["produce", "--count", "5", "--stream-name", "quotes"], env)
    assert ran.code == 2
    assert time.monotonic() - started < 15  # no retries
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr
    assert "AWS credentials were not found" in lines[0]
    assert "AWS_ACCESS_KEY_ID" in lines[0] and "AWS_PROFILE" in lines[0]
    assert "Traceback" not in ran.stderr


def test_a_missing_region_for_aws_is_one_line(empty_home):
    env = scrubbed_environment(empty_home, AWS_ACCESS_KEY_ID="AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY="x")
    ran = run_cli(["produce", "--count", "5", "--stream-name", "quotes"], env)
    assert ran.code == 2
    assert len(ran.stderr.strip().splitlines()) == 1 and "region" in ran.stderr, ran.stderr


def test_token_and_sign_in_need_no_aws_settings_against_the_local_stack(local_stack, user_env):
    ran = run_cli(["token", "--no-cache"], user_env)
    assert ran.code == 0, ran.stderr
    assert ran.stdout.count(".") == 2  # a JWT
    ran = run_cli(["sign-in", "--username", "nobody@example.com"], {**user_env, "TICKERSTREAM_PASSWORD": "Wrong-pass-1"})
    # no such user: Cognito's answer, not a credentials or region problem
    assert ran.code == 1 and "sign-in failed" in ran.stderr, ran.stderr
    assert "credentials" not in ran.stderr.lower() and "region" not in ran.stderr.lower()


def test_reading_a_deployed_stack_without_credentials_is_named_at_once(empty_home):
    env = scrubbed_environment(empty_home, AWS_DEFAULT_REGION="eu-west-1")
    for command in (["produce", "--stack-name", "tickerstream"], ["token", "--stack-name", "tickerstream"]):
        ran = run_cli(command, env)
        assert ran.code == 2, ran.stderr
        assert ran.stderr.count("\n") == 1 and "AWS credentials were not found" in ran.stderr


def test_a_loopback_endpoint_gets_harmless_credentials_and_aws_does_not(monkeypatch, tmp_path):
    from tickerstream_cli.config import CredentialsError, aws_session

    for name in [n for n in __import__("os").environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    session = aws_session(None, "http://localhost:5000")
    assert session.get_credentials() is not None and session.region_name
    with pytest.raises(CredentialsError):
        aws_session("eu-west-1", "https://kinesis.eu-west-1.amazonaws.com")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # botocore reads only AWS_DEFAULT_REGION; we read both
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    assert aws_session().region_name == "eu-west-1"
