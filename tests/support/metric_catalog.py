"""The metrics alarms and dashboards may name: what the template's functions emit (EMF, captured by
running them) and what AWS publishes for the template's resources; and the metrics a template names.

Template references are resolved symbolically ("Ref:Id", "GetAtt:Id.Attr") so a dimension value can be
traced back to the resource, and its type, it names.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from typing import Any

import boto3
from moto import mock_aws

from tickerstream_local.functions import LocalContext, handler_of, load_function
from tickerstream_local.intrinsics import Context, resolve
from tickerstream_local.stack import deploy
from tickerstream_local.template import REPO_ROOT, parameter_defaults

FUNCTION = "AWS::Serverless::Function"
ALARM = "AWS::CloudWatch::Alarm"
Metric = tuple[str, str, tuple[tuple[str, str], ...]]  # namespace, name, sorted (dimension, value) pairs

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


def _emf(text: str) -> set[Metric]:
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


def capture_emitted(template: dict[str, Any]) -> dict[str, set[Metric]]:
    """Each function of `template` on each of its events/ files (in-process moto): what its EMF lines declare."""
    saved = dict(os.environ)
    found: dict[str, set[Metric]] = {}
    try:
        with mock_aws():
            deployment = deploy(boto3.Session(region_name="us-east-1"), template=template)
            for lid, function in resources(template, FUNCTION).items():
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
