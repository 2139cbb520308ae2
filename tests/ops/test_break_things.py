"""Break the local stack on purpose and watch the template's alarms: each goes to ALARM, notifies the ops
topic, and returns to OK when the trouble is over. Time is stepped (conftest.OpsHarness), not waited for;
the alarms keep the template's periods, thresholds and TreatMissingData except where a test says so."""

from __future__ import annotations

import io
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from tickerstream_cli.demo_quotes import DemoQuotes
from tickerstream_cli.producer import produce
from tickerstream_local.faults import server_error


def _produce(harness, count: int, invalid_fraction: float = 0.0, seed: int = 1):
    deployment = harness.stack.deployment
    return produce(deployment.client("kinesis"), deployment.physical["QuoteStream"],
                   DemoQuotes(seed=seed, invalid_fraction=invalid_fraction), count=count)


def _changes(notes: list[dict], alarm: str) -> list[str]:
    return [n["NewStateValue"] for n in notes if n["AlarmName"] == alarm]


def _demo_view(harness) -> str:
    from rich.console import Console

    from tickerstream_cli.demo import live_table

    console = Console(record=True, width=400, file=io.StringIO())
    console.print(live_table(None, harness.stack, None, 1.0))
    return console.export_text()


def _purge(harness, logical_id: str) -> None:
    sqs = harness.stack.deployment.client("sqs")
    url = harness.stack.deployment.ctx.refs[logical_id]
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_a_poison_storm_raises_the_invalid_rate_and_quarantine_alarms(ops_stack):
    harness = ops_stack()
    harness.advance(60)  # a first look: nothing wrong, nothing alarming
    assert harness.state("InvalidRecordRateAlarm") != "ALARM"
    report = _produce(harness, 200, invalid_fraction=0.5)
    harness.stack.drain()
    stormed = time.time()
    assert report.invalid_sent > 50
    harness.advance(harness.past_period_of(max(stormed, harness.now), 300) + 300)
    for alarm in ("InvalidRecordRateAlarm", "QuarantineQueueDepthAlarm"):
        assert harness.state(alarm) == "ALARM", alarm
        assert harness.described(alarm)["StateValue"] == "ALARM"
    notes = harness.notifications()
    rate = [n for n in notes if n["AlarmName"] == harness.alarm_name("InvalidRecordRateAlarm")]
    assert rate and rate[-1]["NewStateValue"] == "ALARM" and rate[-1]["Trigger"]["Metrics"]
    assert "ALARM" in _changes(notes, harness.alarm_name("QuarantineQueueDepthAlarm"))
    assert harness.state("UnstorableQuotesAlarm") != "ALARM"  # invalid is not unstorable
    assert harness.alarm_name("InvalidRecordRateAlarm") in _demo_view(harness)  # make demo's live view shows it
    # An operator reads the quarantine and empties it; the storm is over.
    _purge(harness, "QuarantineQueue")
    harness.advance(300 * 4, step=300)
    for alarm in ("InvalidRecordRateAlarm", "QuarantineQueueDepthAlarm"):
        assert harness.state(alarm) == "OK", alarm
        assert _changes(harness.notifications(), harness.alarm_name(alarm))[-1:] == ["OK"] or \
            harness.described(alarm)["StateValue"] == "OK"


def test_failing_table_writes_raise_the_failed_batches_alarm(ops_stack):
    # Every TransactWriteItems of the functions fails (500) until the fault is lifted; retries run out and
    # the batch's shard range goes to FailedBatchesQueue. MaximumRetryAttempts=1 only to spend less time.
    fault = server_error("dynamodb:TransactWriteItems", count=10**9)
    from tickerstream_local.faults import FaultPlan

    harness = ops_stack(faults=FaultPlan([fault]), parameter_overrides={"MaximumRetryAttempts": 1})
    _produce(harness, 50)
    harness.stack.drain()
    failed = time.time()
    assert harness.stack.mapping("QuoteProcessor").stats.on_failure_messages >= 1
    harness.advance(harness.past_period_of(max(failed, harness.now), 300) + 300)
    assert harness.state("FailedBatchesQueueDepthAlarm") == "ALARM"
    assert harness.described("FailedBatchesQueueDepthAlarm")["StateValue"] == "ALARM"
    assert "ALARM" in _changes(harness.notifications(), harness.alarm_name("FailedBatchesQueueDepthAlarm"))
    # The table answers again and the failed batches are dealt with (redriven, then deleted).
    fault.count = 0
    _purge(harness, "FailedBatchesQueue")
    _produce(harness, 20, seed=2)
    harness.stack.drain()
    harness.advance(300 * 4, step=300)
    assert harness.state("FailedBatchesQueueDepthAlarm") == "OK"
    assert _changes(harness.notifications(), harness.alarm_name("FailedBatchesQueueDepthAlarm")) == ["OK"]


def test_a_stalled_consumer_raises_the_iterator_age_alarm(ops_stack):
    # IteratorAgeAlarmMilliseconds lowered from its default so that a stall of seconds, not minutes, shows.
    harness = ops_stack(parameter_overrides={"IteratorAgeAlarmMilliseconds": 2000})
    mapping = harness.stack.mapping("QuoteProcessor")
    harness.monitor.clock = lambda: harness.now  # invocations are stamped with the stepped clock
    for minute in range(3):  # 3 of 5 periods behind
        mapping.pause()
        _produce(harness, 20, seed=minute)
        time.sleep(3.0)  # the consumer stalls while records arrive
        harness.stack.drain()
        mapping.resume()
        harness.advance(60)
    harness.advance(1)
    assert harness.state("QuoteProcessorIteratorAgeAlarm") == "ALARM"
    assert "ALARM" in _changes(harness.notifications(), harness.alarm_name("QuoteProcessorIteratorAgeAlarm"))
    for minute in range(3):  # caught up: records are read as they arrive
        _produce(harness, 20, seed=10 + minute)
        harness.stack.drain()
        harness.advance(60)
    harness.advance(1)
    assert harness.state("QuoteProcessorIteratorAgeAlarm") == "OK"
    assert _changes(harness.notifications(), harness.alarm_name("QuoteProcessorIteratorAgeAlarm")) == ["OK"]


def test_a_flood_of_bad_sign_ins_raises_the_failed_sign_ins_alarm(ops_stack):
    harness = ops_stack()
    info = harness.stack.info
    threshold = float(harness.stack.deployment.properties("FailedSignInsAlarm")["Threshold"])
    pool = info["user_pool_id"]
    admin = harness.stack.deployment.client("cognito-idp")
    admin.admin_create_user(UserPoolId=pool, Username="ada@example.com", MessageAction="SUPPRESS",
                            UserAttributes=[{"Name": "email", "Value": "ada@example.com"}])
    admin.admin_set_user_password(UserPoolId=pool, Username="ada@example.com", Password="Correct-Horse-9!battery",
                                  Permanent=True)
    idp = boto3.client("cognito-idp", region_name=info["region"], endpoint_url=info["cognito_endpoint_url"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    for attempt in range(int(threshold) + 5):
        with pytest.raises(ClientError) as refused:
            idp.initiate_auth(ClientId=info["user_client_id"], AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={"USERNAME": "ada@example.com", "PASSWORD": f"guess-{attempt}"})
        assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"
    flooded = time.time()
    harness.advance(harness.past_period_of(max(flooded, harness.now), 300))
    assert harness.state("FailedSignInsAlarm") == "ALARM"
    note = [n for n in harness.notifications() if n["AlarmName"] == harness.alarm_name("FailedSignInsAlarm")][-1]
    assert note["NewStateValue"] == "ALARM" and note["Subject"].startswith("ALARM: ")
    harness.advance(300 * 4, step=300)  # the guessing stopped
    assert harness.state("FailedSignInsAlarm") == "OK"


def test_a_failing_transform_raises_the_lake_transform_failures_alarm(ops_stack):
    # FirehoseTransform stands in for itself: it raises while `broken`, then runs the real code again.
    broken = {"now": True}
    stack_handlers: dict = {}

    def transform(event, context):
        if broken["now"]:
            raise RuntimeError("transform crashed")
        from tickerstream_local.handlers import resolve_handler

        return resolve_handler(harness.stack.deployment, "FirehoseTransform")(event, context)

    stack_handlers["FirehoseTransform"] = transform
    harness = ops_stack(handlers=stack_handlers)
    harness.monitor.clock = lambda: harness.now  # Firehose's datapoints are stamped with the stepped clock
    _produce(harness, 30)
    harness.stack.drain()
    assert harness.stack.firehoses[0].stats.failed == 30  # every record went to the error prefix
    failed_at = harness.now
    harness.advance(harness.past_period_of(failed_at, 60))
    assert harness.state("FirehoseTransformErrorsAlarm") == "ALARM"  # Lambda's view: the function raised
    harness.advance(harness.past_period_of(failed_at, 300), step=300)
    assert harness.state("LakeTransformFailuresAlarm") == "ALARM"  # Firehose's view
    assert "ALARM" in _changes(harness.notifications(), harness.alarm_name("LakeTransformFailuresAlarm"))
    broken["now"] = False
    _produce(harness, 30, seed=3)
    harness.stack.drain()
    harness.advance(300, step=300)
    assert harness.state("LakeTransformFailuresAlarm") == "OK"
    assert _changes(harness.notifications(), harness.alarm_name("LakeTransformFailuresAlarm")) == ["OK"]
