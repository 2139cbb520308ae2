"""Alarms and the dashboard name only metrics that exist, and every alarm reaches the ops topic.

A metric exists if a function emits it (captured: every function of the template runs on each of its
events/ files on in-process moto, and its EMF output is read back by namespace, name and dimension
values) or if AWS publishes it for a resource of the template (support/metric_catalog.py's table, from
AWS's metric references). Dimension values are compared after the template's references are resolved,
so an alarm on the wrong function, queue or API fails too.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from support.metric_catalog import (ALARM, FUNCTION, Metric, alarm_metrics, alarms, capture_emitted, dashboard_metrics,
                                    dashboard_widgets, resources, symbolic_context, unknown_metrics)

from tickerstream_local.intrinsics import resolve
from tickerstream_local.stack import deploy
from tickerstream_local.template import REPO_ROOT, TEMPLATE_PATH, sam_template

TEMPLATE = sam_template()
MISSING_DATA = {"breaching", "notBreaching", "ignore", "missing"}
# The metric-math forms the local alarm evaluation implements (ops-local branch).
EXPRESSIONS = (re.compile(r"100\*(\w+)/(\w+)"), re.compile(r"(\w+) - FILL\((\w+), 0\)"))


@pytest.fixture(scope="module")
def emitted_by_function() -> dict[str, set[Metric]]:
    return capture_emitted(TEMPLATE)


@pytest.fixture(scope="module")
def emitted(emitted_by_function) -> set[Metric]:
    return set().union(*emitted_by_function.values())


def test_no_two_functions_emit_the_same_metric(emitted_by_function):
    """CloudWatch would add them up: one function's InvalidRecords would inflate the other's rate."""
    owners: dict[tuple, list[str]] = {}
    for lid, metrics in emitted_by_function.items():
        for metric in metrics:
            owners.setdefault(metric, []).append(lid)
    assert {metric: lids for metric, lids in owners.items() if len(lids) > 1} == {}


def _names_in_code() -> set[str]:
    names = set()
    for path in (REPO_ROOT / "functions").rglob("*.py"):
        names |= set(re.findall(r"add_metric\(\s*(?:name=)?\"(\w+)\"", path.read_text()))
    return names


def test_the_capture_saw_every_metric_the_functions_name(emitted):
    """Otherwise an events/ file is missing for a path that emits a metric, and this test would be blind to it."""
    code = _names_in_code()
    assert {"QuotesApplied", "InvalidRecords", "SignInAttempts", "SuccessfulSignIns", "QuotesAccepted"} <= code
    assert code - {name for _, name, _ in emitted} == set()


def test_every_metric_the_alarms_and_the_dashboard_name_exists(emitted):
    assert unknown_metrics(TEMPLATE, emitted) == []


def _alarm_with_metric(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    props = template["Resources"][logical_id]["Properties"]
    return props if "MetricName" in props else next(q["MetricStat"]["Metric"] for q in props["Metrics"] if "MetricStat" in q)


PLANTED = {
    "a misspelt EMF metric": lambda t: _alarm_with_metric(t, "UnstorableQuotesAlarm").update(MetricName="UnstorableQuote"),
    "an EMF metric in the other namespace": lambda t: _alarm_with_metric(t, "InvalidRecordRateAlarm").update(Namespace="TickerStream/Lake", MetricName="StaleQuotes"),
    "a wrong service dimension": lambda t: _alarm_with_metric(t, "FailedSignInsAlarm").update(Dimensions=[{"Name": "service", "Value": "tickerstreams"}]),
    "a metric AWS does not publish": lambda t: _alarm_with_metric(t, "LakeFreshnessAlarm").update(MetricName="DeliveryToS3.Freshness"),
    "an AWS dimension naming another resource": lambda t: _alarm_with_metric(t, "QuoteProcessorErrorsAlarm").update(Dimensions=[{"Name": "FunctionName", "Value": {"Ref": "QuoteStream"}}]),
    "the queue's URL instead of its name": lambda t: _alarm_with_metric(t, "QuarantineQueueDepthAlarm").update(Dimensions=[{"Name": "QueueName", "Value": {"Ref": "QuarantineQueue"}}]),
    "an API alarm without its stage": lambda t: _alarm_with_metric(t, "ApiLatencyAlarm").update(Dimensions=[{"Name": "Stage", "Value": {"Ref": "Stage"}}]),
    "a misspelt dashboard metric": lambda t: t["Resources"]["OpsDashboard"]["Properties"].update(
        DashboardBody={"Fn::Sub": t["Resources"]["OpsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"].replace('"QuotesApplied"', '"QuotesAplied"')}),
}


@pytest.mark.parametrize("plant", sorted(PLANTED))
def test_a_planted_wrong_metric_is_caught(emitted, plant):
    template = copy.deepcopy(TEMPLATE)
    PLANTED[plant](template)
    assert len(unknown_metrics(template, emitted)) == 1


# ---------------------------------------------------------------------------------------------------
# Alarms: every one notifies OpsTopic, says what missing data means, and every function has its pair


def functions_without(template: dict[str, Any], metric: str) -> set[str]:
    ctx = symbolic_context(template)
    watched = {dict(dims).get("FunctionName") for alarm in alarms(template, ctx).values()
               for namespace, name, dims in alarm_metrics(alarm) if (namespace, name) == ("AWS/Lambda", metric)}
    return {lid for lid in resources(template, FUNCTION) if f"Ref:{lid}" not in watched}


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_an_errors_and_a_throttles_alarm(metric):
    assert len(resources(TEMPLATE, FUNCTION)) >= 8
    assert functions_without(TEMPLATE, metric) == set()
    # A function added without its alarms is caught.
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["NewFunction"] = copy.deepcopy(template["Resources"]["ApiQuery"])
    assert functions_without(template, metric) == {"NewFunction"}


def test_every_alarm_notifies_the_ops_topic_on_alarm_and_on_ok():
    found = resources(TEMPLATE, ALARM)
    assert len(found) >= 27
    for lid, alarm in found.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "OpsTopic"}], lid
        assert props["OKActions"] == [{"Ref": "OpsTopic"}], lid
        assert props.get("ActionsEnabled", True) is True, lid


def test_every_alarm_chooses_what_missing_data_means_and_says_why():
    lines = TEMPLATE_PATH.read_text().splitlines()
    for lid, alarm in resources(TEMPLATE, ALARM).items():
        assert alarm["Properties"].get("TreatMissingData") in MISSING_DATA, lid
    declared = [i for i, line in enumerate(lines) if line.strip().startswith("TreatMissingData:")]
    assert len(declared) == len(resources(TEMPLATE, ALARM))
    for index in declared:
        assert lines[index - 1].strip().startswith("#"), f"line {index + 1}: say why (a comment right above)"


def test_every_alarm_threshold_is_a_parameter_or_a_fixed_sound_default():
    for lid, alarm in resources(TEMPLATE, ALARM).items():
        threshold = alarm["Properties"]["Threshold"]
        assert threshold in (0, 1) or threshold.get("Ref") in TEMPLATE["Parameters"], lid


def test_metric_math_alarms_use_only_the_forms_the_local_evaluation_implements():
    for lid, alarm in resources(TEMPLATE, ALARM).items():
        queries = alarm["Properties"].get("Metrics")
        if not queries:
            continue
        (returned,) = [q for q in queries if q.get("ReturnData") is True]
        match = next((m for p in EXPRESSIONS if (m := p.fullmatch(returned["Expression"]))), None)
        assert match, f"{lid}: {returned['Expression']}"
        stats = {q["Id"] for q in queries if "MetricStat" in q}
        assert set(match.groups()) == stats and len(queries) == 3, lid
        assert all(q["ReturnData"] is False for q in queries if "MetricStat" in q), lid


def test_the_dashboard_shows_every_alarm_and_every_area():
    ctx = symbolic_context(TEMPLATE)
    widgets = dashboard_widgets(TEMPLATE, ctx)
    (status,) = [w for w in widgets if w["type"] == "alarm"]
    assert set(status["properties"]["alarms"]) == {f"GetAtt:{lid}.Arn" for lid in resources(TEMPLATE, ALARM)}
    drawn = {(ns, name) for ns, name, _ in dashboard_metrics(widgets)}
    for metric in [("AWS/Kinesis", "IncomingRecords"), ("AWS/Lambda", "IteratorAge"), ("TickerStream", "ProcessingLag"),
                   ("TickerStream", "QuotesApplied"), ("TickerStream", "InvalidRecords"), ("TickerStream", "StaleQuotes"),
                   ("AWS/Firehose", "DeliveryToS3.Records"), ("AWS/ApiGateway", "Count"), ("AWS/ApiGateway", "Latency"),
                   ("AWS/ApiGateway", "4XXError"), ("AWS/ApiGateway", "5XXError"), ("TickerStream", "SignInAttempts")]:
        assert metric in drawn, metric


# ---------------------------------------------------------------------------------------------------
# The ops topic


def test_the_ops_topic_is_encrypted_with_a_key_cloudwatch_alarms_may_use():
    topic = TEMPLATE["Resources"]["OpsTopic"]["Properties"]
    # Not alias/aws/sns: CloudWatch cannot publish to a topic under the AWS managed key.
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["OpsTopicKey", "Arn"]}
    policy = TEMPLATE["Resources"]["OpsTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    (cloudwatch,) = [s for s in policy if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert cloudwatch["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_the_ops_topic_takes_alarms_of_this_stack_only_and_only_over_tls():
    ctx = symbolic_context(TEMPLATE)
    policy = resolve(TEMPLATE["Resources"]["OpsTopicPolicy"]["Properties"], ctx)
    assert policy["Topics"] == ["Ref:OpsTopic"]
    allow, deny = policy["PolicyDocument"]["Statement"]
    assert (allow["Effect"], allow["Principal"], allow["Action"]) == ("Allow", {"Service": "cloudwatch.amazonaws.com"}, "sns:Publish")
    pattern = allow["Condition"]["ArnLike"]["aws:SourceArn"]
    for alarm in alarms(TEMPLATE, ctx).values():  # every alarm's ARN matches, or its notifications are refused
        arn = f"arn:aws:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:{alarm['AlarmName']}"
        assert re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), arn), arn
    assert (deny["Effect"], deny["Principal"], deny["Condition"]) == ("Deny", "*", {"Bool": {"aws:SecureTransport": "false"}})


@pytest.mark.parametrize("email, subscriptions", [("", None), ("ops@example.com", [{"Protocol": "email", "Endpoint": "ops@example.com"}])])
def test_ops_email_subscribes_one_address_only_when_given(email, subscriptions):
    topic = resolve(TEMPLATE["Resources"]["OpsTopic"]["Properties"], symbolic_context(TEMPLATE, OpsEmail=email))
    assert topic.get("Subscription") == subscriptions


# ---------------------------------------------------------------------------------------------------
# The local stack creates them as CloudFormation would


def test_the_local_stack_creates_every_alarm_and_the_dashboard(deployment):
    cloudwatch = deployment.client("cloudwatch")
    created = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(MaxRecords=100)["MetricAlarms"]}
    assert len(created) == len(resources(TEMPLATE, ALARM))
    topic = deployment.ctx.refs["OpsTopic"]
    assert all(a["AlarmActions"] == [topic] and a["OKActions"] == [topic] for a in created.values())
    rate = created[f"{deployment.ctx.stack_name}-Api-5XXRate"]
    assert [q["Id"] for q in rate["Metrics"]] == ["rate", "m1", "m2"] and rate["Threshold"] == 1.0
    dimensions = {d["Name"]: d["Value"] for d in rate["Metrics"][1]["MetricStat"]["Metric"]["Dimensions"]}
    assert dimensions == {"ApiName": f"{deployment.ctx.stack_name}-quotes", "Stage": "dev"}
    body = json.loads(cloudwatch.get_dashboard(DashboardName=f"{deployment.ctx.stack_name}-ops")["DashboardBody"])
    assert sorted(body["widgets"][0]["properties"]["alarms"]) == sorted(a["AlarmArn"] for a in created.values())


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", markdown, re.M)}


def test_every_alarm_links_to_its_runbook_section():
    runbook = (REPO_ROOT / "docs" / "operations.md").read_text()
    anchors = _anchors(runbook)
    assert {"subscribe-to-the-ops-topic", "redrive"} <= anchors
    for lid, alarm in resources(TEMPLATE, ALARM).items():
        link = re.search(r"Runbook: docs/operations\.md#([\w-]+)", alarm["Properties"]["AlarmDescription"])
        assert link and link.group(1) in anchors, lid


def test_the_local_stack_takes_thresholds_and_the_e_mail_as_parameters(aws):
    deployment = deploy(aws, parameter_overrides={"IteratorAgeAlarmMilliseconds": "120000", "OpsEmail": "ops@example.com"})
    name = f"{deployment.ctx.stack_name}-QuoteProcessor-IteratorAge"
    (alarm,) = deployment.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (120000.0, 5, 3)
    subscriptions = deployment.client("sns").list_subscriptions_by_topic(TopicArn=deployment.ctx.refs["OpsTopic"])
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions["Subscriptions"]] == [("email", "ops@example.com")]
