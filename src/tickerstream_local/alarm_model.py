"""CloudWatch metric alarms as data, and the rules CloudWatch decides their state by.

Pure functions, no AWS: `statistic` (Sum, Average, Minimum, Maximum, SampleCount, pNN), `breaches`
(the four threshold comparisons) and `decide` (Datapoints to Alarm out of Evaluation Periods over an
evaluation range, with TreatMissingData as documented in "Configuring how CloudWatch alarms treat missing
data", docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from tickerstream_local.metrics_store import Dimensions, dimensions_of

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
COMPARISONS = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")
# Beyond the Evaluation Periods, CloudWatch looks a little further back when points are missing (its
# "evaluation range"); the documentation's worked example uses 5 periods for 3 evaluation periods.
EXTRA_PERIODS = 2
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?|100)$")


class UnsupportedAlarm(ValueError):
    """An alarm feature the local evaluator does not implement (named, never silently misread)."""


def statistic(name: str, samples: list[float]) -> float | None:
    """A period's statistic over its raw samples; None when the period has no sample (missing)."""
    if not samples:
        return None
    if name == "Sum":
        return math.fsum(samples)
    if name == "Average":
        return math.fsum(samples) / len(samples)
    if name == "Minimum":
        return min(samples)
    if name == "Maximum":
        return max(samples)
    if name == "SampleCount":
        return float(len(samples))
    match = _PERCENTILE.match(name)
    if match:
        # Nearest rank on the raw samples: the smallest value with at least p% of samples at or below it.
        ordered = sorted(samples)
        rank = max(1, math.ceil(float(match.group(1)) / 100 * len(ordered)))
        return ordered[rank - 1]
    raise UnsupportedAlarm(f"statistic {name!r} is not supported locally (Sum, Average, Minimum, Maximum, "
                           f"SampleCount, pNN)")


def low_sample_count(name: str, count: int) -> bool:
    """CloudWatch's test for a percentile with too few samples to be significant: fewer than 10/(1-p)."""
    match = _PERCENTILE.match(name)
    if not match:
        return False
    fraction = float(match.group(1)) / 100
    return fraction < 1 and count < round(10 / (1 - fraction), 9)


def breaches(operator: str, value: float, threshold: float) -> bool:
    if operator not in COMPARISONS:
        raise UnsupportedAlarm(f"comparison {operator!r} is not supported locally (anomaly-detection bands "
                               f"need ThresholdMetricId)")
    return COMPARISONS[operator][0](value, threshold)


@dataclass(frozen=True)
class Decision:
    state: str
    evaluated: list[tuple[int, float | None]]  # (index in the range, value) of the points that decided
    breaching: int
    filled: int  # missing points CloudWatch had to fill (0 when enough real points existed)


def decide(values: list[float | None], operator: str, threshold: float, periods: int, to_alarm: int,
           treat_missing: str, current: str) -> Decision:
    """The state for an evaluation range (oldest first; None = missing), as CloudWatch decides it.

    Enough real points (at least `periods`): the most recent `periods` real points decide and missing data
    does not matter. None: missing -> INSUFFICIENT_DATA, ignore -> current state, breaching -> ALARM,
    notBreaching -> OK. Some: the shortfall is filled as `treat_missing` says: breaching/notBreaching fill
    with that kind; `missing` judges the real points alone (M capped at their number); `ignore` decides
    only when every possible fill gives the same answer and keeps the current state otherwise.
    """
    if treat_missing not in TREATMENTS:
        raise UnsupportedAlarm(f"TreatMissingData {treat_missing!r} is not one of {', '.join(TREATMENTS)}")
    real = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(real) >= periods:
        chosen = real[-periods:]
        count = sum(breaches(operator, v, threshold) for _, v in chosen)
        return Decision(ALARM if count >= to_alarm else OK, chosen, count, 0)
    count = sum(breaches(operator, v, threshold) for _, v in real)
    filled = periods - len(real)
    if not real:
        state = {"missing": INSUFFICIENT_DATA, "ignore": current, "breaching": ALARM, "notBreaching": OK}[treat_missing]
    elif treat_missing == "breaching":
        state = ALARM if count + filled >= to_alarm else OK
    elif treat_missing == "notBreaching":
        state = ALARM if count >= to_alarm else OK
    elif treat_missing == "missing":
        state = ALARM if count >= min(to_alarm, len(real)) else OK
    else:  # ignore
        state = ALARM if count >= to_alarm else OK if count + filled < to_alarm else current
    return Decision(state, real, count + (filled if treat_missing == "breaching" else 0), filled)


# -- the alarm's definition (CloudFormation's AWS::CloudWatch::Alarm properties = PutMetricAlarm's) ---------


@dataclass(frozen=True)
class MetricQuery:
    id: str
    expression: str | None = None
    namespace: str | None = None
    metric_name: str | None = None
    dimensions: Dimensions = ()
    stat: str | None = None
    period: int | None = None
    return_data: bool = True


@dataclass(frozen=True)
class AlarmSpec:
    name: str
    comparison: str
    threshold: float
    evaluation_periods: int
    period: int
    datapoints_to_alarm: int
    treat_missing: str = "missing"
    namespace: str | None = None
    metric_name: str | None = None
    dimensions: Dimensions = ()
    stat: str | None = None
    queries: tuple[MetricQuery, ...] = ()
    description: str = ""
    alarm_actions: tuple[str, ...] = ()
    ok_actions: tuple[str, ...] = ()
    insufficient_actions: tuple[str, ...] = ()
    actions_enabled: bool = True
    low_sample_percentiles: str = "evaluate"
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_properties(cls, name: str, props: dict[str, Any]) -> AlarmSpec:
        if props.get("ThresholdMetricId"):
            raise UnsupportedAlarm(f"{name}: anomaly-detection alarms are not evaluated locally")
        queries = tuple(_query(q) for q in props.get("Metrics") or [])
        if queries:
            periods = {q.period for q in queries if q.expression is None}
            if len(periods) != 1:
                raise UnsupportedAlarm(f"{name}: metric math needs MetricStats of one period locally (found "
                                       f"{sorted(periods) or 'none'})")
            period = periods.pop()
        else:
            period = int(props["Period"])
        evaluation_periods = int(props["EvaluationPeriods"])
        stat = props.get("ExtendedStatistic") or props.get("Statistic")
        if not queries and not stat:
            raise UnsupportedAlarm(f"{name}: neither Statistic, ExtendedStatistic nor Metrics is set")
        spec = cls(
            name=name,
            comparison=props["ComparisonOperator"],
            threshold=float(props["Threshold"]),
            evaluation_periods=evaluation_periods,
            period=period,
            datapoints_to_alarm=int(props.get("DatapointsToAlarm") or evaluation_periods),
            treat_missing=props.get("TreatMissingData") or "missing",
            namespace=props.get("Namespace"),
            metric_name=props.get("MetricName"),
            dimensions=dimensions_of(props.get("Dimensions")),
            stat=stat,
            queries=queries,
            description=props.get("AlarmDescription") or "",
            alarm_actions=tuple(props.get("AlarmActions") or ()),
            ok_actions=tuple(props.get("OKActions") or ()),
            insufficient_actions=tuple(props.get("InsufficientDataActions") or ()),
            actions_enabled=str(props.get("ActionsEnabled", True)).lower() != "false",
            low_sample_percentiles=props.get("EvaluateLowSampleCountPercentile") or "evaluate",
            raw=props,
        )
        spec.check()
        return spec

    def check(self) -> None:
        """Refuse now, by name, what evaluating would refuse: statistics and metric math not supported."""
        from tickerstream_local.alarm_math import evaluate_queries

        try:
            if self.queries:
                for query in self.queries:
                    if query.stat:
                        statistic(query.stat, [1.0])
                evaluate_queries(self.queries, {q.id: {} for q in self.queries if q.expression is None}, [0.0])
            else:
                statistic(self.stat or "", [1.0])
            breaches(self.comparison, 0.0, self.threshold)
        except UnsupportedAlarm as refused:
            raise UnsupportedAlarm(f"{self.name}: {refused}") from None

    @property
    def range_periods(self) -> int:
        return self.evaluation_periods + EXTRA_PERIODS


def _query(entry: dict[str, Any]) -> MetricQuery:
    return_data = str(entry.get("ReturnData", True)).lower() != "false"
    if entry.get("Expression"):
        return MetricQuery(entry["Id"], expression=entry["Expression"], period=entry.get("Period") and int(entry["Period"]),
                           return_data=return_data)
    stat = entry["MetricStat"]
    metric = stat["Metric"]
    return MetricQuery(entry["Id"], namespace=metric["Namespace"], metric_name=metric["MetricName"],
                       dimensions=dimensions_of(metric.get("Dimensions")), stat=stat["Stat"],
                       period=int(stat["Period"]), return_data=return_data)
