"""The services after the stream (Firehose, the S3 lake, DynamoDB, API Gateway, Cognito, CloudWatch, KMS,
SQS/SNS, Secrets Manager) and the whole estimate. Plain functions of a Load, the template's facts and the
price list; see cost_model.py for the units."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tickerstream_cli.cost_inputs import Measured, TemplateFacts
from tickerstream_cli.cost_model import (
    DAYS_PER_MONTH,
    GB,
    KB,
    MIB,
    Load,
    ServiceCost,
    billed_units,
    break_even,
    break_even_peak,
    kinesis_cost,
    lambda_cost,
    stream_batches,
    stream_traffic,
)

COMPRESSION = {"GZIP": 0.2, "HADOOP_SNAPPY": 0.35, "UNCOMPRESSED": 1.0}  # NDJSON quotes, compressed size ÷ raw
KMS_REQUESTS_PER_HOUR = 12  # a caller's data key is re-requested about every 5 minutes
PROCESSOR = "QuoteProcessor"  # the function whose writes are modelled (the template's QuoteProcessorName output)


@dataclass(frozen=True)
class Lake:
    delivered_bytes: float  # a month, NDJSON before compression (what dynamic partitioning processes)
    stored_bytes: float  # a month, as stored
    objects: float  # a month, under datos/
    error_bytes: float
    error_objects: float


def lake_flow(load: Load, facts: TemplateFacts) -> Lake:
    valid = load.quotes_per_second * (1 - load.invalid_fraction) * load.trading_seconds
    delivered = valid * (load.record_bytes + load.lake_enrich_bytes)
    ratio = load.compression_ratio or COMPRESSION.get(str(facts.parameter("LakeCompressionFormat", "GZIP")), 1.0)
    interval = float(facts.parameter("LakeBufferIntervalSeconds", 60))
    buffer = float(facts.parameter("LakeBufferSizeMiB", 64)) * MIB
    per_partition = delivered / load.trading_seconds / max(load.sectors, 1) if load.trading_seconds else 0.0
    objects = max(load.sectors, 1) * max(1 / interval, per_partition / buffer) * load.trading_seconds if delivered else 0.0
    invalid = load.quotes_per_second * load.invalid_fraction * load.trading_seconds
    errors = invalid * load.record_bytes * 1.5  # kept whole, base64 in Firehose's error envelope
    return Lake(delivered, delivered * ratio, objects, errors * ratio, load.trading_seconds / interval if invalid else 0.0)


def firehose_cost(load: Load, facts: TemplateFacts, prices: dict[str, Any]) -> tuple[ServiceCost, Lake]:
    p = prices["firehose"]
    traffic, lake = stream_traffic(load), lake_flow(load, facts)
    records = traffic.records_per_second * load.trading_seconds
    cost = ServiceCost("Data Firehose", note="Kinesis stream as source")
    cost.add("ingestion (records rounded up to 5 KB)", records * billed_units(traffic, 5 * KB) * 5 * KB / GB, "GB",
             p["ingestion_per_gb"])
    if facts.dynamic_partitioning:
        cost.add("dynamic partitioning", lake.delivered_bytes / GB, "GB", p["dynamic_partitioning_per_gb"])
        cost.add("dynamic partitioning objects", lake.objects, "objects", p["dynamic_partitioning_per_1000_objects"], per=1000)
    if facts.format_conversion:
        cost.add("format conversion", records * billed_units(traffic, 5 * KB) * 5 * KB / GB, "GB", p["format_conversion_per_gb"])
    else:
        cost.add("format conversion", 0, "GB", p["format_conversion_per_gb"], note="not enabled in the template (NDJSON)")
    return cost, lake


def s3_cost(load: Load, facts: TemplateFacts, prices: dict[str, Any], lake: Lake) -> ServiceCost:
    """The lake bucket in steady state after `lake_age_days` of filling, class by class as the template's
    lifecycle moves datos/ objects (STANDARD → STANDARD_IA → archive class → DEEP_ARCHIVE)."""
    p = prices["s3"]
    cost = ServiceCost("S3 (lake)", note=f"{facts.parameter('LakeCompressionFormat')} NDJSON under datos/")
    ia, archive, deep = (int(facts.parameter(n)) for n in
                         ("LakeInfrequentAccessAfterDays", "LakeArchiveAfterDays", "LakeDeepArchiveAfterDays"))
    archive_class = str(facts.parameter("LakeArchiveStorageClass", "GLACIER_IR"))
    age = load.lake_age_days
    per_day_bytes, per_day_objects = lake.stored_bytes / DAYS_PER_MONTH, lake.objects / DAYS_PER_MONTH
    object_bytes = lake.stored_bytes / lake.objects if lake.objects else 0.0
    spans = [("STANDARD", min(age, ia), 0), ("STANDARD_IA", min(max(age - ia, 0), archive - ia), ia),
             (archive_class, min(max(age - archive, 0), deep - archive), archive), ("DEEP_ARCHIVE", max(age - deep, 0), deep)]
    for storage_class, days, starts in spans:
        objects = per_day_objects * days
        minimum = p["minimum_object_kb"].get(storage_class, 0) * KB
        overhead = p["archive_overhead_kb"].get(storage_class, 0) * KB
        billed = objects * (max(object_bytes, minimum) + overhead)
        note = f"{days:g} days of data" + (f", objects billed at ≥ {minimum // KB} KB" if minimum else "") + (
            f", +{overhead // KB} KB an object" if overhead else "")
        cost.add(f"{storage_class} storage", billed / GB, "GB-month", p["storage_per_gb_month"][storage_class], note=note)
        if storage_class != "STANDARD" and age > starts:
            cost.add(f"transitions to {storage_class}", lake.objects, "req", p["transition_per_1000"][storage_class], per=1000)
    error_days = min(int(facts.parameter("LakeErrorExpirationDays", 90)), age)
    cost.add("errors/ storage", lake.error_bytes / DAYS_PER_MONTH * error_days / GB, "GB-month",
             p["storage_per_gb_month"]["STANDARD"], note=f"expires after {error_days} days")
    cost.add("PUT requests", lake.objects + lake.error_objects, "req", p["put_per_1000"], per=1000)
    return cost


def dynamodb_cost(load: Load, facts: TemplateFacts, prices: dict[str, Any], mode: str) -> ServiceCost:
    p = prices["dynamodb"]
    cost = ServiceCost("DynamoDB", note="on-demand; QuoteProcessor's writes are transactional (2 WRU an item)")
    processor = next((f for f in facts.functions if f.logical_id == PROCESSOR), None)
    if processor is not None:
        batches = stream_batches(load, facts, processor, mode)
        cost.add("write request units", batches.invocations * batches.write_units_per_invocation, "WRU",
                 p["write_request_units_per_million"], per=1e6,
                 note=f"{batches.tickers_per_invocation:.0f} tickers in {batches.transactions_per_invocation:.1f} "
                      f"transaction(s) a batch")
    reads = load.api_requests_per_second * (1 - load.api_write_share) * load.trading_seconds
    cost.add("read request units", reads * load.rru_per_api_read, "RRU", p["read_request_units_per_million"], per=1e6)
    stored = (load.tickers * 0.5 * KB + load.sectors * 0.3 * KB) / GB
    cost.add("storage", stored, "GB-month", p["storage_per_gb_month"])
    cost.add("point-in-time recovery", stored, "GB-month", p["pitr_per_gb_month"])
    return cost


def api_cost(load: Load, prices: dict[str, Any]) -> ServiceCost:
    cost = ServiceCost("API Gateway", note="REST API")
    cost.add("requests", load.api_requests_per_second * load.trading_seconds, "req",
             prices["api_gateway"]["rest_requests_per_million"], per=1e6)
    return cost


def machine_tokens(load: Load, facts: TemplateFacts) -> float:
    if load.machine_token_requests is not None:
        return load.machine_token_requests
    lifetime_hours = float(facts.parameter("MachineTokenValidityMinutes", 60)) / 60
    return load.machine_clients * load.trading_seconds / 3600 / lifetime_hours  # cached for their lifetime


def cognito_cost(load: Load, facts: TemplateFacts, prices: dict[str, Any]) -> ServiceCost:
    p = prices["cognito"]
    tier = str(facts.parameter("UserPoolTier", "ESSENTIALS"))
    cost = ServiceCost("Cognito", note=f"{tier} tier")
    if tier == "PLUS":
        cost.add("monthly active users", load.monthly_active_users, "MAU", p["plus_per_mau"])
    else:
        billed = max(0, load.monthly_active_users - p["essentials_free_maus"])
        cost.add("monthly active users", billed, "MAU", p["essentials_per_mau"],
                 note=f"{load.monthly_active_users} MAU, the first {p['essentials_free_maus']:,} free")
    cost.add("machine app clients", load.machine_clients, "clients", p["m2m_app_client_month"])
    cost.add("machine token requests", machine_tokens(load, facts), "req", p["m2m_per_1000_token_requests"], per=1000)
    return cost


def cloudwatch_cost(load: Load, facts: TemplateFacts, prices: dict[str, Any], invocations: float) -> ServiceCost:
    p = prices["cloudwatch"]
    cost = ServiceCost("CloudWatch")
    ingested = (invocations * load.log_bytes_per_invocation
                + load.api_requests_per_second * load.trading_seconds * load.access_log_bytes) / GB
    retention = int(facts.parameter("LogRetentionInDays", 30))
    cost.add("logs ingested", ingested, "GB", p["logs_ingested_per_gb"])
    cost.add("logs stored", ingested * retention / DAYS_PER_MONTH * load.log_compression_ratio, "GB-month",
             p["logs_stored_per_gb_month"], note=f"{retention} days, compressed")
    cost.add("custom metrics (EMF)", facts.custom_metrics, "metrics", p["custom_metric_month"],
             note="metric names in the functions' code, + ColdStart per function")
    cost.add("alarms", facts.alarm_metrics, "alarm metrics", p["standard_alarm_metric_month"],
             note="AWS::CloudWatch::Alarm resources in the template")
    cost.add("dashboards", facts.dashboards, "dashboards", p["dashboard_month"])
    return cost


def kms_cost(facts: TemplateFacts, prices: dict[str, Any], lake: Lake) -> ServiceCost:
    p, hours = prices["kms"], prices["hours_per_month"]
    cost = ServiceCost("KMS", note="the stream and queues use AWS managed keys")
    cost.add("customer managed keys", facts.customer_keys, "keys", p["customer_key_month"])
    requests = (facts.log_groups + facts.table_key_users) * KMS_REQUESTS_PER_HOUR * hours + lake.objects
    cost.add("requests", requests, "req", p["requests_per_10000"], per=10_000,
             note="data keys every ~5 min per log group and table reader; ≤ 1 per lake object (bucket key)")
    return cost


def messaging_cost(load: Load, facts: TemplateFacts, prices: dict[str, Any]) -> ServiceCost:
    cost = ServiceCost("SQS / SNS")
    invalid = load.quotes_per_second * load.invalid_fraction * load.trading_seconds
    cost.add("quarantine SendMessageBatch", invalid / 10, "req", prices["sqs"]["requests_per_million"], per=1e6,
             note="10 invalid records a request; FailedBatchesQueue is empty in a healthy month")
    notifications = load.alarm_notifications if facts.sns_topics else 0
    cost.add("SNS publishes", notifications, "publishes", prices["sns"]["publishes_per_million"], per=1e6,
             note=f"{facts.sns_topics} topic(s) in the template")
    cost.add("SNS e-mail deliveries", notifications, "e-mails", prices["sns"]["email_per_100000"], per=100_000)
    return cost


def secrets_cost(facts: TemplateFacts, prices: dict[str, Any]) -> ServiceCost:
    cost = ServiceCost("Secrets Manager")
    cost.add("secrets", facts.secrets, "secrets", prices["secrets_manager"]["secret_month"],
             note="AWS::SecretsManager::Secret resources in the template (the machine client's secret lives in Cognito)")
    return cost


@dataclass
class Estimate:
    load: Load
    mode: str
    services: list[ServiceCost]
    kinesis_modes: dict[str, float] = field(default_factory=dict)  # mode → Kinesis's cost for this load
    break_even_quotes_per_second: float | None = None  # where the cheaper Kinesis mode changes
    cheaper_below_break_even: str = ""  # the mode cheaper below it (over the whole range if it is None)
    break_even_peak_factor: float | None = None  # on-demand no dearer from this peak ÷ average up
    kpl: dict[str, dict[str, float]] = field(default_factory=dict)
    configurations: dict[str, float] = field(default_factory=dict)  # "mode, plain|KPL" → total

    @property
    def total(self) -> float:
        return sum(service.total for service in self.services)

    @property
    def cheapest(self) -> str:
        return min(self.configurations, key=self.configurations.get) if self.configurations else ""


def services(load: Load, facts: TemplateFacts, measured: Measured, prices: dict[str, Any], mode: str) -> list[ServiceCost]:
    lambdas, invocations = lambda_cost(load, facts, measured, prices, mode)
    firehose, lake = firehose_cost(load, facts, prices)
    return [kinesis_cost(load, facts, prices, mode), lambdas, firehose, s3_cost(load, facts, prices, lake),
            dynamodb_cost(load, facts, prices, mode), api_cost(load, prices), cognito_cost(load, facts, prices),
            cloudwatch_cost(load, facts, prices, invocations), kms_cost(facts, prices, lake),
            messaging_cost(load, facts, prices), secrets_cost(facts, prices)]


def estimate(load: Load, facts: TemplateFacts, measured: Measured, prices: dict[str, Any], mode: str | None = None,
             compare: bool = True) -> Estimate:
    mode = mode or str(facts.parameter("StreamMode", "ON_DEMAND"))
    result = Estimate(load, mode, services(load, facts, measured, prices, mode))
    if not compare:
        return result
    for other in ("ON_DEMAND", "PROVISIONED"):
        result.kinesis_modes[other] = kinesis_cost(load, facts, prices, other).total
        for aggregated in (False, True):
            variant = load.more(aggregated=aggregated)
            label = f"{other.lower().replace('_', '-')}, {'KPL-aggregated' if aggregated else 'one record per quote'}"
            result.configurations[label] = sum(s.total for s in services(variant, facts, measured, prices, other))
    result.break_even_quotes_per_second, result.cheaper_below_break_even = break_even(load, facts, prices)
    result.break_even_peak_factor = break_even_peak(load, facts, prices)
    for label, aggregated in (("plain", False), ("aggregated", True)):
        traffic = stream_traffic(load, aggregated)
        records = traffic.records_per_second * load.trading_seconds
        result.kpl[label] = {
            "kinesis_records": records,
            "put_payload_units": records * billed_units(traffic, 25 * KB),
            "on_demand_billed_gb_in": records * billed_units(traffic, KB) * KB / GB,
            "firehose_billed_gb": records * billed_units(traffic, 5 * KB) * 5 * KB / GB,
            "kinesis_cost": kinesis_cost(load, facts, prices, mode, aggregated).total,
        }
    return result
