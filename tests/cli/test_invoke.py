"""`tickerstream invoke`: on the running local stack by default, --fresh for an empty moto; the result on
stdout, the function's logs on stderr; bad event files and unknown functions are one line."""

from __future__ import annotations

import json
import socket

from cli.conftest import REPO_ROOT, run_cli, scrubbed_environment
from tickerstream_cli.config import LOCAL_STACK_ENV

GET_QUOTE = str(REPO_ROOT / "events/api_query/get-quote.json")


def test_invoke_reads_the_running_stack(local_stack, user_env, tmp_path):
    stack, _ = local_stack
    ticker = json.loads((REPO_ROOT / "events/api_query/get-quote.json").read_text())["pathParameters"]["ticker"]
    replay = tmp_path / "one.ndjson"
    replay.write_text(json.dumps({"ticker_symbol": ticker, "sector": "TECHNOLOGY", "change": 1.5, "price": 321.5}))
    assert run_cli(["produce", "--file", str(replay)], user_env).code == 0
    stack.drain()

    ran = run_cli(["invoke", "ApiQuery", "-e", GET_QUOTE], user_env)
    assert ran.code == 0, ran.stderr
    response = json.loads(ran.stdout)  # stdout holds the result and nothing else
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["price"] == 321.5
    assert "local stack" in ran.stderr

    fresh = run_cli(["invoke", "ApiQuery", "-e", GET_QUOTE, "--fresh"], user_env)
    assert fresh.code == 0, fresh.stderr
    assert json.loads(fresh.stdout)["statusCode"] == 404


def test_the_functions_logs_go_to_stderr(local_stack, user_env):
    event = str(REPO_ROOT / "events/quote_processor/invalid.json")
    ran = run_cli(["invoke", "QuoteProcessor", "-e", event], {**user_env, "LOG_LEVEL": "INFO"})
    assert ran.code == 0, ran.stderr
    assert "batchItemFailures" in json.loads(ran.stdout)
    logged = [json.loads(line) for line in ran.stderr.splitlines() if line.startswith("{")]
    assert any(entry.get("service") == "tickerstream" for entry in logged)  # Powertools log / metric lines


def test_a_missing_or_non_json_event_file_is_one_line(user_env, tmp_path):
    ran = run_cli(["invoke", "ApiQuery", "-e", str(tmp_path / "nope.json")], user_env)
    assert (ran.code, ran.stdout) == (2, "")
    assert ran.stderr.count("\n") == 1 and "cannot read event file" in ran.stderr

    bad = tmp_path / "bad.json"
    bad.write_text('{"path": "/quotes/AAPL",')
    ran = run_cli(["invoke", "ApiQuery", "-e", str(bad)], user_env)
    assert ran.code == 2 and ran.stderr.count("\n") == 1 and "is not JSON" in ran.stderr, ran.stderr


def test_an_unknown_function_lists_the_known_ones(user_env):
    ran = run_cli(["invoke", "ApiQuerry", "-e", GET_QUOTE], user_env)
    assert ran.code == 2 and ran.stderr.count("\n") == 1
    assert "ApiQuery" in ran.stderr and "QuoteProcessor" in ran.stderr


def test_local_needs_a_running_stack_and_a_stale_file_is_named(empty_home, tmp_path):
    env = scrubbed_environment(empty_home, **{LOCAL_STACK_ENV: str(tmp_path / "absent.json")})
    ran = run_cli(["invoke", "ApiQuery", "-e", GET_QUOTE, "--local"], env)
    assert ran.code == 2 and ran.stderr.count("\n") == 1 and "no local stack is running" in ran.stderr

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps({"aws_endpoint_url": f"http://127.0.0.1:{port}", "region": "us-east-1", "resources": {}}))
    ran = run_cli(["invoke", "ApiQuery", "-e", GET_QUOTE], {**env, LOCAL_STACK_ENV: str(stale)})
    assert ran.code == 2 and ran.stderr.count("\n") == 1 and "nothing answers" in ran.stderr, ran.stderr
