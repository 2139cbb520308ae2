"""`tickerstream redrive`: put the batches in FailedBatchesQueue back through QuoteProcessor.

    tickerstream redrive --dry-run                       # the running local stack: what would be done
    tickerstream redrive                                 # redrive every message
    tickerstream redrive --stack-name tickerstream-prod --format json

Each message is Lambda's OnFailure record of a batch (shard, first and last sequence number, size; never
the records). For each one the records are re-read from the stream (GetShardIterator AT_SEQUENCE_NUMBER,
GetRecords up to the last sequence number), sent to QuoteProcessor in the event shape Lambda uses
(on AWS: Invoke, RequestResponse, of the stack's function; on the local stack: the function run
in-process against that stack, as `tickerstream invoke` does), and the message is deleted only when the
function answered with no batchItemFailures and no error: its records are durable. A message whose
records the stream no longer retains, or whose redrive failed, stays in the queue and the summary says
why. QuoteProcessor's writes are conditional, so redriving a batch twice changes nothing the second time.
Exit status: 0 when every message was redriven (or, with --dry-run, could be), 1 when some stay.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from tickerstream_cli.config import LOCAL_CREDENTIALS, LOCAL_REGION, ConfigError, local_stack, local_stack_file
from tickerstream_cli.redrive_batches import (
    FailedBatch,
    RecordsGone,
    UnreadableMessage,
    answer_failure,
    lambda_event,
    read_batch,
)

# The stack outputs a redrive needs; the resources behind them are whatever the template's Outputs name.
QUEUE_OUTPUT, FUNCTION_OUTPUT, STREAM_OUTPUT = "FailedBatchesQueueUrl", "QuoteProcessorName", "QuoteStreamName"
Invoker = Callable[[dict[str, Any]], Any]


@dataclass
class Outcome:
    message_id: str
    status: str  # redriven | would redrive | trimmed | failed | unreadable
    shard_id: str = ""
    start_sequence: str = ""
    end_sequence: str = ""
    batch_size: int = 0
    records_read: int = 0
    condition: str = ""
    detail: str = ""


@dataclass
class Target:
    queue_url: str
    stream_name: str
    region: str
    sqs: Any
    kinesis: Any
    invoke: Invoker
    source: str


def output_logical_id(output_key: str) -> str:
    """The logical id of the resource a template output refers to (`Value: !Ref X`)."""
    from tickerstream_local.template import sam_template

    outputs = sam_template().get("Outputs") or {}
    value = (outputs.get(output_key) or {}).get("Value")
    if not isinstance(value, dict) or "Ref" not in value:
        raise ConfigError(f"template.yaml has no output {output_key!r} referring to a resource (Value: !Ref …)")
    return value["Ref"]


# -- where the queue, the stream and the function are ---------------------------------------------


def aws_target(stack_name: str, region: str | None, endpoint_url: str | None) -> Target:
    from tickerstream_cli.config import aws_session, stack_outputs

    for key in (QUEUE_OUTPUT, FUNCTION_OUTPUT, STREAM_OUTPUT):
        output_logical_id(key)  # the template still names it as this command expects
    outputs = stack_outputs(stack_name, region, endpoint_url)
    missing = [k for k in (QUEUE_OUTPUT, FUNCTION_OUTPUT, STREAM_OUTPUT) if k not in outputs]
    if missing:
        raise ConfigError(f"stack {stack_name!r} has no output {', '.join(missing)}: deploy the current template.yaml")
    session = aws_session(region, endpoint_url)
    invoke = lambda_invoker(session.client("lambda", endpoint_url=endpoint_url), outputs[FUNCTION_OUTPUT])
    return Target(outputs[QUEUE_OUTPUT], outputs[STREAM_OUTPUT], session.region_name,
                  session.client("sqs", endpoint_url=endpoint_url), session.client("kinesis", endpoint_url=endpoint_url),
                  invoke, f"stack {stack_name}")


def lambda_invoker(lam: Any, function_name: str) -> Invoker:
    """Invoke the deployed function synchronously, as the event source mapping does; a function error
    comes back in Lambda's error shape."""

    def invoke(event: dict[str, Any]) -> Any:
        response = lam.invoke(FunctionName=function_name, InvocationType="RequestResponse",
                              Payload=json.dumps(event).encode())
        payload = response["Payload"].read()
        answer = json.loads(payload) if payload else None
        if response.get("FunctionError"):
            answer = answer if isinstance(answer, dict) else {}
            return {"errorType": answer.get("errorType", response["FunctionError"]),
                    "errorMessage": answer.get("errorMessage", "the function failed")}
        return answer

    return invoke


def local_target() -> Target:
    from tickerstream_cli.config import local_session
    from tickerstream_cli.invoke import _answers

    info = local_stack()
    if info is None:
        raise ConfigError(f"no local stack is running ({local_stack_file()} does not exist): start it with "
                          "`make local`, or pass --stack-name of a deployed stack")
    endpoint = info["aws_endpoint_url"]
    if not _answers(endpoint):
        raise ConfigError(f"{local_stack_file()} names the local stack's AWS endpoint {endpoint}, but nothing "
                          "answers there: start it with `make local`")
    resources = info.get("resources") or {}
    queue_id, function_id, stream_id = (output_logical_id(k) for k in (QUEUE_OUTPUT, FUNCTION_OUTPUT, STREAM_OUTPUT))
    missing = [i for i in (queue_id, stream_id) if i not in resources]
    if missing:
        raise ConfigError(f"the local stack has no {', '.join(missing)}")
    region = info.get("region") or LOCAL_REGION
    session = local_session(region)
    sqs = session.client("sqs", endpoint_url=endpoint)
    queue_url = sqs.get_queue_url(QueueName=resources[queue_id])["QueueUrl"]
    return Target(queue_url, resources[stream_id], region, sqs, session.client("kinesis", endpoint_url=endpoint),
                  local_invoker(function_id, info), f"local stack ({local_stack_file()})")


def local_invoker(function_id: str, info: dict[str, Any]) -> Invoker:
    """The template's function, loaded once against the running local stack, invoked like Lambda does:
    what it logs is kept aside (and shown when it fails), an exception is Lambda's error shape."""
    from tickerstream_cli.invoke import running_stack_environment
    from tickerstream_local.functions import LocalContext, function_setting, handler_of, load_function

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)  # real keys are never sent to the local endpoint
    os.environ.update({"AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
                       "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"]})
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    logs = io.StringIO()
    with contextlib.redirect_stdout(logs):
        handler = handler_of(function_id, load_function(function_id, running_stack_environment(function_id, info)))
    name = (info.get("resources") or {}).get(function_id, function_id)
    timeout = int(function_setting(function_id, "Timeout", 3))

    def invoke(event: dict[str, Any]) -> Any:
        logs.seek(0)
        logs.truncate()
        context = LocalContext(name, timeout_seconds=timeout, region=info.get("region") or LOCAL_REGION)
        with contextlib.redirect_stdout(logs):
            try:
                return handler(event, context)
            except Exception as exc:  # noqa: BLE001 - reported the way Lambda reports a failed invocation
                print(logs.getvalue(), file=sys.stderr, end="")
                return {"errorType": type(exc).__name__, "errorMessage": str(exc)}

    return invoke


# -- the redrive ----------------------------------------------------------------------------------


def receive_all(sqs: Any, queue_url: str, visibility: int, limit: int | None) -> list[dict[str, Any]]:
    """Every message now in the queue (up to `limit`), hidden from other readers for `visibility` s."""
    seen: dict[str, dict[str, Any]] = {}
    while limit is None or len(seen) < limit:
        wanted = 10 if limit is None else min(10, limit - len(seen))
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=wanted, VisibilityTimeout=visibility,
                                  WaitTimeSeconds=1).get("Messages") or []
        fresh = [m for m in got if m["MessageId"] not in seen]
        if not fresh:
            break
        seen.update((m["MessageId"], m) for m in fresh)
    return list(seen.values())


def redrive_one(target: Target, batch: FailedBatch, dry_run: bool) -> Outcome:
    outcome = Outcome(batch.message_id, "", batch.shard_id, batch.start_sequence, batch.end_sequence,
                      batch.batch_size, condition=batch.condition)
    if batch.stream_name != target.stream_name:
        outcome.status = "unreadable"
        outcome.detail = (f"the batch is of stream {batch.stream_name!r}, not this stack's {target.stream_name!r}; "
                          "the message stays in the queue")
        return outcome
    try:
        records = read_batch(target.kinesis, target.stream_name, batch)
    except RecordsGone as gone:
        outcome.status, outcome.detail = "trimmed", f"{gone}; the message stays in the queue"
        return outcome
    outcome.records_read = len(records)
    if dry_run:
        outcome.status = "would redrive"
        return outcome
    failure = answer_failure(target.invoke(lambda_event(records, batch, target.region)))
    if failure is not None:
        outcome.status, outcome.detail = "failed", f"{failure}; the message stays in the queue"
        return outcome
    target.sqs.delete_message(QueueUrl=target.queue_url, ReceiptHandle=batch.receipt_handle)
    outcome.status = "redriven"
    return outcome


def redrive(target: Target, *, dry_run: bool = False, limit: int | None = None, visibility: int = 300,
            on_progress: Callable[[Outcome, int, int], None] | None = None) -> list[Outcome]:
    """Redrive the queue's messages, oldest records of each shard first; return one outcome per message.
    Messages left in the queue are made visible again at once."""
    messages = receive_all(target.sqs, target.queue_url, visibility, limit)
    outcomes: list[Outcome] = []
    batches: list[FailedBatch] = []
    for message in messages:
        try:
            batches.append(FailedBatch.from_message(message))
        except UnreadableMessage as exc:
            outcomes.append(Outcome(message.get("MessageId", ""), "unreadable",
                                    detail=f"{exc}; the message stays in the queue"))
    batches.sort(key=lambda b: (b.shard_id, int(b.start_sequence)))
    handles = {m.get("MessageId", ""): m.get("ReceiptHandle") for m in messages}
    try:
        for number, batch in enumerate(batches, 1):
            outcome = redrive_one(target, batch, dry_run)
            outcomes.append(outcome)
            if on_progress:
                on_progress(outcome, number, len(batches))
    finally:
        done = {o.message_id for o in outcomes if o.status == "redriven"}
        for message_id, handle in handles.items():
            if message_id not in done and handle:
                target.sqs.change_message_visibility(QueueUrl=target.queue_url, ReceiptHandle=handle,
                                                     VisibilityTimeout=0)
    return outcomes


def summary(outcomes: list[Outcome], target: Target, dry_run: bool) -> dict[str, Any]:
    statuses = Counter(o.status for o in outcomes)
    return {
        "queue_url": target.queue_url,
        "stream": target.stream_name,
        "source": target.source,
        "dry_run": dry_run,
        "messages": len(outcomes),
        "statuses": dict(statuses),
        "records": sum(o.records_read for o in outcomes),
        "left_in_queue": sum(n for s, n in statuses.items() if s != "redriven"),
        "outcomes": [asdict(o) for o in outcomes],
    }


# -- the command ----------------------------------------------------------------------------------


def add_redrive_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "redrive", help="re-process the batches in FailedBatchesQueue (re-read from the stream)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dry-run", action="store_true",
                        help="list the messages, shards, ranges and records found; invoke and delete nothing")
    parser.add_argument("--stack-name", help="deployed stack whose outputs name the queue, stream and function "
                                             "(default: the running local stack)")
    parser.add_argument("--region", help="AWS region of the stack")
    parser.add_argument("--endpoint-url", help="AWS endpoint (with --stack-name), e.g. a LocalStack")
    parser.add_argument("--limit", type=int, help="redrive at most this many messages")
    parser.add_argument("--visibility-timeout", type=int, default=300,
                        help="seconds the messages being redriven are hidden from other readers (default 300)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="summary format")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    if not 0 <= args.visibility_timeout <= 43200:
        raise ConfigError("--visibility-timeout must be between 0 and 43200 seconds (SQS's range)")
    target = aws_target(args.stack_name, args.region, args.endpoint_url) if args.stack_name else local_target()
    console = Console(stderr=True)
    console.print(f"{'Dry run: ' if args.dry_run else ''}redriving [bold]{target.queue_url}[/] ({target.source})")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task("batches", total=None)

        def show(outcome: Outcome, number: int, total: int) -> None:
            progress.update(task, total=total, completed=number,
                            description=f"{outcome.shard_id} {outcome.start_sequence}: {outcome.status}")

        outcomes = redrive(target, dry_run=args.dry_run, limit=args.limit, visibility=args.visibility_timeout,
                           on_progress=show)
    report = summary(outcomes, target, args.dry_run)
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)
    ok = {"would redrive"} if args.dry_run else {"redriven"}
    return 0 if all(o.status in ok for o in outcomes) else 1


def _print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="FailedBatchesQueue redrive" + (" (dry run: nothing changed)" if report["dry_run"] else ""))
    for column in ("message", "shard", "sequence range", "batch", "read", "status", "detail"):
        table.add_column(column, overflow="fold")
    for o in report["outcomes"]:
        style = {"redriven": "green", "would redrive": "cyan"}.get(o["status"], "red")
        table.add_row(o["message_id"][:8], o["shard_id"], f"{o['start_sequence']}..{o['end_sequence']}",
                      str(o["batch_size"] or ""), str(o["records_read"]), f"[{style}]{o['status']}[/]", o["detail"])
    console = Console()
    console.print(table)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report["statuses"].items())) or "the queue is empty"
    console.print(f"{report['messages']} message(s): {counts}; {report['records']} record(s) read; "
                  f"{report['left_in_queue']} left in the queue")
