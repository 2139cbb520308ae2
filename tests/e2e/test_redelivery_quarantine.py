"""Quarantine is at least once, and a copy is the same message (found by the fault reconciliation test).

QuoteProcessor quarantines a batch's invalid records as it goes; when the invocation then dies (a
crash after some writes) Lambda redelivers the batch and the same records are quarantined again. SQS
and DynamoDB cannot be written atomically, so a standard queue gets the record twice; what makes that
harmless is that both copies are the same message: the record's position (stream, shard, sequence,
sub-sequence) is its identity, and consumers (the reconciliations here, a redrive) count distinct
positions. The README states this; a FIFO queue deduplicated by position would narrow it to SQS's
five-minute deduplication window.
"""

from __future__ import annotations

import base64
import json

import pytest

from tickerstream_local.faults import FaultPlan, InjectedCrash, crash
from tickerstream_local.functions import LocalContext, load_function


def _record(sequence: int, data: bytes, key: str) -> dict:
    return {"kinesis": {"sequenceNumber": str(sequence), "partitionKey": key, "data": base64.b64encode(data).decode(),
                        "approximateArrivalTimestamp": 1_700_000_000.0},
            "eventID": f"shardId-000000000000:{sequence}", "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/q"}


def test_a_crash_after_quarantining_sends_the_same_message_again_never_a_different_one(deployment):
    plan = FaultPlan([crash("dynamodb:TransactWriteItems", after=0, count=1)])  # AAPL and MSFT share one pack
    plan.install("https://")  # in-process moto: the functions' clients talk to AWS's own endpoints
    try:
        function = load_function("QuoteProcessor", deployment.function_environment("QuoteProcessor"))
        event = {"Records": [
            _record(1, b'{"ticker_symbol": "AAPL"', "bad"),
            _record(2, json.dumps({"ticker_symbol": "AAPL", "sector": "TECHNOLOGY", "change": 0.1, "price": 10.0}).encode(), "AAPL"),
            _record(3, json.dumps({"ticker_symbol": "MSFT", "sector": "TECHNOLOGY", "change": 0.1, "price": 20.0}).encode(), "MSFT"),
        ]}
        with pytest.raises(InjectedCrash):
            function.handler(event, LocalContext("QuoteProcessor"))
        assert function.handler(event, LocalContext("QuoteProcessor")) == {"batchItemFailures": []}  # Lambda's retry
    finally:
        plan.uninstall()
    sqs = deployment.client("sqs")
    bodies = []
    while received := sqs.receive_message(QueueUrl=deployment.ctx.refs["QuarantineQueue"],
                                          MaxNumberOfMessages=10).get("Messages"):
        bodies += [json.loads(message["Body"]) for message in received]
    assert len(bodies) == 2  # the crashed invocation's copy and the retry's
    assert bodies[0] == bodies[1]
    assert (bodies[0]["shard_id"], bodies[0]["sequence_number"], bodies[0]["sub_sequence_number"]) == \
        ("shardId-000000000000", "1", 0)
