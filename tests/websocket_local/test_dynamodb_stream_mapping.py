"""The local event-source mapping serves a template's `Type: DynamoDB` event (a table's stream, through
moto's dynamodbstreams API) with the same batching, bisect, retry and OnFailure semantics as Kinesis."""

from __future__ import annotations

import json

import pytest

from tickerstream_local.esm import EventSourceMapping, stream_events
from tickerstream_local.stack import _load_provisioners, deploy

SETTINGS = {
    "Stream": {"Fn::GetAtt": ["Table", "StreamArn"]},
    "StartingPosition": "TRIM_HORIZON",
    "BatchSize": 10,
    "BisectBatchOnFunctionError": True,
    "MaximumRetryAttempts": 1,
    "FunctionResponseTypes": ["ReportBatchItemFailures"],
    "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["Failed", "Arn"]}}},
}


def template() -> dict:
    return {
        "Resources": {
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "StreamSpecification": {"StreamViewType": "NEW_IMAGE"}}},
            "Failed": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "Consumer": {"Type": "AWS::Serverless::Function", "Properties": {
                "CodeUri": "functions/none", "Handler": "app.handler",
                "Events": {"Changes": {"Type": "DynamoDB", "Properties": SETTINGS}}}},
        }
    }


class Recorder:
    def __init__(self, poison: set[int] = frozenset()):
        self.batches: list[list[int]] = []
        self.events: list[dict] = []
        self.poison = poison

    def __call__(self, event, context):
        numbers = [int(r["dynamodb"]["NewImage"]["n"]["N"]) for r in event["Records"]]
        self.batches.append(numbers)
        self.events.extend(event["Records"])
        if self.poison & set(numbers):
            raise ValueError("poison")
        return {"batchItemFailures": []}


@pytest.fixture
def table(aws):
    _load_provisioners()
    deployment = deploy(aws, template=template(), stack_name="ddbstream")
    dynamodb = deployment.client("dynamodb")

    def put(count: int) -> None:
        for n in range(count):
            dynamodb.put_item(TableName=deployment.physical["Table"], Item={"pk": {"S": f"k{n}"}, "n": {"N": str(n)}})

    return deployment, put


def test_the_table_stream_resolves_and_the_event_is_served(table):
    deployment, _ = table
    assert ":table/" in deployment.ctx.attributes["Table"]["StreamArn"]
    assert stream_events(deployment) == [("Consumer", "Changes")]


def test_every_change_arrives_in_order_in_batches_of_the_templates_size(table):
    deployment, put = table
    put(25)
    recorder = Recorder()
    mapping = EventSourceMapping(deployment, "Consumer", "Changes", handler=recorder)
    mapping.drain(timeout=30)
    assert [n for batch in recorder.batches for n in batch] == list(range(25))
    assert max(len(batch) for batch in recorder.batches) == 10
    record = recorder.events[0]
    assert record["eventSource"] == "aws:dynamodb" and record["eventName"] == "INSERT"
    assert record["eventSourceARN"] == deployment.ctx.attributes["Table"]["StreamArn"]
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], float)
    assert mapping.stats.records_checkpointed == 25


def test_a_poison_change_is_bisected_out_and_sent_to_on_failure_with_ddb_batch_info(table):
    deployment, put = table
    put(10)
    recorder = Recorder(poison={6})
    mapping = EventSourceMapping(deployment, "Consumer", "Changes", handler=recorder)
    mapping.drain(timeout=30)
    processed = {n for batch in recorder.batches if 6 not in batch for n in batch}
    assert processed == set(range(10)) - {6}  # the rest went through, around the poison record
    assert mapping.stats.bisections >= 3 and mapping.stats.records_discarded == 1
    sqs = deployment.client("sqs")
    (message,) = sqs.receive_message(QueueUrl=deployment.ctx.refs["Failed"], MaxNumberOfMessages=10)["Messages"]
    info = json.loads(message["Body"])["DDBStreamBatchInfo"]
    poisoned = next(r for r in recorder.events if r["dynamodb"]["NewImage"]["n"]["N"] == "6")
    assert info["batchSize"] == 1 and info["startSequenceNumber"] == poisoned["dynamodb"]["SequenceNumber"]


def test_reported_item_failures_checkpoint_at_the_lowest_sequence_number(table):
    deployment, put = table
    put(5)
    calls: list[list[str]] = []

    def partly_failing(event, context):
        sequences = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        calls.append(sequences)
        return {"batchItemFailures": [{"itemIdentifier": sequences[3]}] if len(calls) == 1 else []}

    mapping = EventSourceMapping(deployment, "Consumer", "Changes", handler=partly_failing)
    mapping.drain(timeout=30)
    assert len(calls) == 2 and calls[1] == calls[0][3:]


def test_filter_criteria_deliver_only_matching_changes_and_move_past_the_rest(aws):
    _load_provisioners()
    filtered = template()
    filtered["Resources"]["Consumer"]["Properties"]["Events"]["Changes"]["Properties"] = {
        **SETTINGS, "FilterCriteria": {"Filters": [{"Pattern": '{"eventName": ["MODIFY"]}'},
                                                   {"Pattern": '{"dynamodb": {"NewImage": {"n": {"N": ["3"]}}}}'}]}}
    deployment = deploy(aws, template=filtered, stack_name="ddbfilter")
    dynamodb = deployment.client("dynamodb")
    name = deployment.physical["Table"]
    for n in range(5):
        dynamodb.put_item(TableName=name, Item={"pk": {"S": f"k{n}"}, "n": {"N": str(n)}})
    dynamodb.put_item(TableName=name, Item={"pk": {"S": "k1"}, "n": {"N": "10"}})  # a MODIFY
    recorder = Recorder()
    mapping = EventSourceMapping(deployment, "Consumer", "Changes", handler=recorder)
    mapping.drain(timeout=30)
    assert [n for batch in recorder.batches for n in batch] == [3, 10]
    assert [r["eventName"] for r in recorder.events] == ["INSERT", "MODIFY"]
    assert mapping.stats.records_checkpointed == 6  # the four filtered out count as processed


def test_unsupported_filter_operators_are_refused_not_ignored():
    from tickerstream_local.esm_filters import UnsupportedFilter, matches_any

    with pytest.raises(UnsupportedFilter):
        matches_any({"eventName": "INSERT"}, [{"eventName": [{"wildcard": "IN*"}]}])
