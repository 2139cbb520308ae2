"""`tickerstream invoke`: `sam local invoke` without Docker — a template function run in-process.

    tickerstream invoke ApiQuery -e events/api_query/get-quote.json          # on the running local stack
    tickerstream invoke QuoteProcessor -e events/quote_processor/batch.json --fresh   # on an empty moto

Where it runs: on the running local stack when there is one (its local.json exists), so the function sees
that stack's table, queue and stream; else, or with --fresh, on a fresh and empty in-process moto.
--local insists on the running stack. The handler's result goes to stdout as JSON; everything the function
logs (Powertools logs and metrics included) goes to stderr, so `| jq` works. A handler that raises prints
Lambda's error shape (errorType, errorMessage, stackTrace) and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tickerstream_cli.config import LOCAL_CREDENTIALS, LOCAL_REGION, ConfigError, local_stack, local_stack_file

# Refs whose physical name is not what Ref returns, rebuilt from what local.json carries.
_NAME_IS_REF = {"AWS::Kinesis::Stream", "AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SNS::Topic",
                "AWS::KinesisFirehose::DeliveryStream", "AWS::Serverless::Function", "AWS::Logs::LogGroup"}


def read_event(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read event file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"event file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"event file {path} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def template_functions() -> list[str]:
    from tickerstream_local.template import sam_template

    return [n for n, r in sam_template()["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]


def _answers(endpoint_url: str) -> bool:
    parts = urlsplit(endpoint_url)
    try:
        with socket.create_connection((parts.hostname or "localhost", parts.port or 80), timeout=1):
            return True
    except OSError:
        return False


def running_stack_environment(function_id: str, info: dict[str, Any]) -> dict[str, str]:
    """The function's environment on the running local stack: its resources' names, endpoint and region."""
    region = info.get("region") or LOCAL_REGION
    runtime = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region, "AWS_ENDPOINT_URL": info["aws_endpoint_url"]}
    if function_id in (info.get("function_environments") or {}):
        return {**runtime, **info["function_environments"][function_id]}
    from tickerstream_local.intrinsics import Context
    from tickerstream_local.stack import template_environment
    from tickerstream_local.template import parameter_values, sam_template

    template = sam_template()
    ctx = Context(parameters=parameter_values(template), conditions=template.get("Conditions", {}), region=region)
    sqs = None
    for logical_id, physical in (info.get("resources") or {}).items():
        resource_type = template["Resources"].get(logical_id, {}).get("Type")
        if resource_type in _NAME_IS_REF:
            ctx.refs[logical_id] = physical
        elif resource_type == "AWS::SQS::Queue":
            if sqs is None:
                import boto3

                sqs = boto3.client("sqs", region_name=region, endpoint_url=info["aws_endpoint_url"], **LOCAL_CREDENTIALS)
            ctx.refs[logical_id] = sqs.get_queue_url(QueueName=physical)["QueueUrl"]
        elif resource_type == "AWS::Cognito::UserPool" and info.get("user_pool_id"):
            ctx.refs[logical_id] = info["user_pool_id"]
    try:
        return {**runtime, **template_environment(template, function_id, ctx)}
    except KeyError as exc:
        raise ConfigError(f"{function_id}'s environment needs {exc.args[0]}, which {local_stack_file()} does not "
                          "carry: use --fresh") from None


def invoke(function_id: str, event: Any, *, stack: dict[str, Any] | None = None) -> Any:
    """Run `function_id` from template.yaml on `event`: on the running local stack described by `stack`
    (its local.json), or on a fresh in-process moto when `stack` is None."""
    import boto3

    from tickerstream_local.functions import LocalContext, function_setting, handler_of, load_function

    timeout = int(function_setting(function_id, "Timeout", 3))
    if stack is not None:
        # Local credentials whatever the shell holds: real keys are never sent to the local endpoint.
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            os.environ.pop(name, None)
        os.environ.update({"AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
                           "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"]})
        module = load_function(function_id, running_stack_environment(function_id, stack))
        name = (stack.get("resources") or {}).get(function_id, function_id)
        context = LocalContext(name, timeout_seconds=timeout, region=stack.get("region") or LOCAL_REGION)
        return handler_of(function_id, module)(event, context)

    from moto import mock_aws

    from tickerstream_local.stack import deploy

    for name, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(name.upper(), value)
    with mock_aws():
        deployment = deploy(boto3.Session(region_name=LOCAL_REGION, **LOCAL_CREDENTIALS))
        module = load_function(function_id, deployment.function_environment(function_id))
        context = LocalContext(deployment.physical.get(function_id, function_id), timeout_seconds=timeout)
        return handler_of(function_id, module)(event, context)


def add_invoke_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "invoke", help="run a template function on an event, in-process (no Docker)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("function", help="logical id in template.yaml, e.g. QuoteProcessor")
    parser.add_argument("-e", "--event", required=True, type=Path, help="event file, e.g. events/quote_processor/batch.json")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--fresh", action="store_true", help="run on a fresh, empty in-process moto even if a local stack runs")
    where.add_argument("--local", action="store_true", help="run on the running local stack, or fail if there is none")
    parser.set_defaults(run=_run)


def _target(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.fresh:
        return None
    info = local_stack()
    if info is None:
        if args.local:
            raise ConfigError(f"no local stack is running ({local_stack_file()} does not exist): start it with `make local`")
        print(f"no local stack running: {args.function} runs on a fresh, empty in-process moto", file=sys.stderr)
        return None
    if not _answers(info["aws_endpoint_url"]):
        raise ConfigError(f"{local_stack_file()} names the local stack's AWS endpoint {info['aws_endpoint_url']}, but "
                          "nothing answers there: start it with `make local`, or pass --fresh for an empty moto")
    print(f"{args.function} runs on the local stack at {info['aws_endpoint_url']}", file=sys.stderr)
    return info


def _run(args: argparse.Namespace) -> int:
    functions = template_functions()
    if args.function not in functions:
        raise ConfigError(f"unknown function {args.function!r}; template.yaml has: {', '.join(functions)}")
    event = read_event(args.event)
    stack = _target(args)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    # Lambda's stdout is its log: here it goes to stderr, and stdout carries only the result.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            result, failed = invoke(args.function, event, stack=stack), False
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported the way Lambda reports a failed invocation
            traceback.print_exc()
            result, failed = {"errorType": type(exc).__name__, "errorMessage": str(exc),
                              "stackTrace": traceback.format_tb(exc.__traceback__)}, True
    print(json.dumps(result, indent=2, default=str))
    return 1 if failed else 0
