"""A redelivered batch must not quarantine a record twice (found by the fault reconciliation test).

QuoteProcessor quarantines a batch's invalid records as it goes; when the invocation then dies (a
crash after some writes) Lambda redelivers the batch and the same records are quarantined again: the
quarantine queue holds more messages than there were invalid records. Ticker writes are protected by
their position conditions; quarantine sends have no such guard. The reconciliation counts distinct
records (shard, sequence, sub-sequence), which holds; this test pins the duplicate messages themselves.
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


@pytest.mark.xfail(strict=True, reason="QuoteProcessor re-sends quarantine messages when a batch is redelivered "
                                       "(needs a dedup guard, e.g. a FIFO queue deduplicated by position)")
def test_a_crash_after_quarantining_does_not_quarantine_twice(deployment):
    plan = FaultPlan([crash("dynamodb:TransactWriteItems", after=1, count=1)])
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
    attributes = sqs.get_queue_attributes(QueueUrl=deployment.ctx.refs["QuarantineQueue"],
                                          AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert int(attributes["ApproximateNumberOfMessages"]) == 1
