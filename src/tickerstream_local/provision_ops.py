"""CloudWatch alarms and the dashboard, created on the local stack's moto as CloudFormation would.

Alarms go to moto with put_metric_alarm exactly as the template declares them, metric-math ones
(`Metrics`) included, so describe_alarms shows what a deployed stack has. moto stores alarms but never
evaluates them; the local alarm evaluation does that. The ops topic's KMS key is provisioned by
provision_lake (AWS::KMS::Key) and the topic by provision_notifications.
"""

from __future__ import annotations

from typing import Any

from tickerstream_local.stack import Deployment, provisioner

# AWS::CloudWatch::Alarm properties that are PutMetricAlarm parameters of the same name, by type.
_TEXT = ("AlarmDescription", "MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Unit",
         "ComparisonOperator", "TreatMissingData", "EvaluateLowSampleCountPercentile", "ThresholdMetricId")
_WHOLE = ("Period", "EvaluationPeriods", "DatapointsToAlarm")
_LISTS = ("AlarmActions", "OKActions", "InsufficientDataActions")


def alarm_request(name: str, props: dict[str, Any]) -> dict[str, Any]:
    """PutMetricAlarm's parameters for an AWS::CloudWatch::Alarm's (resolved) properties."""
    request: dict[str, Any] = {"AlarmName": name}
    request.update({key: str(props[key]) for key in _TEXT if key in props})
    request.update({key: int(props[key]) for key in _WHOLE if key in props})
    request.update({key: [str(v) for v in props[key]] for key in _LISTS if key in props})
    if "Threshold" in props:
        request["Threshold"] = float(props["Threshold"])
    if "ActionsEnabled" in props:
        request["ActionsEnabled"] = str(props["ActionsEnabled"]).lower() == "true"
    if "Dimensions" in props:
        request["Dimensions"] = [{"Name": str(d["Name"]), "Value": str(d["Value"])} for d in props["Dimensions"]]
    if "Metrics" in props:
        request["Metrics"] = [_query(query) for query in props["Metrics"]]
    return request


def _query(query: dict[str, Any]) -> dict[str, Any]:
    """One MetricDataQuery of a metric-math alarm, with the types the API wants."""
    out: dict[str, Any] = {"Id": str(query["Id"])}
    for key in ("Expression", "Label", "AccountId"):
        if key in query:
            out[key] = str(query[key])
    if "ReturnData" in query:
        out["ReturnData"] = str(query["ReturnData"]).lower() == "true"
    if "Period" in query:
        out["Period"] = int(query["Period"])
    if "MetricStat" in query:
        stat = query["MetricStat"]
        metric = stat["Metric"]
        out["MetricStat"] = {
            "Metric": {
                "Namespace": str(metric["Namespace"]),
                "MetricName": str(metric["MetricName"]),
                "Dimensions": [{"Name": str(d["Name"]), "Value": str(d["Value"])} for d in metric.get("Dimensions", [])],
            },
            "Period": int(stat["Period"]),
            "Stat": str(stat["Stat"]),
            **({"Unit": str(stat["Unit"])} if "Unit" in stat else {}),
        }
    return out


@provisioner("AWS::CloudWatch::Alarm")
def _alarm(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    name = str(props.get("AlarmName") or deployment.name_for(logical_id))
    deployment.client("cloudwatch").put_metric_alarm(**alarm_request(name, props))
    ctx = deployment.ctx
    deployment.record(logical_id, name, Arn=f"arn:aws:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:{name}")


@provisioner("AWS::CloudWatch::Dashboard")
def _dashboard(deployment: Deployment, logical_id: str, props: dict[str, Any]) -> None:
    name = str(props.get("DashboardName") or deployment.name_for(logical_id))
    deployment.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=str(props["DashboardBody"]))
    deployment.record(logical_id, name)
