"""Alarms and the dashboard name only metrics that exist, and every alarm reaches the ops topic.

A metric exists if a function emits it (captured here: every function of the template runs on each of
its events/ files on in-process moto, and its EMF output is read back by namespace, name and dimension
values) or if AWS publishes it for a resource of the template (the table below, from AWS's metric
references, with the dimension that names the resource). Dimension values are compared after the
template's references are resolved, so an alarm on the wrong function, queue or API fails too.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tickerstream_local.functions import LocalContext, handler_of, load_function
from tickerstream_local.intrinsics import Context, resolve
from tickerstream_local.stack import deploy
from tickerstream_local.template import REPO_ROOT, TEMPLATE_PATH, parameter_defaults, sam_template

TEMPLATE = sam_template()
FUNCTION = "AWS::Serverless::Function"
ALARM = "AWS::CloudWatch::Alarm"

# What AWS publishes, per namespace: metric names and the dimension sets the template may use, each
# dimension with the resource type (and the Ref or GetAtt) that gives its value.
#   AWS/Lambda     https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
#   AWS/SQS        https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
#   AWS/Kinesis    https://docs.aws.amazon.com/streams/latest/dev/monitoring-with-cloudwatch.html
#   AWS/Firehose   https://docs.aws.amazon.com/firehose/latest/dev/monitoring-with-cloudwatch-metrics.html
#   AWS/ApiGateway https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html
AWS_METRICS: dict[str, tuple[set[str], list[dict[str, tuple[str, str]]]]] = {
    "AWS/Lambda": (
        {"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions", "IteratorAge",
         "DeadLetterErrors", "DestinationDeliveryFailures", "PostRuntimeExtensionsDuration"},
        [{"FunctionName": (FUNCTION, "Ref")}],
    ),
    "AWS/SQS": (
        {"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible",
         "ApproximateNumberOfMessagesDelayed", "ApproximateAgeOfOldestMessage", "NumberOfMessagesSent",
         "NumberOfMessagesReceived", "NumberOfMessagesDeleted", "NumberOfEmptyReceives", "SentMessageSize"},
        [{"QueueName": ("AWS::SQS::Queue", "QueueName")}],
    ),
    "AWS/Kinesis": (
        {"IncomingRecords", "IncomingBytes", "WriteProvisionedThroughputExceeded",
         "ReadProvisionedThroughputExceeded", "GetRecords.IteratorAgeMilliseconds", "GetRecords.Records",
         "GetRecords.Bytes", "GetRecords.Latency", "GetRecords.Success", "PutRecord.Success",
         "PutRecord.Latency", "PutRecord.Bytes", "PutRecords.Records", "PutRecords.Bytes",
         "PutRecords.Latency", "PutRecords.Success", "PutRecords.TotalRecords",
         "PutRecords.SuccessfulRecords", "PutRecords.FailedRecords", "PutRecords.ThrottledRecords"},
        [{"StreamName": ("AWS::Kinesis::Stream", "Ref")}],
    ),
    "AWS/Firehose": (
        {"DeliveryToS3.DataFreshness", "DeliveryToS3.Records", "DeliveryToS3.Bytes", "DeliveryToS3.Success",
         "DeliveryToS3.ObjectCount", "DataReadFromKinesisStream.Records", "DataReadFromKinesisStream.Bytes",
         "KinesisMillisBehindLatest", "ThrottledGetRecords", "ThrottledGetShardIterator",
         "ThrottledDescribeStream", "ExecuteProcessing.Duration", "ExecuteProcessing.Success",
         "SucceedProcessing.Records", "SucceedProcessing.Bytes", "PartitionCount", "PartitionCountExceeded",
         "JQProcessing.Duration", "PerPartitionThroughput"},
        [{"DeliveryStreamName": ("AWS::KinesisFirehose::DeliveryStream", "Ref")}],
    ),
    "AWS/ApiGateway": (
        {"Count", "4XXError", "5XXError", "Latency", "IntegrationLatency", "CacheHitCount", "CacheMissCount"},
        [{"ApiName": ("AWS::Serverless::Api", "Name"), "Stage": ("AWS::Serverless::Api", "StageName")},
         {"ApiName": ("AWS::Serverless::Api", "Name")}],
    ),
}
MISSING_DATA = {"breaching", "notBreaching", "ignore", "missing"}
# The metric-math forms the local alarm evaluation implements (tickerstream_local, ops-local).
EXPRESSIONS = (re.compile(r"100\*(\w+)/(\w+)"), re.compile(r"(\w+) - FILL\((\w+), 0\)"))


# ---------------------------------------------------------------------------------------------------
# The template, resolved with every resource reference kept recognisable ("Ref:Id", "GetAtt:Id.Attr")


class _Attributes(dict):
    def __init__(self, logical_id: str):
        super().__init__()
        self.logical_id = logical_id

    def __missing__(self, attribute: str) -> str:
        return f"GetAtt:{self.logical_id}.{attribute}"


def symbolic_context(template: dict[str, Any], **parameters: Any) -> Context:
    ctx = Context(parameters={**parameter_defaults(template), **parameters}, conditions=template.get("Conditions", {}))
    ctx.refs = {logical_id: f"Ref:{logical_id}" for logical_id in template["Resources"]}
    ctx.attributes = {logical_id: _Attributes(logical_id) for logical_id in template["Resources"]}
    return ctx


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == resource_type}


def alarms(template: dict[str, Any], ctx: Context) -> dict[str, dict[str, Any]]:
    return {lid: resolve(r["Properties"], ctx) for lid, r in resources(template, ALARM).items()}


def _dimensions(pairs: list[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(d["Name"]), str(d["Value"])) for d in pairs))


def alarm_metrics(alarm: dict[str, Any]) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    if "MetricName" in alarm:
        return [(alarm["Namespace"], alarm["MetricName"], _dimensions(alarm.get("Dimensions", [])))]
    return [(q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"],
             _dimensions(q["MetricStat"]["Metric"].get("Dimensions", [])))
            for q in alarm.get("Metrics", []) if "MetricStat" in q]


def dashboard_widgets(template: dict[str, Any], ctx: Context) -> list[dict[str, Any]]:
    widgets = []
    for dashboard in resources(template, "AWS::CloudWatch::Dashboard").values():
        widgets += json.loads(resolve(dashboard["Properties"]["DashboardBody"], ctx))["widgets"]
    return widgets


def dashboard_metrics(widgets: list[dict[str, Any]]) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """Every metric a metric widget draws; "." repeats the row above, as CloudWatch reads it."""
    found = []
    for widget in widgets:
        previous: list[Any] = []
        for row in widget.get("properties", {}).get("metrics", []) if widget["type"] == "metric" else []:
            items = [item for item in row if not isinstance(item, dict)]
            if not items:
                continue  # a math expression row ({"expression": ...}) names no metric itself
            items = [previous[i] if item == "." and i < len(previous) else item for i, item in enumerate(items)]
            previous = items
            namespace, name, rest = items[0], items[1], items[2:]
            found.append((namespace, name, tuple(sorted(zip(rest[::2], rest[1::2])))))
    return found


def published_dimension_values(template: dict[str, Any], ctx: Context, resource_type: str, source: str) -> set[str]:
    values = set()
    for lid, resource in resources(template, resource_type).items():
        if source == "Ref":
            values.add(f"Ref:{lid}")
        elif resource_type == "AWS::Serverless::Api":
            values.add(str(resolve(resource["Properties"].get(source, lid), ctx)))
        else:
            values.add(f"GetAtt:{lid}.{source}")
    return values


def unknown_metrics(template: dict[str, Any], emitted: set[tuple[str, str, tuple]]) -> list[str]:
    """What the alarms and the dashboard name that no function emits and AWS does not publish here."""
    ctx = symbolic_context(template)
    named = [(f"alarm {lid}", m) for lid, alarm in alarms(template, ctx).items() for m in alarm_metrics(alarm)]
    named += [("dashboard", m) for m in dashboard_metrics(dashboard_widgets(template, ctx))]
    problems = []
    for where, (namespace, name, dimensions) in named:
        if namespace in AWS_METRICS:
            names, dimension_sets = AWS_METRICS[namespace]
            if name not in names:
                problems.append(f"{where}: AWS does not publish {namespace} {name}")
                continue
            given = dict(dimensions)
            allowed = [d for d in dimension_sets if set(d) == set(given)]
            if not allowed:
                problems.append(f"{where}: {namespace} {name} has no dimension set {sorted(given)}")
            elif any(given[dim] not in published_dimension_values(template, ctx, *allowed[0][dim]) for dim in given):
                problems.append(f"{where}: {namespace} {name} {given} names no {sorted(allowed[0].values())} of the template")
        elif (namespace, name, dimensions) not in emitted:
            problems.append(f"{where}: no function emits {namespace} {name} {dict(dimensions)}")
    return problems


# ---------------------------------------------------------------------------------------------------
# What the functions emit: each function on each of its events, EMF lines read back


def _emf(text: str) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    found = set()
    for line in text.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if not isinstance(document, dict):
            continue
        for directive in (document.get("_aws") or {}).get("CloudWatchMetrics", []):
            for dimension_set in directive["Dimensions"]:
                values = tuple(sorted((dim, str(document[dim])) for dim in dimension_set))
                found.update((directive["Namespace"], m["Name"], values) for m in directive["Metrics"])
    return found


@pytest.fixture(scope="module")
def emitted_by_function() -> dict[str, set[tuple[str, str, tuple[tuple[str, str], ...]]]]:
    saved = dict(os.environ)
    found: dict[str, set[tuple[str, str, tuple]]] = {}
    try:
        with mock_aws():
            deployment = deploy(boto3.Session(region_name="us-east-1"))
            for lid, function in resources(TEMPLATE, FUNCTION).items():
                events = sorted((REPO_ROOT / "events" / function["Properties"]["CodeUri"].strip("/").split("/")[-1]).glob("*.json"))
                handler = handler_of(lid, load_function(lid, {**deployment.function_environment(lid), "LOG_LEVEL": "ERROR"}))
                for event in events:
                    out = io.StringIO()
                    with contextlib.redirect_stdout(out), contextlib.suppress(Exception):  # triggers refuse by raising
                        handler(json.loads(event.read_text()), LocalContext(deployment.physical[lid]))
                    found.setdefault(lid, set()).update(_emf(out.getvalue()))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return found


@pytest.fixture(scope="module")
def emitted(emitted_by_function) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
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
