"""`tickerstream cost`: hand-computed cases per service, the Kinesis break-evens, KPL aggregation's effect,
Lambda durations from bench/results.json, and that cost never falls when the load grows."""

from __future__ import annotations

import copy
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.conftest import run_cli, scrubbed_environment
from tickerstream_cli.cost_inputs import Measured, measured, prices, template_facts
from tickerstream_cli.cost_model import (
    GB,
    KB,
    Load,
    break_even,
    break_even_peak,
    kinesis_cost,
    lambda_cost,
    stream_batches,
    stream_traffic,
)
from tickerstream_cli.cost_services import (
    api_cost,
    cloudwatch_cost,
    cognito_cost,
    dynamodb_cost,
    estimate,
    firehose_cost,
    kms_cost,
    lake_flow,
    s3_cost,
    secrets_cost,
)
from tickerstream_local.template import sam_template

PRICES = prices()
FACTS = template_facts()
# 100 plain quotes/s of 100 bytes for 10 h on 10 days: 36,000,000 records, each billed as 1 KB
PLAIN = Load(quotes_per_second=100, record_bytes=100, tickers=32, sectors=5, hours_per_day=10, days_per_month=10,
             aggregated=False, peak_factor=2.0)
RECORDS = 100 * 36_000 * 10


def line(cost, item):
    return next(line for line in cost.lines if line.item.startswith(item))


def test_the_facts_come_from_the_template():
    # every Kinesis event of a function (QuoteProcessor, CandleAggregator, BoardFanout) and the lake's delivery stream
    assert FACTS.stream_consumers == 4
    assert FACTS.parameter("RetentionPeriodHours") == 24 and FACTS.parameter("StreamMode") == "ON_DEMAND"
    assert {f.logical_id: f.trigger for f in FACTS.functions}["QuoteProcessor"] == "stream"
    assert {f.logical_id: f.trigger for f in FACTS.functions}["FirehoseTransform"] == "firehose"
    keys = sum(1 for r in sam_template()["Resources"].values() if r["Type"] == "AWS::KMS::Key")
    assert FACTS.customer_keys == keys >= 3 and FACTS.dynamic_partitioning and not FACTS.format_conversion
    assert PRICES["region"] == "us-east-1" and PRICES["read_on"]
    assert all("source" in section and "evidence" in section for section in PRICES.values() if isinstance(section, dict))


def test_kinesis_on_demand_by_hand():
    gb = RECORDS * KB / GB  # every 100-byte record billed as 1 KB
    cost = kinesis_cost(PLAIN, FACTS, PRICES, "ON_DEMAND")
    assert line(cost, "data in").quantity == pytest.approx(gb)
    assert cost.total == pytest.approx(730 * 0.04 + gb * 0.08 + FACTS.stream_consumers * gb * 0.04)


def test_kinesis_provisioned_by_hand():
    cost = kinesis_cost(PLAIN, FACTS, PRICES, "PROVISIONED")  # 100 records/s, peak 200: one shard
    assert cost.total == pytest.approx(730 * 0.015 + RECORDS * 0.014 / 1e6)
    bigger = kinesis_cost(PLAIN.more(peak_factor=25), FACTS, PRICES, "PROVISIONED")  # peak 2,500 records/s: 3 shards
    assert line(bigger, "shard-hours").quantity == 3 * 730


def test_kinesis_break_even_by_hand():
    # on-demand: 29.2 + 0.16 per GB; provisioned: 10.95 a shard (one per 10 quotes/s at peak 100) + PUT units.
    # Trading 1 h a day on 21 days, provisioned is cheaper up to 20 quotes/s (two shards), on-demand above.
    rare = PLAIN.more(hours_per_day=1, days_per_month=21, peak_factor=100)
    rate, cheaper_below = break_even(rare, FACTS, PRICES)
    assert cheaper_below == "PROVISIONED" and rate == pytest.approx(20, rel=1e-6)
    # steady at 100 quotes/s: one shard per 1,000 records/s of peak, so on-demand (34.69) wins from a 30× peak
    assert break_even_peak(PLAIN, FACTS, PRICES) == pytest.approx(30, rel=1e-6)
    assert break_even(PLAIN, FACTS, PRICES) == (None, "PROVISIONED")


def test_kpl_aggregation_cuts_billed_units_by_hand():
    load = Load(quotes_per_second=1000, record_bytes=100, tickers=10, sectors=5, producer_flush_seconds=0.1)
    traffic = stream_traffic(load)
    tickers_per_call = 10 * (1 - 0.9**100)  # tickers seen in a call of 100 quotes
    per_call = 4 * (1 - 0.75**tickers_per_call)  # of the stream's 4 shards, those these tickers land on
    assert traffic.records_per_second == pytest.approx(10 * per_call)
    size = 1000 * 104 / traffic.records_per_second + 24  # quotes + protobuf overhead + magic, digest, key
    assert traffic.bytes_per_record == pytest.approx(size)
    trading = load.trading_seconds
    plain = kinesis_cost(load.more(aggregated=False), FACTS, PRICES, "PROVISIONED")
    aggregated = kinesis_cost(load, FACTS, PRICES, "PROVISIONED")
    assert line(plain, "PUT payload").quantity == pytest.approx(1000 * trading)
    assert line(aggregated, "PUT payload").quantity == pytest.approx(10 * per_call * trading)  # 1 unit each, < 25 KB
    on_demand = kinesis_cost(load, FACTS, PRICES, "ON_DEMAND")
    assert line(on_demand, "data in").quantity == pytest.approx(10 * per_call * trading * (size / KB + 0.5) * KB / GB)


@pytest.mark.parametrize("tickers", [32, 5000])
def test_the_aggregation_model_reproduces_the_benchmarked_producer(tickers):
    bench = measured().keys
    # the benchmark sends 20,000 quotes unpaced: two calls of 10,000
    traffic = stream_traffic(Load(quotes_per_second=20_000, record_bytes=80, tickers=tickers, producer_flush_seconds=1))
    assert traffic.records_per_second == pytest.approx(bench[f"producer_{tickers}_tickers_aggregated_kinesis_records"], rel=0.01)


def _processor():
    return next(f for f in FACTS.functions if f.logical_id == "QuoteProcessor")


def test_lambda_takes_quoteprocessors_duration_from_bench_results():
    load = PLAIN.more(quotes_per_second=500, peak_factor=2.0)  # provisioned: 1 shard, one 500-record batch a second
    bench = measured()
    assert bench.processor_us_per_record == json.loads(bench.source and open(bench.source).read())["processor_us_per_record"]
    batches = stream_batches(load, FACTS, _processor(), "PROVISIONED")
    assert batches.invocations == pytest.approx(load.trading_seconds)
    assert batches.quotes_per_invocation == pytest.approx(500)
    ms = load.lambda_base_ms + 500 * bench.processor_us_per_record / 1000 + 1 * load.dynamodb_request_ms
    cost, _ = lambda_cost(load, FACTS, bench, PRICES, "PROVISIONED")
    assert line(cost, "QuoteProcessor compute").quantity == pytest.approx(load.trading_seconds * ms / 1000 * 512 / 1024)
    slower, _ = lambda_cost(load, FACTS, Measured(processor_us_per_record=100.0), PRICES, "PROVISIONED")
    assert line(slower, "QuoteProcessor compute").cost > line(cost, "QuoteProcessor compute").cost
    given_ms, _ = lambda_cost(load.more(processor_ms_per_batch=40, lambda_memory_mb=1024), FACTS, bench, PRICES, "PROVISIONED")
    assert line(given_ms, "QuoteProcessor compute").quantity == pytest.approx(load.trading_seconds * 0.040 * 1.0)
    assert line(given_ms, "QuoteProcessor requests").cost == pytest.approx(load.trading_seconds * 0.2 / 1e6)


def test_dynamodb_transactional_writes_count_double_by_hand():
    one = Load(quotes_per_second=10, record_bytes=80, tickers=1, sectors=1, hours_per_day=1, days_per_month=1, aggregated=False)
    batches = stream_batches(one, FACTS, _processor(), "PROVISIONED")
    # each batch: the ticker's Put and its sector's ADD, 2 WRU each in a transaction, + the index entry
    assert batches.write_units_per_invocation == pytest.approx(2 * (1 + 1) + 1)
    cost = dynamodb_cost(one, FACTS, PRICES, "PROVISIONED")
    assert line(cost, "write request units").cost == pytest.approx(3600 * 5 * 0.625 / 1e6)
    tickers = 32 * (1 - (31 / 32) ** 500)
    many = stream_batches(PLAIN.more(quotes_per_second=500), FACTS, _processor(), "PROVISIONED")
    assert many.write_units_per_invocation == pytest.approx(2 * (tickers + 5) + tickers)


def test_firehose_and_the_lake_by_hand():
    cost, lake = firehose_cost(PLAIN, FACTS, PRICES)
    assert line(cost, "ingestion").quantity == pytest.approx(RECORDS * 5 * KB / GB)  # each record billed as 5 KB
    assert lake.delivered_bytes == RECORDS * (100 + PLAIN.lake_enrich_bytes)
    assert line(cost, "dynamic partitioning objects").quantity == pytest.approx(5 * 360_000 / 60)  # 5 sectors, 60 s
    assert line(cost, "format conversion").cost == 0


def test_s3_follows_the_templates_lifecycle_by_hand():
    load = PLAIN.more(compression_ratio=1.0, lake_age_days=100)
    lake = lake_flow(load, FACTS)
    cost = s3_cost(load, FACTS, PRICES, lake)
    per_day = lake.stored_bytes / (365 / 12) / GB
    # STANDARD 30 days, STANDARD_IA days 30-90, GLACIER_IR from day 90 (the template's defaults)
    assert line(cost, "STANDARD storage").quantity == pytest.approx(30 * per_day)
    assert line(cost, "STANDARD_IA storage").quantity == pytest.approx(60 * per_day)  # objects > 128 KB
    assert line(cost, "GLACIER_IR storage").quantity == pytest.approx(10 * per_day)
    assert line(cost, "DEEP_ARCHIVE storage").quantity == 0
    assert line(cost, "transitions to GLACIER_IR").cost == pytest.approx(lake.objects / 1000 * 0.02)
    young = s3_cost(load.more(lake_age_days=20), FACTS, PRICES, lake)
    assert not [x for x in young.lines if x.item.startswith("transitions")]


def test_api_cognito_cloudwatch_kms_and_secrets_by_hand():
    load = PLAIN.more(api_requests_per_second=10, monthly_active_users=12_000, machine_clients=2)
    assert api_cost(load, PRICES).total == pytest.approx(10 * 360_000 * 3.5 / 1e6)
    cognito = cognito_cost(load, FACTS, PRICES)
    tokens = 2 * 100 / 1  # two clients, 100 trading hours, one-hour tokens cached
    assert cognito.total == pytest.approx(2000 * 0.015 + 2 * 6 + tokens / 1000 * 2.25)
    template = copy.deepcopy(sam_template())
    counted = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard", "AWS::SecretsManager::Secret")
    for logical_id in [k for k, r in template["Resources"].items() if r["Type"] in counted]:
        del template["Resources"][logical_id]  # then exactly one of each, priced by hand
    template["Resources"]["Paging"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {}}
    template["Resources"]["Board"] = {"Type": "AWS::CloudWatch::Dashboard", "Properties": {}}
    template["Resources"]["Key"] = {"Type": "AWS::SecretsManager::Secret", "Properties": {}}
    facts = template_facts(template=template)
    watch = cloudwatch_cost(load, facts, PRICES, invocations=1_000_000)
    assert line(watch, "alarms").cost == pytest.approx(0.10) and line(watch, "dashboards").cost == pytest.approx(3.0)
    assert line(watch, "logs ingested").quantity == pytest.approx((1_000_000 * 1500 + 3_600_000 * 700) / GB)
    assert line(watch, "custom metrics").quantity == FACTS.custom_metrics >= 17
    assert secrets_cost(facts, PRICES).total == pytest.approx(0.40)
    assert secrets_cost(FACTS, PRICES).total == pytest.approx(0.40 * FACTS.secrets)
    _, lake = firehose_cost(load, FACTS, PRICES)
    assert line(kms_cost(FACTS, PRICES, lake), "customer managed keys").cost == pytest.approx(1.0 * FACTS.customer_keys)


def test_a_template_parameter_changes_the_estimate():
    base = kinesis_cost(PLAIN, FACTS, PRICES, "PROVISIONED")
    longer = kinesis_cost(PLAIN, template_facts({"RetentionPeriodHours": 168}), PRICES, "PROVISIONED")
    assert longer.total == pytest.approx(base.total + 730 * 0.02)


LOADS = st.builds(
    Load,
    quotes_per_second=st.floats(1, 20_000), record_bytes=st.floats(40, 2000), tickers=st.integers(1, 10_000),
    hours_per_day=st.floats(0.5, 24), days_per_month=st.floats(1, 31), aggregated=st.booleans(),
    api_requests_per_second=st.floats(0, 500), monthly_active_users=st.integers(0, 50_000),
    machine_clients=st.integers(0, 20), lake_age_days=st.integers(1, 1500), peak_factor=st.floats(2, 10),
    invalid_fraction=st.floats(0, 0.5),
)
GROWTH = st.sampled_from(["quotes_per_second", "record_bytes", "tickers", "hours_per_day", "days_per_month",
                          "api_requests_per_second", "monthly_active_users", "machine_clients", "lake_age_days"])


@settings(max_examples=150, deadline=None)
@given(load=LOADS, grow=GROWTH, factor=st.floats(1.0, 4.0), mode=st.sampled_from(["ON_DEMAND", "PROVISIONED"]))
def test_cost_never_decreases_when_the_load_grows(load, grow, factor, mode):
    value = getattr(load, grow)
    bigger = load.more(**{grow: type(value)(math.ceil(value * factor) if isinstance(value, int) else value * factor)})
    before = estimate(load, FACTS, measured(), PRICES, mode, compare=False)
    after = estimate(bigger, FACTS, measured(), PRICES, mode, compare=False)
    assert after.total >= before.total * (1 - 1e-9)
    for old, new in zip(before.services, after.services, strict=True):
        assert new.total >= old.total * (1 - 1e-9) - 1e-12, (old.service, old.total, new.total)


def test_the_command_prints_a_table_and_json_with_no_aws_settings(empty_home):
    env = scrubbed_environment(empty_home)
    table = run_cli(["cost"], env)
    assert table.code == 0, table.stderr
    assert "total" in table.stdout and "Kinesis Data Streams" in table.stdout and "Cheapest:" in table.stdout
    ran = run_cli(["cost", "--format", "json", "--quotes-per-second", "5000", "--tickers", "5000",
                   "--hours-per-day", "24", "--days-per-month", "30.42", "--parameter", "StreamMode=PROVISIONED"], env)
    assert ran.code == 0, ran.stderr
    data = json.loads(ran.stdout)
    assert data["stream_mode"] == "PROVISIONED" and data["region"] == "us-east-1"
    assert data["total"] == pytest.approx(sum(s["monthly"] for s in data["services"]), abs=0.1)
    assert {s["service"] for s in data["services"]} >= {"Kinesis Data Streams", "Lambda", "Data Firehose", "S3 (lake)",
                                                        "DynamoDB", "API Gateway", "Cognito", "CloudWatch", "KMS",
                                                        "SQS / SNS", "Secrets Manager"}
    assert data["cheapest"] in data["configurations"]
    bad = run_cli(["cost", "--parameter", "StreamMode=FAST"], env)
    assert bad.code == 2 and "not one of" in bad.stderr
    negative = run_cli(["cost", "--quotes-per-second", "-5", "--invalid-fraction", "2"], env)
    assert negative.code == 2 and "--quotes-per-second must not be negative" in negative.stderr
    assert "between 0 and 1" in negative.stderr
    unknown = run_cli(["cost", "--parameter", "NoSuchThing=1"], env)
    assert unknown.code == 2 and "expected Name=Value with a parameter of template.yaml" in unknown.stderr


def _report(argv):
    from tickerstream_cli.cost import _parse_parameters, load_from, report
    from tickerstream_cli.main import build_parser

    args = build_parser().parse_args(["cost", *argv])
    facts = template_facts(_parse_parameters(args.parameter))
    return report(estimate(load_from(args), facts, measured(), PRICES, args.stream_mode), PRICES, facts, measured())


def readme_table(small, large) -> str:
    """The README's table for the two loads, as `tickerstream cost` computes them now."""
    lines = ["| service | small: 500 quotes/s, 8 h × 21 days | large: 5,000 quotes/s, 24 h × 30.42 days |", "|---|---:|---:|"]
    lines += [f"| {a['service']} | {a['monthly']:,.2f} | {b['monthly']:,.2f} |" for a, b in zip(small["services"], large["services"], strict=True)]
    lines.append(f"| **total (USD a month)** | **{small['total']:,.2f}** | **{large['total']:,.2f}** |")
    return "\n".join(lines)


def test_the_readme_shows_what_the_command_says_for_both_loads():
    from tickerstream_local.template import REPO_ROOT

    section = (REPO_ROOT / "README.md").read_text().split("## What it costs", 1)[1].split("\n## ", 1)[0]
    large_args = ["--quotes-per-second", "5000", "--tickers", "5000", "--hours-per-day", "24", "--days-per-month", "30.42"]
    assert "tickerstream cost " + " ".join(large_args) in section
    small, large = _report([]), _report(large_args)
    table = readme_table(small, large)
    assert table in section, f"the template, prices or bench results changed: paste this table into the README\n{table}"
    for data, quoted in ((small, list(small["configurations"])), (large, ["on-demand, KPL-aggregated"])):
        assert data["cheapest"] == "provisioned, KPL-aggregated"
        for configuration in [data["cheapest"], *quoted]:
            assert f"${data['configurations'][configuration]:,.2f}" in section, configuration
    tuned = _report([*large_args, "--stream-mode", "PROVISIONED", "--parameter", "BatchSize=10000",
                     "--parameter", "MaximumBatchingWindowInSeconds=10"])
    assert f"${tuned['total']:,.2f}" in section
