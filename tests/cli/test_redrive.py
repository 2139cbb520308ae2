"""`tickerstream redrive` through the local stack: batches that ran out of retries (every table write
failing, by fault injection) land in FailedBatchesQueue; the command re-reads them from the stream, puts
them back through QuoteProcessor and deletes each message once its records are durable. A second
redrive of the same batches changes nothing, and the quarantine and lake views still reconcile."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from cli.conftest import run_cli, scrubbed_environment
from e2e.ledger import read_ledger, stream_records
from tickerstream.codec import InvalidRecord, decode_quote
from tickerstream_cli.config import LOCAL_STACK_ENV
from tickerstream_cli.demo import table_contents
from tickerstream_cli.demo_quotes import DemoQuotes
from tickerstream_cli.producer import produce
from tickerstream_local.faults import FaultPlan, server_error

QUOTES = 120


@pytest.fixture(scope="module")
def failed(tmp_path_factory):
    """A local stack whose QuoteProcessor could write nothing (retries 0): its batches are all in
    FailedBatchesQueue. The fault is then healed; the stack keeps running for the CLI."""
    from tickerstream_local.runner import LocalStack

    state = tmp_path_factory.mktemp("stack") / "local.json"
    plan = FaultPlan([server_error("dynamodb:TransactWriteItems", count=10**9)])
    with contextlib.redirect_stdout(io.StringIO()), LocalStack(
        api_port=0, moto_port=0, state_file=state, faults=plan, parameter_overrides={"MaximumRetryAttempts": 0},
    ) as stack:
        deployment = stack.deployment
        produce(deployment.client("kinesis"), deployment.physical["QuoteStream"],
                iter(DemoQuotes(seed=11, invalid_fraction=0.1)), count=QUOTES)
        stack.drain()
        plan.faults.clear()  # the table takes writes again
        yield stack, state


def _env(state, home):
    return scrubbed_environment(home, **{LOCAL_STACK_ENV: str(state)})


def _queue(deployment):
    sqs = deployment.client("sqs")
    return sqs, sqs.get_queue_url(QueueName=deployment.physical["FailedBatchesQueue"])["QueueUrl"]


def _depth(deployment) -> int:
    sqs, url = _queue(deployment)
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _bodies(deployment) -> list[str]:
    """The messages' bodies, read without consuming them (made visible again at once)."""
    sqs, url = _queue(deployment)
    messages: dict[str, dict] = {}
    while got := [m for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)
                  .get("Messages", []) if m["MessageId"] not in messages]:
        messages.update((m["MessageId"], m) for m in got)
    for message in messages.values():
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return [m["Body"] for m in messages.values()]


def _valid_quotes(deployment) -> int:
    valid = 0
    for record in stream_records(deployment):
        with contextlib.suppress(InvalidRecord):
            decode_quote(record["Data"])
            valid += 1
    return valid


def _applied(deployment) -> int:
    return sum(int(summary["quote_count"]) for summary in table_contents(deployment)[1].values())


def test_dry_run_then_redrive_twice_is_idempotent_and_the_views_reconcile(failed, empty_home):
    stack, state = failed
    deployment = stack.deployment
    valid = _valid_quotes(deployment)
    messages = _depth(deployment)
    assert messages > 0 and _applied(deployment) < valid  # the failing writes left work undone
    bodies = _bodies(deployment)
    expected_records = sum(json.loads(b)["KinesisBatchInfo"]["batchSize"] for b in bodies)

    dry = run_cli(["redrive", "--dry-run", "--format", "json"], _env(state, empty_home))
    assert dry.code == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["dry_run"] and report["statuses"] == {"would redrive": messages}
    assert report["records"] == expected_records
    assert {(o["shard_id"], o["start_sequence"], o["end_sequence"]) for o in report["outcomes"]} == {
        (info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"])
        for info in (json.loads(b)["KinesisBatchInfo"] for b in bodies)}
    assert _depth(deployment) == messages and _applied(deployment) < valid  # nothing changed

    first = run_cli(["redrive", "--format", "json"], _env(state, empty_home))
    assert first.code == 0, first.stderr
    assert json.loads(first.stdout)["statuses"] == {"redriven": messages}
    assert _depth(deployment) == 0
    after_one = table_contents(deployment)
    assert _applied(deployment) == valid

    # The same batches again, as if the deletes had been lost: the conditional writes refuse them all.
    sqs, url = _queue(deployment)
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    second = run_cli(["redrive"], _env(state, empty_home))
    assert second.code == 0, second.stderr
    assert f"{messages} message(s): {messages} redriven" in second.stdout
    assert table_contents(deployment) == after_one
    assert _depth(deployment) == 0

    stack.drain()  # the lake's buffers
    ledger = read_ledger(deployment)
    assert ledger.invalid > 0
    assert ledger.problems() == []


def test_unreadable_and_trimmed_messages_stay_in_the_queue_with_their_reason(failed, empty_home):
    stack, state = failed
    deployment = stack.deployment
    sqs, url = _queue(deployment)
    shard = deployment.client("kinesis").list_shards(StreamName=deployment.physical["QuoteStream"])["Shards"][0]
    stream_arn = f"arn:aws:kinesis:us-east-1:123456789012:stream/{deployment.physical['QuoteStream']}"
    beyond = str(10**30)  # past anything the shard holds: as after retention has trimmed the batch's records
    sqs.send_message(QueueUrl=url, MessageBody="this is not Lambda's OnFailure record")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"KinesisBatchInfo": {
        "shardId": shard["ShardId"], "startSequenceNumber": beyond, "endSequenceNumber": beyond,
        "batchSize": 1, "streamArn": stream_arn}}))
    before = _depth(deployment)

    ran = run_cli(["redrive", "--format", "json"], _env(state, empty_home))
    assert ran.code == 1
    report = json.loads(ran.stdout)
    assert report["statuses"] == {"unreadable": 1, "trimmed": 1}
    reasons = {o["status"]: o["detail"] for o in report["outcomes"]}
    assert "not JSON" in reasons["unreadable"] and "stays in the queue" in reasons["unreadable"]
    assert "retention" in reasons["trimmed"] or "no longer" in reasons["trimmed"]
    assert _depth(deployment) == before == report["left_in_queue"]


def test_without_a_local_stack_or_stack_name_it_says_what_to_do(tmp_path, empty_home):
    ran = run_cli(["redrive", "--dry-run"], scrubbed_environment(empty_home, **{LOCAL_STACK_ENV: str(tmp_path / "none.json")}))
    assert ran.code == 2
    assert "no local stack is running" in ran.stderr and "--stack-name" in ran.stderr
