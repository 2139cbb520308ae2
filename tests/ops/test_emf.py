"""EMF documents the functions print become CloudWatch metrics with the namespace, dimensions, units and
timestamps they declare."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import sys
import threading

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from tickerstream_local.emf import EmfCapture, EmfError, parse_emf
from tickerstream_local.metrics_store import MetricPublisher, MetricStore


def test_powertools_output_is_parsed_as_declared(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TickerStream")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tickerstream")
    metrics = Metrics()
    metrics.add_metric("InvalidRecords", MetricUnit.Count, 3)
    metrics.add_metric("ProcessingLag", MetricUnit.Milliseconds, 12.5)
    metrics.add_metric("ProcessingLag", MetricUnit.Milliseconds, 7)
    metrics.add_metric("Burst", MetricUnit.Count, 1, resolution=1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        metrics.flush_metrics()
    line = out.getvalue().strip()
    document = json.loads(line)
    datums = {d.name: d for d in parse_emf(line)}
    assert set(datums) == {"InvalidRecords", "ProcessingLag", "Burst"}
    assert datums["Burst"].storage_resolution == 1 and datums["Burst"].as_metric_data()["StorageResolution"] == 1
    assert "StorageResolution" not in datums["InvalidRecords"].as_metric_data()
    invalid = datums["InvalidRecords"]
    assert invalid.namespace == "TickerStream"
    assert invalid.dimensions == (("service", "tickerstream"),)
    assert invalid.unit == "Count" and invalid.values == (3.0,)
    assert invalid.timestamp == document["_aws"]["Timestamp"] / 1000
    assert datums["ProcessingLag"].values == (12.5, 7.0) and datums["ProcessingLag"].unit == "Milliseconds"


def test_every_dimension_set_is_its_own_metric_and_an_empty_set_has_none():
    line = json.dumps({"_aws": {"Timestamp": 1_700_000_000_000, "CloudWatchMetrics": [
        {"Namespace": "N", "Dimensions": [["a"], ["a", "b"], []], "Metrics": [{"Name": "M"}]}]},
        "a": "1", "b": "2", "M": 4})
    datums = parse_emf(line)
    assert sorted(d.dimensions for d in datums) == [(), (("a", "1"),), (("a", "1"), ("b", "2"))]
    assert all(d.unit == "None" and d.timestamp == 1_700_000_000 for d in datums)


@pytest.mark.parametrize("line", [
    '{"_aws": 1}',
    '{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["x"]], "Metrics": [{"Name": "M"}]}]}, "M": 1}',
    '{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Metrics": [{"Name": "M"}]}]}}',
    '{"_aws" nope',
])
def test_documents_that_break_the_specification_are_refused(line):
    with pytest.raises(EmfError):
        parse_emf(line)


def test_capture_tees_stdout_and_publishes_from_every_thread(aws):
    cloudwatch = aws.client("cloudwatch")
    publisher = MetricPublisher(cloudwatch, MetricStore())
    capture = EmfCapture(publisher.record)
    terminal = io.StringIO()
    line = json.dumps({"_aws": {"Timestamp": 1_700_000_060_000, "CloudWatchMetrics": [
        {"Namespace": "TickerStream", "Dimensions": [["service"]], "Metrics": [{"Name": "QuotesApplied", "Unit": "Count"}]}]},
        "service": "tickerstream", "QuotesApplied": 5})
    with contextlib.redirect_stdout(terminal):
        capture.install()
        try:
            threads = [threading.Thread(target=lambda: (print(line), print("a plain log line"))) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            capture.drain()
            capture.drain()  # nothing twice
        finally:
            capture.uninstall()
        assert sys.stdout is terminal
    assert terminal.getvalue().count("a plain log line") == 8 and terminal.getvalue().count('"_aws"') == 8
    assert capture.metrics == 8
    assert publisher.flush() == 8
    stats = cloudwatch.get_metric_statistics(
        Namespace="TickerStream", MetricName="QuotesApplied", Dimensions=[{"Name": "service", "Value": "tickerstream"}],
        StartTime=dt.datetime.fromtimestamp(1_700_000_000, dt.UTC), EndTime=dt.datetime.fromtimestamp(1_700_000_200, dt.UTC),
        Period=60, Statistics=["Sum", "SampleCount"])["Datapoints"]
    assert [(p["Timestamp"].timestamp(), p["Sum"], p["SampleCount"], p["Unit"]) for p in stats] == [
        (1_700_000_060.0, 40.0, 8.0, "Count")]  # moto buckets from StartTime


def test_a_malformed_emf_line_is_counted_and_never_raised():
    records = []
    capture = EmfCapture(records.append)
    capture._queue('{"_aws": broken')
    assert capture.drain() == 1 and capture.rejected == 1 and records == []


def test_datums_are_put_as_one_entry_per_metric_and_minute_with_the_same_statistics(aws):
    """Thousands of samples become a few PutMetricData entries (values with counts); moto's statistics
    over them are those of the samples one by one."""
    from tickerstream_local.metrics_store import Datum, aggregated

    base = 1_700_000_040.0  # a minute boundary
    datums = [Datum("TickerStream", "QuotesApplied", (("service", "tickerstream"),), base + (i % 90), (float(i % 7),), "Count")
              for i in range(3_000)]
    datums.append(Datum("TickerStream", "Burst", (("service", "tickerstream"),), base + 0.5, (1.0, 2.0), "Count", 1))
    entries = list(aggregated(datums))
    assert len(entries) == 3  # QuotesApplied in two minutes, Burst in one second
    assert sum(sum(e["Counts"]) for _, e in entries) == 3_002
    cloudwatch = aws.client("cloudwatch")
    publisher = MetricPublisher(cloudwatch, MetricStore())
    for datum in datums:
        publisher.record(datum)
    assert publisher.flush() == 3_001 and publisher.published == 3_002
    points = cloudwatch.get_metric_statistics(
        Namespace="TickerStream", MetricName="QuotesApplied", Dimensions=[{"Name": "service", "Value": "tickerstream"}],
        StartTime=dt.datetime.fromtimestamp(base, dt.UTC), EndTime=dt.datetime.fromtimestamp(base + 120, dt.UTC),
        Period=120, Statistics=["Sum", "SampleCount", "Maximum", "Minimum"])["Datapoints"]
    assert [(p["Sum"], p["SampleCount"], p["Maximum"], p["Minimum"]) for p in points] == [
        (float(sum(i % 7 for i in range(3_000))), 3_000.0, 6.0, 0.0)]
