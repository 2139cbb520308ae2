"""`tickerstream local --ws-port` and what it prints when the template has the board's WebSocket API."""

from __future__ import annotations

import argparse

from tickerstream_local.local_command import add_local_commands, usage_lines

INFO = {
    "api_url": "http://127.0.0.1:3000", "token_url": "http://127.0.0.1:3000/oauth2/token",
    "aws_endpoint_url": "http://127.0.0.1:5000", "region": "us-east-1",
    "websocket_url": "ws://127.0.0.1:3001/dev", "connections_url": "http://127.0.0.1:3001/dev",
    "board_url": "http://127.0.0.1:3000/",
}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_local_commands(parser.add_subparsers())
    return parser.parse_args(["local", *argv])


def test_ws_port_defaults_to_the_stacks_rule_and_takes_0(monkeypatch):
    from tickerstream_local.runner import LocalStack

    monkeypatch.delenv("TICKERSTREAM_WS_PORT", raising=False)
    assert parse().ws_port is None  # LocalStack: 3001, or any free port when --port is 0
    assert LocalStack().ws_port is None and LocalStack(ws_port=0).ws_port == 0
    assert parse("--ws-port", "0").ws_port == 0
    monkeypatch.setenv("TICKERSTREAM_WS_PORT", "4100")
    assert parse().ws_port == 4100


def test_the_board_and_websocket_urls_are_printed_when_the_stack_starts():
    lines = usage_lines(INFO, [])
    assert any(line.startswith("Board:") and "http://127.0.0.1:3000/" in line for line in lines)
    assert any(line.startswith("WebSocket:") and "ws://127.0.0.1:3001/dev" in line
               and "http://127.0.0.1:3001/dev/@connections/<id>" in line for line in lines)


def test_nothing_about_a_board_without_a_websocket_api():
    lines = usage_lines({k: v for k, v in INFO.items() if k not in ("websocket_url", "connections_url", "board_url")}, [])
    assert not any(line.startswith(("Board:", "WebSocket:")) for line in lines)
