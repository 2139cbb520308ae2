"""The redrive's parts on their own: Lambda's OnFailure message read back, the range re-read from a shard
(whole, across pages, or trimmed by retention), and when a message may be deleted."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickerstream_cli.redrive import Target, redrive
from tickerstream_cli.redrive_batches import (
    FailedBatch,
    RecordsGone,
    UnreadableMessage,
    answer_failure,
    lambda_event,
    read_batch,
)
from tickerstream_local.esm_events import kinesis_event_record, on_failure_message

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/quotes"


def _raw(sequence: int) -> dict:
    return {"SequenceNumber": str(sequence), "PartitionKey": f"T{sequence}", "Data": b'{"x":1}',
            "ApproximateArrivalTimestamp": datetime(2026, 11, 21, tzinfo=UTC)}


class Shard:
    """A shard holding sequence numbers [first, last] (older ones trimmed), served `page` at a time."""

    def __init__(self, first: int, last: int, page: int = 3):
        self.first, self.last, self.page = first, last, page
        self.calls = 0

    def get_shard_iterator(self, StreamName, ShardId, ShardIteratorType, StartingSequenceNumber):  # noqa: N803
        assert ShardIteratorType == "AT_SEQUENCE_NUMBER"
        return {"ShardIterator": str(max(int(StartingSequenceNumber), self.first))}  # Kinesis starts at the trim horizon

    def get_records(self, ShardIterator, Limit):  # noqa: N803
        self.calls += 1
        start = int(ShardIterator)
        numbers = range(start, min(start + self.page, self.last + 1))
        return {"Records": [_raw(n) for n in numbers], "NextShardIterator": str(start + len(numbers))}


def _message(start: int, end: int, size: int | None = None) -> dict:
    records = [kinesis_event_record(_raw(n), "shardId-000000000000", STREAM_ARN, "us-east-1") for n in range(start, end + 1)]
    body = on_failure_message("arn:fn", "RetryAttemptsExhausted", 11, None, 0.0, "shardId-000000000000", records, STREAM_ARN)
    if size is not None:
        body["KinesisBatchInfo"]["batchSize"] = size
    return {"MessageId": f"m{start}", "ReceiptHandle": f"h{start}", "Body": json.dumps(body)}


@given(start=st.integers(1, 10**20), length=st.integers(1, 500))
def test_the_local_mappings_on_failure_message_reads_back_as_the_batch_it_names(start, length):
    records = [{"kinesis": {"sequenceNumber": str(start + i), "approximateArrivalTimestamp": 0.0}} for i in range(length)]
    body = on_failure_message("arn:fn", "RecordAgeExceeded", 3, "Unhandled", 0.0, "shardId-7", records, STREAM_ARN)
    batch = FailedBatch.from_message({"MessageId": "m", "ReceiptHandle": "h", "Body": json.dumps(body)})
    assert (batch.shard_id, batch.start_sequence, batch.end_sequence, batch.batch_size) == (
        "shardId-7", str(start), str(start + length - 1), length)
    assert batch.condition == "RecordAgeExceeded" and batch.stream_name == "quotes"


@pytest.mark.parametrize(("body", "reason"), [
    ("not json", "not JSON"),
    (json.dumps({"requestContext": {}}), "no KinesisBatchInfo"),
    (json.dumps({"KinesisBatchInfo": {"shardId": "s", "startSequenceNumber": "5", "endSequenceNumber": "4",
                                      "batchSize": 1, "streamArn": STREAM_ARN}}), "not a range"),
    (json.dumps({"KinesisBatchInfo": {"shardId": "s", "startSequenceNumber": "5", "endSequenceNumber": "6",
                                      "streamArn": STREAM_ARN}}), "lacks batchSize"),
])
def test_messages_that_are_not_a_kinesis_batch_are_refused_with_a_reason(body, reason):
    with pytest.raises(UnreadableMessage, match=reason):
        FailedBatch.from_message({"MessageId": "m", "Body": body})


def test_the_range_is_read_whole_across_pages_and_no_further():
    shard = Shard(first=1, last=100, page=3)
    records = read_batch(shard, "quotes", FailedBatch.from_message(_message(10, 20)))
    assert [r["SequenceNumber"] for r in records] == [str(n) for n in range(10, 21)]
    assert shard.calls == 4  # 10-12, 13-15, 16-18, 19-21 (21 is past the end: stop)


def test_a_range_retention_has_trimmed_is_reported_not_guessed():
    with pytest.raises(RecordsGone, match="retention has trimmed"):
        read_batch(Shard(first=15, last=100), "quotes", FailedBatch.from_message(_message(10, 20)))
    with pytest.raises(RecordsGone, match="only 3 of the batch's 11"):
        read_batch(Shard(first=1, last=12), "quotes", FailedBatch.from_message(_message(10, 20)))


def test_the_event_is_lambdas_kinesis_event_for_those_records():
    batch = FailedBatch.from_message(_message(3, 4))
    event = lambda_event([_raw(3), _raw(4)], batch, "eu-west-1")
    assert [r["kinesis"]["sequenceNumber"] for r in event["Records"]] == ["3", "4"]
    assert event["Records"][0]["eventID"] == "shardId-000000000000:3"
    assert event["Records"][0]["eventSourceARN"] == STREAM_ARN and event["Records"][0]["awsRegion"] == "eu-west-1"


@pytest.mark.parametrize(("answer", "durable"), [
    ({"batchItemFailures": []}, True),
    ({"batchItemFailures": [{"itemIdentifier": "7"}]}, False),
    ({"errorType": "InjectedCrash", "errorMessage": "boom"}, False),
    (None, False),
])
def test_only_an_answer_without_failures_or_error_makes_the_records_durable(answer, durable):
    assert (answer_failure(answer) is None) is durable


class Queue:
    def __init__(self, messages):
        self.messages = {m["MessageId"]: m for m in messages}
        self.deleted, self.released = [], []

    def receive_message(self, QueueUrl, MaxNumberOfMessages, VisibilityTimeout, WaitTimeSeconds):  # noqa: N803
        return {"Messages": list(self.messages.values())[:MaxNumberOfMessages]}

    def delete_message(self, QueueUrl, ReceiptHandle):  # noqa: N803
        self.deleted.append(ReceiptHandle)

    def change_message_visibility(self, QueueUrl, ReceiptHandle, VisibilityTimeout):  # noqa: N803
        assert VisibilityTimeout == 0
        self.released.append(ReceiptHandle)


@pytest.mark.parametrize("answer", [{"batchItemFailures": [{"itemIdentifier": "10"}]}, {"errorType": "E", "errorMessage": "x"}])
def test_a_batch_the_function_did_not_make_durable_stays_and_is_visible_again(answer):
    queue = Queue([_message(10, 12), _message(30, 31)])
    invoked = []
    target = Target("url", "quotes", "us-east-1", queue, Shard(1, 100), lambda e: invoked.append(e) or answer, "test")
    outcomes = redrive(target)
    assert [o.status for o in outcomes] == ["failed", "failed"]
    assert queue.deleted == [] and sorted(queue.released) == ["h10", "h30"]
    assert [len(e["Records"]) for e in invoked] == [3, 2]


def test_dry_run_invokes_and_deletes_nothing():
    queue = Queue([_message(10, 12)])
    target = Target("url", "quotes", "us-east-1", queue, Shard(1, 100), lambda e: pytest.fail("invoked"), "test")
    assert [(o.status, o.records_read) for o in redrive(target, dry_run=True)] == [("would redrive", 3)]
    assert queue.deleted == [] and queue.released == ["h10"]


STACK_TEMPLATE = {
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue"},
                  "Stream": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": 1}}},
    "Outputs": {"FailedBatchesQueueUrl": {"Value": {"Ref": "Queue"}}, "QuoteStreamName": {"Value": {"Ref": "Stream"}},
                "QuoteProcessorName": {"Value": "tickerstream-QuoteProcessor-abc"}},
}


def test_on_aws_the_queue_stream_and_function_come_from_the_stacks_outputs():
    import io

    import boto3
    from moto import mock_aws

    from tickerstream_cli.redrive import aws_target, lambda_invoker

    with mock_aws():
        boto3.client("cloudformation").create_stack(StackName="prod", TemplateBody=json.dumps(STACK_TEMPLATE))
        target = aws_target("prod", "us-east-1", None)
        kinesis, sqs = boto3.client("kinesis"), boto3.client("sqs")
        assert target.queue_url == sqs.list_queues()["QueueUrls"][0]
        stream = kinesis.list_streams()["StreamNames"][0]
        assert target.stream_name == stream and target.source == "stack prod"
        shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
        sequences = [kinesis.put_record(StreamName=stream, Data=b'{"q":%d}' % i, PartitionKey="K")["SequenceNumber"]
                     for i in range(3)]
        arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
        sqs.send_message(QueueUrl=target.queue_url, MessageBody=json.dumps({"KinesisBatchInfo": {
            "shardId": shard, "startSequenceNumber": sequences[0], "endSequenceNumber": sequences[-1],
            "batchSize": 3, "streamArn": arn}}))
        invoked = []
        target.invoke = lambda event: invoked.append(event) or {"batchItemFailures": []}
        assert [o.status for o in redrive(target)] == ["redriven"]
        assert [r["kinesis"]["sequenceNumber"] for r in invoked[0]["Records"]] == sequences
        assert "Messages" not in sqs.receive_message(QueueUrl=target.queue_url, WaitTimeSeconds=0)

    class Lambda:
        def __init__(self, error):
            self.error, self.calls = error, []

        def invoke(self, **call):
            self.calls.append(call)
            body = {"errorType": "WriteNotDurable", "errorMessage": "throttled"} if self.error else {"batchItemFailures": []}
            return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode()),
                    **({"FunctionError": "Unhandled"} if self.error else {})}

    failing, working = Lambda(True), Lambda(False)
    assert lambda_invoker(failing, "fn")({"Records": []}) == {"errorType": "WriteNotDurable", "errorMessage": "throttled"}
    assert lambda_invoker(working, "fn")({"Records": []}) == {"batchItemFailures": []}
    assert failing.calls[0]["InvocationType"] == "RequestResponse" and failing.calls[0]["FunctionName"] == "fn"
    assert json.loads(failing.calls[0]["Payload"]) == {"Records": []}


def test_a_batch_of_another_stream_is_left_alone():
    queue = Queue([_message(10, 12)])
    target = Target("url", "other-stream", "us-east-1", queue, Shard(1, 100), lambda e: pytest.fail("invoked"), "test")
    [outcome] = redrive(target)
    assert outcome.status == "unreadable" and "not this stack's 'other-stream'" in outcome.detail
    assert queue.deleted == [] and queue.released == ["h10"]


def test_redrive_refuses_nonsense_options(tmp_path, empty_home):
    from cli.conftest import run_cli, scrubbed_environment

    ran = run_cli(["redrive", "--limit", "0"], scrubbed_environment(empty_home))
    assert ran.code == 2 and "--limit must be at least 1" in ran.stderr
