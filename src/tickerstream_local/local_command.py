"""`tickerstream local`: keep the whole stack running until Ctrl-C or SIGTERM, then stop without loss.

Exit status: 0 after SIGTERM, 130 after Ctrl-C (SIGINT), 1 if the stop bound was hit with work left
(named on stderr), 2 if a port is taken or another running local stack owns the details file (one
stack per file: give a second stack its own with --state-file).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from tickerstream_local.runner import (
    DEFAULT_REGION,
    DEFAULT_WS_PORT,
    STATE_FILE,
    LocalStack,
    StackAlreadyRunning,
    StopReport,
)
from tickerstream_local.server import DEFAULT_MOTO_PORT
from tickerstream_local.template import REPO_ROOT


def usage_lines(info: dict[str, Any], routes: list[Any], state_file: Path = STATE_FILE) -> list[str]:
    api, token_url = info["api_url"], info["token_url"]
    shown = state_file.relative_to(REPO_ROOT) if state_file.is_relative_to(REPO_ROOT) else state_file
    lines = [
        f"API:            {api}",
        f"Token endpoint: {token_url}",
        *([f"Board:          {info['board_url']}  (the live market board; sign in there)",
           f"WebSocket:      {info['websocket_url']}  (@connections: {info['connections_url']}/@connections/<id>)"]
          if info.get("websocket_url") else []),
        f"AWS endpoint:   {info['aws_endpoint_url']}  (region {info['region']})",
        f"Connection details: {shown}",
    ]
    if info.get("cognito_endpoint_url"):
        lines[2:2] = [f"Cognito:        {info['cognito_endpoint_url']}  (SignUp, ConfirmSignUp, InitiateAuth)",
                      f"Token issuer:   {info['issuer']}  (/.well-known/jwks.json, /.well-known/openid-configuration)"]
    if info.get("machine_client_id"):
        lines += [
            "",
            "Fetch a machine token:",
            "  TOKEN=$(.venv/bin/tickerstream token)        # or, by hand:",
            f"  TOKEN=$(curl -s -u '{info['machine_client_id']}:{info['machine_client_secret']}' "
            f"-d grant_type=client_credentials {token_url} | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
        ]
    lines += ["", "Try:"]
    for route in routes:
        path = route.path.replace("{ticker}", "AAPL").replace("{sector}", "TECHNOLOGY")
        if route.method == "GET" and path == "/quotes":
            path += "?sector=TECHNOLOGY"
        auth = "" if route.authorizer is None else ' -H "Authorization: Bearer $TOKEN"'
        if route.method == "POST":
            data = (" -H 'Content-Type: application/json' -d '{\"ticker_symbol\":\"AAPL\","
                    "\"sector\":\"TECHNOLOGY\",\"change\":0.42,\"price\":190.5}'")
            lines.append(f"  curl -s -X POST{auth}{data} {api}{path}")
        else:
            lines.append(f"  curl -s{auth} {api}{path}")
    return lines


def stop_lines(report: StopReport) -> list[str]:
    lines = [f"  {name}: processed everything in its stream" for name in report.drained]
    lines += [f"  {name}: {count} buffered record(s) delivered to the lake" for name, count in report.flushed.items()]
    if report.complete:
        lines.append(f"Stopped cleanly in {report.seconds:.1f} s; nothing was left behind.")
    return lines


def parameter_override(text: str) -> tuple[str, str]:
    """`Name=Value` for one of template.yaml's parameters, checked against its AllowedPattern/Values."""
    import re

    from tickerstream_local.template import sam_template

    name, sep, value = text.partition("=")
    parameters = sam_template().get("Parameters", {})
    if not sep or name not in parameters:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected Name=Value with Name one of template.yaml's parameters ({', '.join(parameters)})")
    spec = parameters[name]
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        raise argparse.ArgumentTypeError(f"{name}={value!r} does not match {spec['AllowedPattern']}")
    if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
        raise argparse.ArgumentTypeError(f"{name}={value!r}: allowed {', '.join(map(str, spec['AllowedValues']))}")
    return name, value


def run_local(args: argparse.Namespace) -> int:
    from tickerstream_local.api import api_routes
    from tickerstream_local.server import PortBusyError

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    stack = LocalStack(api_port=args.port, moto_port=args.aws_port, ws_port=args.ws_port, region=args.region,
                       stack_name=args.stack_name,
                       state_file=args.state_file, aws_endpoint_url=args.aws_endpoint_url,
                       stop_timeout=args.stop_timeout, parameter_overrides=dict(args.parameter_overrides) or None)
    received: list[int] = []
    asked = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if received:
            print(f"\nStill stopping (draining the streams and flushing the lake, at most "
                  f"{args.stop_timeout:g} s)...", flush=True)
            return
        received.append(signum)
        asked.set()

    previous = {number: signal.signal(number, on_signal) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            stack.start()
        except (PortBusyError, StackAlreadyRunning) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if not received:
            print("\n".join(usage_lines(stack.info, api_routes(stack.deployment), args.state_file)))
            print("\nLocal stack running. Ctrl-C to stop.", flush=True)
            while not asked.wait(0.5):
                pass
        print("\nStopping the local stack: draining the streams, flushing the lake...", flush=True)
        report = stack.stop()
        print("\n".join(stop_lines(report)), flush=True)
        if not report.complete:
            print("Stopped with work left behind:\n" + "\n".join(f"  {p}" for p in report.unfinished), file=sys.stderr)
            return 1
        return 130 if received == [signal.SIGINT] else 0
    finally:
        stack.stop()  # no-op after a clean stop; releases everything if start() or the wait failed
        for number, handler in previous.items():
            signal.signal(number, handler)


def add_local_commands(subparsers: Any) -> None:
    """Register `tickerstream local` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "local", help="run the whole template locally on moto (API, token endpoint, streams, Firehose)"
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("TICKERSTREAM_API_PORT", 3000)),
                        help="port of the local API and token endpoint on 127.0.0.1 (default 3000; 0: any free port)")
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("TICKERSTREAM_AWS_PORT", DEFAULT_MOTO_PORT)),
                        help=f"port of the local AWS endpoint (moto) on 127.0.0.1 (default {DEFAULT_MOTO_PORT}; 0: any free port)")
    ws_port = os.environ.get("TICKERSTREAM_WS_PORT")
    parser.add_argument("--ws-port", type=int, default=int(ws_port) if ws_port else None,
                        help=f"port of the local WebSocket API and its @connections endpoint on 127.0.0.1 "
                             f"(default {DEFAULT_WS_PORT}, or any free port when --port is 0; 0: any free port)")
    parser.add_argument("--aws-endpoint-url", default=None,
                        help="deploy onto this running moto server instead of starting one (it keeps running, "
                             "with everything written, after the stack stops)")
    parser.add_argument("--state-file", type=Path, default=STATE_FILE,
                        help="where to write the connection details (default .tickerstream/local.json, mode 0600)")
    parser.add_argument("--stop-timeout", type=float, default=60.0,
                        help="longest a stop waits for the streams to drain (default 60 s)")
    parser.add_argument("--parameter-overrides", nargs="+", type=parameter_override, default=[],
                        metavar="NAME=VALUE", help="template parameters, as sam deploy takes them "
                        "(e.g. AllowedEmailDomains=example.com opens self sign-up to that domain)")
    parser.add_argument("--region", default=DEFAULT_REGION)
    parser.add_argument("--stack-name", default="tickerstream-local")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request and batch")
    parser.set_defaults(func=run_local)
