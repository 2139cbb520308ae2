"""The evaluator against the local CloudWatch and SNS (moto): periods, metric math, state changes, notifications."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickerstream_local.alarm_math import Expression
from tickerstream_local.alarm_model import AlarmSpec, UnsupportedAlarm
from tickerstream_local.alarms import AlarmEvaluator
from tickerstream_local.metrics_store import Datum, MetricStore

T0 = 1_800_000_000  # a whole multiple of 300: periods of 60 and 300 s start here
SERVICE = (("service", "tickerstream"),)


def _datum(name: str, at: float, *values: float, dims=SERVICE) -> Datum:
    return Datum("TickerStream", name, dims, at, tuple(values), "Count")


@pytest.fixture
def ops(aws):
    """An ops topic with a queue subscribed (to read the notifications), and the local CloudWatch."""
    sns, sqs, cloudwatch = aws.client("sns"), aws.client("sqs"), aws.client("cloudwatch")
    topic = sns.create_topic(Name="ops")["TopicArn"]
    queue = sqs.create_queue(QueueName="ops-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "false"})

    def inbox() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(json.loads(m["Body"])["Message"]) | {"_subject": json.loads(m["Body"])["Subject"]}
                for m in messages]

    return {"topic": topic, "inbox": inbox, "cloudwatch": cloudwatch, "sns": sns}


def _alarm(ops, name: str, **props) -> AlarmSpec:
    props = {"ComparisonOperator": "GreaterThanThreshold", "Threshold": 0, "EvaluationPeriods": 1,
             "AlarmActions": [ops["topic"]], "OKActions": [ops["topic"]], **props}
    request = {k: v for k, v in props.items() if k not in ("Metrics",)}
    if "Metrics" in props:
        request["Metrics"] = props["Metrics"]
    ops["cloudwatch"].put_metric_alarm(AlarmName=name, **request)
    return AlarmSpec.from_properties(name, props)


def test_sum_alarm_fires_notifies_and_recovers(ops):
    spec = _alarm(ops, "errors", Namespace="TickerStream", MetricName="InvalidRecords", Dimensions=[
        {"Name": "service", "Value": "tickerstream"}], Statistic="Sum", Period=60, TreatMissingData="notBreaching")
    store = MetricStore()
    evaluator = AlarmEvaluator(store, [spec], ops["cloudwatch"], ops["sns"])
    store.add(_datum("InvalidRecords", T0 + 5, 0, 0))
    assert [c.new for c in evaluator.evaluate(T0 + 61)] == ["OK"]  # one datapoint, 0: not breaching
    store.add(_datum("InvalidRecords", T0 + 70, 2))
    store.add(_datum("InvalidRecords", T0 + 80, 1))
    store.add(_datum("InvalidRecords", T0 + 80, 1, dims=()))  # another metric: other dimensions
    assert evaluator.evaluate(T0 + 119) == []  # the period [T0+60, T0+120) has not ended yet
    change, = evaluator.evaluate(T0 + 121)
    assert (change.old, change.new) == ("OK", "ALARM")
    assert "[3.0 (" in change.reason and "greater than the threshold (0.0)" in change.reason
    alarm = ops["cloudwatch"].describe_alarms(AlarmNames=["errors"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM" and alarm["StateReason"] == change.reason
    note, = [n for n in ops["inbox"]() if n["NewStateValue"] == "ALARM"]
    assert note["_subject"] == 'ALARM: "errors" in US East (N. Virginia)'
    assert (note["OldStateValue"], note["AlarmName"], note["Trigger"]["MetricName"]) == ("OK", "errors", "InvalidRecords")
    assert note["Trigger"]["Statistic"] == "SUM" and note["Trigger"]["Dimensions"] == [{"value": "tickerstream", "name": "service"}]
    # No new data: the breaching point stays the most recent real one until it leaves the evaluation range
    # (1 + 2 periods), then missing data is notBreaching.
    assert evaluator.evaluate(T0 + 181) == [] and evaluator.evaluate(T0 + 241) == []
    change, = evaluator.evaluate(T0 + 301)
    assert change.new == "OK"
    assert [n["NewStateValue"] for n in ops["inbox"]()] == ["OK"]


def test_m_of_n_over_periods_with_a_percentile(ops):
    spec = _alarm(ops, "latency", Namespace="TickerStream", MetricName="Lag", Dimensions=[
        {"Name": "service", "Value": "tickerstream"}], ExtendedStatistic="p99", Period=60, EvaluationPeriods=5,
        DatapointsToAlarm=3, Threshold=1000, TreatMissingData="notBreaching")
    store = MetricStore()
    evaluator = AlarmEvaluator(store, [spec], ops["cloudwatch"], ops["sns"])
    slow = [10.0] * 98 + [5000.0, 5000.0]  # p99 = 5000 (nearest rank 99 of 100)
    fast = [10.0] * 99 + [5000.0]  # p99 = 10
    for minute, samples in enumerate([slow, fast, slow]):
        store.add(Datum("TickerStream", "Lag", SERVICE, T0 + 60 * minute + 1, tuple(samples), "Milliseconds"))
    assert [c.new for c in evaluator.evaluate(T0 + 180)] == ["OK"]  # 2 of 5 breach
    store.add(Datum("TickerStream", "Lag", SERVICE, T0 + 181, tuple(slow), "Milliseconds"))
    assert [c.new for c in evaluator.evaluate(T0 + 240)] == ["ALARM"]  # 3 of the last 4 real: ALARM


def test_metric_math_rate_alarm(ops):
    rate = _alarm(ops, "rate", EvaluationPeriods=1, Threshold=5, TreatMissingData="notBreaching", Metrics=[
        {"Id": "rate", "Expression": "100*m1/m2", "ReturnData": True},
        {"Id": "m1", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "TickerStream", "MetricName": "InvalidRecords",
                                                            "Dimensions": [{"Name": "service", "Value": "tickerstream"}]},
                                                 "Period": 300, "Stat": "Sum"}},
        {"Id": "m2", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "TickerStream", "MetricName": "RecordsReceived",
                                                            "Dimensions": [{"Name": "service", "Value": "tickerstream"}]},
                                                 "Period": 300, "Stat": "Sum"}},
    ])
    store = MetricStore()
    evaluator = AlarmEvaluator(store, [rate], ops["cloudwatch"], ops["sns"])
    store.add(_datum("RecordsReceived", T0 + 1, 100, 100))
    store.add(_datum("InvalidRecords", T0 + 1, 4, 5))  # 4.5 %
    assert [c.new for c in evaluator.evaluate(T0 + 300)] == ["OK"]
    store.add(_datum("RecordsReceived", T0 + 301, 100))
    store.add(_datum("InvalidRecords", T0 + 302, 6))  # 6 %
    change, = evaluator.evaluate(T0 + 600)
    assert change.new == "ALARM" and "[6.0 (" in change.reason
    assert ops["inbox"]()[-1]["Trigger"]["Metrics"][0]["Expression"] == "100*m1/m2"


def test_expressions():
    moments = [0.0, 60.0, 120.0]
    series = {"m1": {0.0: 5.0, 60.0: 2.0}, "m2": {0.0: 4.0, 60.0: 0.0, 120.0: 1.0}}
    assert Expression("m1 - FILL(m2, 0)").evaluate(series, moments) == {0.0: 1.0, 60.0: 2.0}
    assert Expression("100*m1/m2").evaluate(series, moments) == {0.0: 125.0}  # /0 and missing give no point
    assert Expression("IF(m2 > 0, m1, -1)").evaluate(series, moments) == {0.0: 5.0, 60.0: -1.0}
    assert Expression("MAX([m1, m2])").evaluate(series, moments) == {0.0: 5.0, 60.0: 2.0, 120.0: 1.0}
    assert Expression("m1 > 3 && m2 > 3").evaluate(series, moments) == {0.0: 1.0, 60.0: 0.0}
    for unsupported in ("ANOMALY_DETECTION_BAND(m1)", "m1 ** 2", "m3 + 1", "SEARCH('x')"):
        with pytest.raises(UnsupportedAlarm):
            Expression(unsupported).evaluate(series, moments)


def test_missing_treatment_goes_to_insufficient_data_and_ignore_keeps_the_state(ops):
    base = {"Namespace": "TickerStream", "MetricName": "X", "Statistic": "Maximum", "Period": 60}
    missing = _alarm(ops, "missing", **base)
    ignore = _alarm(ops, "ignore", **base, TreatMissingData="ignore")
    store = MetricStore()
    evaluator = AlarmEvaluator(store, [missing, ignore], ops["cloudwatch"], ops["sns"])
    store.add(Datum("TickerStream", "X", (), T0 + 1, (1.0,)))
    assert {c.alarm: c.new for c in evaluator.evaluate(T0 + 60)} == {"missing": "ALARM", "ignore": "ALARM"}
    assert {c.alarm: c.new for c in evaluator.evaluate(T0 + 60 * 10)} == {"missing": "INSUFFICIENT_DATA"}
    assert evaluator.status["ignore"].state == "ALARM"


def test_an_alarm_the_evaluator_cannot_judge_is_named_with_its_reason_and_the_others_run():
    from types import SimpleNamespace

    from tickerstream_local.ops_monitor import supported_alarms

    good = {"AlarmName": "good", "Namespace": "N", "MetricName": "M", "Statistic": "Sum", "Period": 60,
            "EvaluationPeriods": 1, "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold"}
    resources = {
        "Good": good,
        "Band": {**good, "AlarmName": "band", "ThresholdMetricId": "ad1"},
        "Trimmed": {**good, "AlarmName": "trimmed", "Statistic": None, "ExtendedStatistic": "tm99"},
        "Search": {**good, "AlarmName": "search", "Metrics": [{"Id": "e", "Expression": "SEARCH('x', 'Sum', 60)"}]},
        "LeftOut": {**good, "AlarmName": "left-out"},  # its condition kept it from being created
    }
    deployment = SimpleNamespace(
        template={"Resources": {lid: {"Type": "AWS::CloudWatch::Alarm"} for lid in resources}},
        properties=lambda lid: resources[lid], physical={lid: lid for lid in resources if lid != "LeftOut"},
        name_for=lambda lid: lid)
    specs, unsupported = supported_alarms(deployment)
    assert [s.name for s in specs] == ["good"]
    assert set(unsupported) == {"band", "trimmed", "search"}
    assert "anomaly" in unsupported["band"] and "tm99" in unsupported["trimmed"] and "none" in unsupported["search"]
    evaluator = AlarmEvaluator(MetricStore(), specs)
    evaluator.evaluate(T0)
    assert evaluator.status["good"].state == "INSUFFICIENT_DATA" and evaluator.status["good"].evaluated_at == T0
    search_stat = {**resources["Search"], "Metrics": [
        {"Id": "e", "Expression": "SEARCH('x', 'Sum', 60)"},
        {"Id": "m", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "M"}, "Period": 60, "Stat": "Sum"}}]}
    with pytest.raises(UnsupportedAlarm, match="SEARCH"):
        AlarmSpec.from_properties("search", search_stat)


_series = st.dictionaries(st.sampled_from([0.0, 60.0, 120.0, 180.0]), st.floats(0, 1e6), max_size=4)


@given(_series, _series, st.floats(0, 1e3))
def test_rate_and_fill_expressions_match_their_pointwise_definition(m1, m2, fill):
    moments = [0.0, 60.0, 120.0, 180.0]
    rate = Expression("100*m1/m2").evaluate({"m1": m1, "m2": m2}, moments)
    assert rate == {t: 100 * m1[t] / m2[t] for t in moments if t in m1 and t in m2 and m2[t] != 0}
    failed = Expression("m1 - FILL(m2, %r)" % fill).evaluate({"m1": m1, "m2": m2}, moments)
    assert failed == {t: m1[t] - m2.get(t, fill) for t in moments if t in m1}
