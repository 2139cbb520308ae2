"""CloudWatch's alarm rules, as alarm_model implements them: statistics, comparisons, M of N, missing data."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickerstream_local.alarm_model import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    AlarmSpec,
    UnsupportedAlarm,
    breaches,
    decide,
    low_sample_count,
    statistic,
)

STATES = (OK, ALARM, INSUFFICIENT_DATA)
# The documentation's worked example: 3 evaluation periods, 3 datapoints to alarm, an evaluation range of 5,
# most recent point last; X breaches (value 1 > threshold 0), 0 does not, - is missing.
DOC_ROWS = [
    ("0-X-X", OK, OK, OK, OK),
    ("---0-", OK, OK, OK, OK),
    ("-----", INSUFFICIENT_DATA, "retain", ALARM, OK),
    ("0XX-X", ALARM, ALARM, ALARM, ALARM),
    ("--X--", ALARM, "retain", ALARM, OK),
]


def _values(row: str) -> list[float | None]:
    return [{"X": 1.0, "0": 0.0, "-": None}[c] for c in row]


@pytest.mark.parametrize("row, missing, ignore, breaching, not_breaching", DOC_ROWS)
@pytest.mark.parametrize("current", STATES)
def test_the_documented_missing_data_table(row, missing, ignore, breaching, not_breaching, current):
    expected = {"missing": missing, "ignore": ignore, "breaching": breaching, "notBreaching": not_breaching}
    for treat, want in expected.items():
        got = decide(_values(row), "GreaterThanThreshold", 0.0, 3, 3, treat, current).state
        assert got == (current if want == "retain" else want), (row, treat, current)


def _brute_force(values, periods, to_alarm, treat, current):
    """M of N by enumeration: every way the missing points CloudWatch must fill could have gone."""
    real = [v for v in values if v is not None]
    if len(real) >= periods:
        return ALARM if sum(real[-periods:]) >= to_alarm else OK
    if treat == "missing":
        if not real:
            return INSUFFICIENT_DATA
        return ALARM if sum(real) >= min(to_alarm, len(real)) else OK
    filled = periods - len(real)
    outcomes = {ALARM if sum(real) + sum(fill) >= to_alarm else OK
                for fill in itertools.product((0, 1), repeat=filled)}
    if treat == "breaching":
        return ALARM if sum(real) + filled >= to_alarm else OK
    if treat == "notBreaching":
        return ALARM if sum(real) >= to_alarm else OK
    return outcomes.pop() if len(outcomes) == 1 else current  # ignore: decide only when the fill cannot matter


@settings(max_examples=400, deadline=None)
@given(
    data=st.data(),
    periods=st.integers(1, 6),
    treat=st.sampled_from(["missing", "ignore", "breaching", "notBreaching"]),
    current=st.sampled_from(STATES),
)
def test_m_of_n_matches_brute_force(data, periods, treat, current):
    to_alarm = data.draw(st.integers(1, periods))
    values = data.draw(st.lists(st.sampled_from([None, 0, 1]), min_size=periods + 2, max_size=periods + 2))
    floats = [None if v is None else float(v) for v in values]
    got = decide(floats, "GreaterThanOrEqualToThreshold", 1.0, periods, to_alarm, treat, current)
    assert got.state == _brute_force(values, periods, to_alarm, treat, current)


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_comparisons(value, threshold):
    assert breaches("GreaterThanThreshold", value, threshold) == (value > threshold)
    assert breaches("GreaterThanOrEqualToThreshold", value, threshold) == (value >= threshold)
    assert breaches("LessThanThreshold", value, threshold) == (value < threshold)
    assert breaches("LessThanOrEqualToThreshold", value, threshold) == (value <= threshold)


def test_anomaly_band_comparisons_are_refused_by_name():
    with pytest.raises(UnsupportedAlarm, match="LessThanLowerOrGreaterThanUpperThreshold"):
        breaches("LessThanLowerOrGreaterThanUpperThreshold", 1, 0)


@given(st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=200))
def test_statistics(samples):
    assert statistic("SampleCount", samples) == len(samples)
    assert statistic("Minimum", samples) == min(samples)
    assert statistic("Maximum", samples) == max(samples)
    assert statistic("Sum", samples) == pytest.approx(math.fsum(samples))
    assert min(samples) - 1e-6 <= statistic("Average", samples) <= max(samples) + 1e-6
    p99 = statistic("p99", samples)
    # nearest rank: a sample, with at least 99% of the samples at or below it, and fewer above it than 1%
    assert p99 in samples
    assert sum(s <= p99 for s in samples) >= 0.99 * len(samples)
    assert sum(s > p99 for s in samples) <= 0.01 * len(samples) + 1e-9
    assert statistic("p100", samples) == max(samples)


def test_percentile_examples_and_missing_periods():
    samples = [float(v) for v in range(1, 101)]  # 1..100
    assert statistic("p50", samples) == 50
    assert statistic("p99", samples) == 99
    assert statistic("p99.9", samples) == 100
    assert statistic("Sum", []) is None
    with pytest.raises(UnsupportedAlarm, match="tm99"):
        statistic("tm99", samples)


def test_low_sample_count_percentile_rule():
    assert low_sample_count("p99", 999)  # 10 / (1 - 0.99) = 1000
    assert not low_sample_count("p99", 1000)
    assert low_sample_count("p90", 99) and not low_sample_count("p90", 100)
    assert not low_sample_count("Sum", 1)


def test_spec_from_cloudformation_properties():
    spec = AlarmSpec.from_properties("a", {
        "Namespace": "AWS/Lambda", "MetricName": "Errors", "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
        "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 5, "DatapointsToAlarm": 3, "Threshold": 0,
        "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
        "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:ops"],
    })
    assert (spec.period, spec.evaluation_periods, spec.datapoints_to_alarm, spec.range_periods) == (60, 5, 3, 7)
    assert spec.dimensions == (("FunctionName", "f"),)
    default = AlarmSpec.from_properties("b", {**spec.raw, "DatapointsToAlarm": None, "TreatMissingData": None})
    assert (default.datapoints_to_alarm, default.treat_missing) == (5, "missing")
