"""The local CloudWatch alarm evaluator: the template's alarms, judged as CloudWatch judges them.

`AlarmEvaluator.evaluate(now)` takes the time as a parameter (tests step it; the local stack passes its
clock every few seconds). For each alarm it takes the evaluation range (EvaluationPeriods plus
alarm_model.EXTRA_PERIODS whole periods, aligned to the epoch as CloudWatch aligns them, ending at the
last period that has ended by `now`), computes each period's statistic (or metric math) from the samples
the local stack put to its CloudWatch, and decides with alarm_model.decide. A change of state is set on
the local CloudWatch's alarm (SetAlarmState, so `aws cloudwatch describe-alarms` shows it) and published,
in CloudWatch's notification format, to the alarm's AlarmActions / OKActions / InsufficientDataActions
SNS topics on the local stack.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from tickerstream_local.alarm_math import evaluate_queries
from tickerstream_local.alarm_model import (
    ALARM,
    COMPARISONS,
    INSUFFICIENT_DATA,
    OK,
    AlarmSpec,
    Decision,
    decide,
    low_sample_count,
    statistic,
)
from tickerstream_local.metrics_store import MetricStore

log = logging.getLogger("tickerstream.local.alarms")
REGION_NAMES = {"us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)", "us-west-2": "US West (Oregon)",
                "eu-west-1": "EU (Ireland)", "eu-central-1": "EU (Frankfurt)", "eu-south-2": "EU (Spain)"}


@dataclass
class AlarmStatus:
    state: str = INSUFFICIENT_DATA
    reason: str = "Unchecked: Initial alarm creation"
    changed_at: float | None = None
    evaluated_at: float | None = None


@dataclass
class Transition:
    alarm: str
    old: str
    new: str
    reason: str
    at: float


@dataclass
class AlarmEvaluator:
    store: MetricStore
    alarms: list[AlarmSpec]
    cloudwatch: Any = None  # the local CloudWatch (SetAlarmState); None: keep states here only
    sns: Any = None  # the local SNS (notifications); None: none sent
    region: str = "us-east-1"
    account_id: str = "123456789012"
    status: dict[str, AlarmStatus] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    notifications_sent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        for spec in self.alarms:
            self.status.setdefault(spec.name, AlarmStatus())

    def evaluate(self, now: float) -> list[Transition]:
        """Judge every alarm at `now` (epoch seconds); return the state changes made."""
        changes = []
        with self._lock:
            for spec in self.alarms:
                try:
                    change = self._evaluate_one(spec, now)
                except Exception:  # noqa: BLE001 - one alarm's trouble must not stop the others
                    log.exception("evaluating alarm %s failed", spec.name)
                    continue
                if change:
                    changes.append(change)
        return changes

    def datapoints(self, spec: AlarmSpec, now: float) -> tuple[list[float], list[float | None], list[int]]:
        """(period starts, value per period or None, sample count per period) over the evaluation range."""
        period = spec.period
        end = (int(now) // period) * period  # the last period that has ended by `now`
        starts = [float(end - period * k) for k in range(spec.range_periods, 0, -1)]
        if not spec.queries:
            key = (spec.namespace or "", spec.metric_name or "", spec.dimensions)
            samples = [self.store.samples(key, start, start + period) for start in starts]
            return starts, [statistic(spec.stat or "", s) for s in samples], [len(s) for s in samples]
        series: dict[str, dict[float, float]] = {}
        for query in spec.queries:
            if query.expression is None:
                key = (query.namespace or "", query.metric_name or "", query.dimensions)
                points = {}
                for start in starts:
                    value = statistic(query.stat or "", self.store.samples(key, start, start + period))
                    if value is not None:
                        points[start] = value
                series[query.id] = points
        result = evaluate_queries(spec.queries, series, starts)
        values = [result.get(start) for start in starts]
        return starts, values, [int(v is not None) for v in values]

    def _evaluate_one(self, spec: AlarmSpec, now: float) -> Transition | None:
        status = self.status.setdefault(spec.name, AlarmStatus())
        status.evaluated_at = now
        starts, values, counts = self.datapoints(spec, now)
        if spec.low_sample_percentiles == "ignore" and spec.stat and not spec.queries:
            latest = next((c for c, v in zip(reversed(counts), reversed(values)) if v is not None), None)
            if latest is not None and low_sample_count(spec.stat, latest):
                return None  # too few samples for the percentile to mean anything: the state stays
        treat = spec.treat_missing
        if (spec.namespace or "") == "AWS/DynamoDB":
            treat = "ignore"  # CloudWatch always ignores missing data for AWS/DynamoDB metrics
        decision = decide(values, spec.comparison, spec.threshold, spec.evaluation_periods,
                          spec.datapoints_to_alarm, treat, status.state)
        if decision.state == status.state:
            return None
        reason = self._reason(spec, decision, starts)
        change = Transition(spec.name, status.state, decision.state, reason, now)
        old = status.state
        status.state, status.reason, status.changed_at = decision.state, reason, now
        self.transitions.append(change)
        self._publish(spec, old, change, starts, decision)
        return change

    @staticmethod
    def _reason(spec: AlarmSpec, decision: Decision, starts: list[float]) -> str:
        if decision.state == INSUFFICIENT_DATA:
            return f"Insufficient Data: {spec.evaluation_periods} datapoint(s) were unknown."
        words = COMPARISONS[spec.comparison][1]
        shown = ", ".join(f"{value} ({_short_time(starts[i])})" for i, value in reversed(decision.evaluated))
        if decision.state == ALARM:
            return (f"Threshold Crossed: {decision.breaching} out of the last {spec.evaluation_periods} datapoints "
                    f"[{shown}] {'was' if decision.breaching == 1 else 'were'} {words} the threshold "
                    f"({spec.threshold}) (minimum {spec.datapoints_to_alarm} datapoint(s) for OK -> ALARM transition).")
        if not decision.evaluated:
            return (f"Threshold Crossed: no datapoints were received for {spec.evaluation_periods} period(s) and "
                    f"{spec.evaluation_periods} missing datapoint(s) were treated as [NonBreaching].")
        return (f"Threshold Crossed: {len(decision.evaluated)} datapoint(s) [{shown}] "
                f"{'was' if len(decision.evaluated) == 1 else 'were'} not {words} the threshold ({spec.threshold}).")

    # -- telling the local CloudWatch and SNS ----------------------------------------------------------

    def _publish(self, spec: AlarmSpec, old: str, change: Transition, starts: list[float], decision: Decision) -> None:
        reason_data = json.dumps({
            "version": "1.0",
            "queryDate": _iso(change.at),
            "startDate": _iso(starts[0]),
            "statistic": spec.stat,
            "period": spec.period,
            "recentDatapoints": [value for _, value in decision.evaluated],
            "threshold": spec.threshold,
        })
        if self.cloudwatch is not None:
            try:
                self.cloudwatch.set_alarm_state(AlarmName=spec.name, StateValue=change.new,
                                                StateReason=change.reason[:1023], StateReasonData=reason_data)
            except Exception:  # noqa: BLE001 - the alarm may not exist there (a test's own specs)
                log.warning("the local CloudWatch has no alarm %s to set to %s", spec.name, change.new)
        actions = {ALARM: spec.alarm_actions, OK: spec.ok_actions, INSUFFICIENT_DATA: spec.insufficient_actions}
        if self.sns is None or not spec.actions_enabled:
            return
        message = json.dumps(self.notification(spec, old, change))
        subject = f'{change.new}: "{spec.name}" in {REGION_NAMES.get(self.region, self.region)}'[:100]
        for topic in actions[change.new]:
            if not topic.startswith("arn:aws:sns:"):
                continue  # EC2 / Auto Scaling / Systems Manager actions have no local meaning
            try:
                self.sns.publish(TopicArn=topic, Subject=subject, Message=message)
                self.notifications_sent += 1
            except Exception:  # noqa: BLE001 - a missing topic is the template's problem, logged
                log.exception("could not notify %s of %s", topic, spec.name)

    def notification(self, spec: AlarmSpec, old: str, change: Transition) -> dict[str, Any]:
        """The JSON CloudWatch sends to an SNS topic when an alarm changes state."""
        trigger: dict[str, Any] = {
            "Period": spec.period,
            "EvaluationPeriods": spec.evaluation_periods,
            "DatapointsToAlarm": spec.datapoints_to_alarm,
            "ComparisonOperator": spec.comparison,
            "Threshold": spec.threshold,
            "TreatMissingData": spec.treat_missing,
            "EvaluateLowSampleCountPercentile": spec.raw.get("EvaluateLowSampleCountPercentile", ""),
        }
        if spec.queries:
            trigger["Metrics"] = spec.raw.get("Metrics", [])
        else:
            extended = spec.stat not in ("Sum", "Average", "Minimum", "Maximum", "SampleCount")
            trigger.update({
                "MetricName": spec.metric_name,
                "Namespace": spec.namespace,
                "StatisticType": "ExtendedStatistic" if extended else "Statistic",
                "Statistic" if not extended else "ExtendedStatistic": spec.stat if extended else (spec.stat or "").upper(),
                "Unit": spec.raw.get("Unit"),
                "Dimensions": [{"value": v, "name": n} for n, v in spec.dimensions],
            })
        return {
            "AlarmName": spec.name,
            "AlarmDescription": spec.description or None,
            "AWSAccountId": self.account_id,
            "AlarmConfigurationUpdatedTimestamp": _iso(change.at),
            "NewStateValue": change.new,
            "NewStateReason": change.reason,
            "StateChangeTime": _iso(change.at),
            "Region": REGION_NAMES.get(self.region, self.region),
            "AlarmArn": f"arn:aws:cloudwatch:{self.region}:{self.account_id}:alarm:{spec.name}",
            "OldStateValue": old,
            "OKActions": list(spec.ok_actions),
            "AlarmActions": list(spec.alarm_actions),
            "InsufficientDataActions": list(spec.insufficient_actions),
            "Trigger": trigger,
        }


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _short_time(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%d/%m/%y %H:%M:%S")

