"""`tickerstream invoke`: `sam local invoke` without Docker — a template function run in-process on moto."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def invoke(function_id: str, event: dict, *, endpoint_url: str | None = None) -> object:
    """Run `function_id` from template.yaml on `event`, against in-process moto (or a running moto server)."""
    import boto3

    from tickerstream_local.functions import LocalContext, function_setting, handler_of, load_function
    from tickerstream_local.stack import deploy

    def run(session: boto3.Session) -> object:
        deployment = deploy(session, endpoint_url=endpoint_url)
        module = load_function(function_id, deployment.function_environment(function_id))
        context = LocalContext(deployment.physical.get(function_id, function_id),
                               timeout_seconds=int(function_setting(function_id, "Timeout", 3)))
        return handler_of(function_id, module)(event, context)

    if endpoint_url:
        return run(boto3.Session(region_name="us-east-1"))
    from moto import mock_aws

    with mock_aws():
        return run(boto3.Session(region_name="us-east-1"))


def add_invoke_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "invoke", help="run a template function on a sample event, in-process on moto (no Docker)"
    )
    parser.add_argument("function", help="logical id in template.yaml, e.g. QuoteProcessor")
    parser.add_argument("-e", "--event", required=True, type=Path, help="event file, e.g. events/quote_processor/batch.json")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from tickerstream_local.template import sam_template

    functions = [n for n, r in sam_template()["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
    if args.function not in functions:
        print(f"unknown function {args.function!r}; template.yaml has: {', '.join(functions)}", file=sys.stderr)
        return 2
    for key, value in {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "POWERTOOLS_TRACE_DISABLED": "true"}.items():
        os.environ.setdefault(key, value)
    result = invoke(args.function, json.loads(args.event.read_text()))
    print(json.dumps(result, indent=2, default=str))
    return 0
