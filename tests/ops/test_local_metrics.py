"""The running local stack puts its functions' EMF and AWS's own metrics into its CloudWatch."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import time
import urllib.error
import urllib.request

import pytest

from tickerstream_cli.demo_quotes import DemoQuotes
from tickerstream_cli.producer import produce
from tickerstream_local.runner import LocalStack

RECORDS = 300


@pytest.fixture(scope="module")
def stack():
    # ops_interval: the background tick is out of the way; the tests tick by hand.
    with contextlib.redirect_stdout(io.StringIO()), LocalStack(api_port=0, moto_port=0, state_file=None,
                                                               ops_interval=3600) as running:
        report = produce(running.deployment.client("kinesis"), running.deployment.physical["QuoteStream"],
                         DemoQuotes(seed=7, invalid_fraction=0.05), count=RECORDS)
        running.drain()
        try:
            urllib.request.urlopen(f"{running.info['api_url']}/{_stage(running)}/quotes/QXZ", timeout=10)
        except urllib.error.HTTPError as refused:  # no token: 401 from the authorizer, a 4XX for API Gateway
            assert refused.code == 401
        running.ops.tick()
        yield running, report


def _stage(stack) -> str:
    return next(iter(stack.api.app.configs.values())).stage


def _sum(stack, namespace: str, name: str, dimensions: dict[str, str]) -> tuple[float, set[str]]:
    now = dt.datetime.now(dt.UTC)
    points = stack.deployment.client("cloudwatch").get_metric_statistics(
        Namespace=namespace, MetricName=name, Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - dt.timedelta(hours=1), EndTime=now + dt.timedelta(minutes=5), Period=3600 * 2,
        Statistics=["Sum"])["Datapoints"]
    return sum(p["Sum"] for p in points), {p.get("Unit") for p in points}


def test_emf_metrics_reach_the_local_cloudwatch_as_declared(stack):
    running, report = stack
    service = {"service": "tickerstream"}
    received, units = _sum(running, "TickerStream", "RecordsReceived", service)
    invalid, _ = _sum(running, "TickerStream", "InvalidRecords", service)
    assert received == RECORDS and units == {"Count"}
    assert invalid == report.invalid_sent > 0
    assert running.ops.capture.rejected == 0


def test_lambda_metrics_count_every_invocation(stack):
    running, _ = stack
    mapping = running.mapping("QuoteProcessor")
    name = {"FunctionName": running.deployment.physical["QuoteProcessor"]}
    invocations, _ = _sum(running, "AWS/Lambda", "Invocations", name)
    errors, _ = _sum(running, "AWS/Lambda", "Errors", name)
    ages, units = _sum(running, "AWS/Lambda", "IteratorAge", name)
    assert invocations == mapping.stats.invocations > 0
    assert errors == mapping.stats.function_errors
    assert ages >= 0 and units == {"Milliseconds"}


def test_queue_depth_and_api_requests(stack):
    running, report = stack
    queue = {"QueueName": running.deployment.ctx.attributes["QuarantineQueue"]["QueueName"]}
    depth, _ = _sum(running, "AWS/SQS", "ApproximateNumberOfMessagesVisible", queue)
    assert depth >= 1  # sampled once: the invalid records wait there
    api = {"ApiName": running.deployment.properties("QuotesApi")["Name"], "Stage": _stage(running)}
    assert _sum(running, "AWS/ApiGateway", "Count", api)[0] == 1
    assert _sum(running, "AWS/ApiGateway", "4XXError", api)[0] == 1
    assert _sum(running, "AWS/ApiGateway", "5XXError", api)[0] == 0


def test_every_alarm_of_the_template_is_judged_locally(stack):
    running, _ = stack
    template = [lid for lid, r in running.deployment.template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert template and running.ops.unsupported == {}
    assert sorted(s.name for s in running.ops.evaluator.alarms) == sorted(
        running.deployment.properties(lid)["AlarmName"] for lid in template)
