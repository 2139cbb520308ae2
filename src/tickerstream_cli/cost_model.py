"""The monthly cost of running tickerstream: a load, the template's facts and a price list in, dollars per
service out. Plain functions, no AWS and no CLI, so every figure can be checked by hand.

Units: data volumes in bytes (KB = 1,024 bytes and GB = 1,024³ bytes, as Kinesis, Firehose and S3 bill
them), time in seconds, money in USD. Traffic flows only during trading time (hours a day × days a
month); what is billed by the hour (streams, shards, keys, alarms) runs the whole month.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from tickerstream_cli.cost_inputs import FunctionFacts, Measured, TemplateFacts

KB, MIB, GB = 1024, 1024**2, 1024**3
MAX_KINESIS_RECORD = MIB  # one Kinesis record, aggregated or not
PRODUCER_WINDOW = 10_000  # quotes it aggregates at most per call (tickerstream_cli.producer.AGGREGATION_WINDOW)
KPL_RECORD_OVERHEAD, KPL_AGGREGATE_OVERHEAD = 4, 24  # protobuf bytes per user record; magic + digest + key
TRANSACTION_ITEMS = 100  # TransactWriteItems' limit: QuoteProcessor's packs of tickers plus sector ADDs
ON_DEMAND_MIN_SHARDS = 4  # an on-demand stream starts at 4 MB/s of write capacity
DAYS_PER_MONTH = 365 / 12


@dataclass(frozen=True)
class Load:
    quotes_per_second: float = 500.0  # average while trading
    record_bytes: float = 80.0  # one quote as JSON
    tickers: int = 32
    sectors: int = 5
    hours_per_day: float = 8.0
    days_per_month: float = 21.0
    aggregated: bool = True  # the producer KPL-aggregates (tickerstream produce does unless --plain)
    producer_flush_seconds: float = 0.1  # how long the producer gathers quotes per PutRecords call
    peak_factor: float = 2.0  # the busiest minute's rate ÷ the average: provisioned shards are sized for it
    invalid_fraction: float = 0.0
    api_requests_per_second: float = 1.0  # average while trading
    api_write_share: float = 0.0  # of the API requests, the share that are POST /quotes
    monthly_active_users: int = 100
    sign_ins_per_user: float = 20.0  # a month
    token_refreshes_per_user: float = 60.0  # a month
    new_users_per_month: int = 10
    machine_clients: int = 1
    machine_token_requests: float | None = None  # a month; None: one per token lifetime while trading
    lake_age_days: int = 365  # how long the lake has been filling (datos/ never expires)
    lambda_memory_mb: int | None = None  # None: each function's MemorySize in the template
    processor_ms_per_batch: float | None = None  # None: from bench/results.json and the write latency
    dynamodb_request_ms: float = 10.0  # one TransactWriteItems round trip
    lambda_base_ms: float = 3.0  # per invocation: the handler's fixed work
    api_handler_ms: float = 15.0  # ApiQuery / ApiIngest, not measured
    trigger_ms: float = 5.0  # Cognito triggers, not measured
    rru_per_api_read: float = 0.5  # one eventually consistent GetItem of a small item
    log_bytes_per_invocation: int = 1500  # START/END/REPORT, one JSON line, one EMF blob
    access_log_bytes: int = 700  # one API access-log line
    lake_enrich_bytes: int = 130  # what FirehoseTransform adds to each quote (arrival time, sequence …)
    compression_ratio: float | None = None  # None: from LakeCompressionFormat
    log_compression_ratio: float = 0.15  # CloudWatch bills stored logs compressed
    alarm_notifications: int = 100  # a month

    @property
    def trading_seconds(self) -> float:
        return self.hours_per_day * 3600 * self.days_per_month

    def more(self, **changes: Any) -> Load:
        return replace(self, **changes)


@dataclass(frozen=True)
class Line:
    item: str
    quantity: float
    unit: str
    cost: float
    note: str = ""


@dataclass
class ServiceCost:
    service: str
    lines: list[Line] = field(default_factory=list)
    note: str = ""

    @property
    def total(self) -> float:
        return sum(line.cost for line in self.lines)

    def add(self, item: str, quantity: float, unit: str, price: float, per: float = 1.0, note: str = "") -> None:
        self.lines.append(Line(item, quantity, unit, quantity / per * price, note))


def distinct(draws: float, kinds: float) -> float:
    """Expected number of distinct kinds among `draws` uniform draws from `kinds` (tickers in a batch)."""
    if draws <= 0 or kinds <= 0:
        return 0.0
    if kinds <= 1 or draws <= 1:  # less than one draw (on average) finds no repeats
        return min(draws, 1.0)
    return kinds * -math.expm1(draws * math.log1p(-1.0 / kinds))


# -- the stream -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamTraffic:
    records_per_second: float  # Kinesis records
    bytes_per_record: float
    quotes_per_record: float
    uniform: bool  # every record the same size (plain quotes): billing rounds exactly

    @property
    def bytes_per_second(self) -> float:
        return self.records_per_second * self.bytes_per_record


def stream_traffic(load: Load, aggregated: bool | None = None, shards: int | None = None) -> StreamTraffic:
    """Kinesis records the producer sends for `load` to a stream of `shards` (an on-demand stream's 4 at
    creation, the benchmarked local stream's, when not given)."""
    q = load.quotes_per_second
    if not (load.aggregated if aggregated is None else aggregated) or q <= 0:
        return StreamTraffic(q, load.record_bytes, 1.0, True)
    window = min(max(q * load.producer_flush_seconds, 1.0), PRODUCER_WINDOW)  # quotes per call
    user_bytes = q * (load.record_bytes + KPL_RECORD_OVERHEAD)
    # The producer aggregates per shard, as the KPL does: one aggregate per shard a call's tickers land
    # on (tickers hash uniformly over the shards), more only when a shard's share passes 1 MiB.
    shards_hit = distinct(distinct(window, load.tickers), shards or ON_DEMAND_MIN_SHARDS)
    records = max(q / window * shards_hit, user_bytes / (MAX_KINESIS_RECORD - KPL_AGGREGATE_OVERHEAD))
    return StreamTraffic(records, user_bytes / records + KPL_AGGREGATE_OVERHEAD, q / records, False)


def billed_units(traffic: StreamTraffic, unit: float) -> float:
    """Units of `unit` bytes billed per record: each record rounded up. Aggregates vary in size, so they
    round up by half a unit on average; plain quotes all round the same way."""
    size = traffic.bytes_per_record / unit
    return float(math.ceil(size)) if traffic.uniform else max(1.0, size + 0.5)


def shards_needed(traffic: StreamTraffic, consumers: int, peak_factor: float = 1.0) -> int:
    """Provisioned shards for the peak rate: 1 MiB/s and 1,000 records/s in, 2 MiB/s out shared by the
    consumers (no enhanced fan-out)."""
    peak = max(peak_factor, 1.0)
    return max(1, math.ceil(peak * traffic.bytes_per_second / MIB), math.ceil(peak * traffic.records_per_second / 1000),
               math.ceil(peak * traffic.bytes_per_second * consumers / (2 * MIB)))


def kinesis_cost(load: Load, facts: TemplateFacts, prices: dict[str, Any], mode: str,
                 aggregated: bool | None = None) -> ServiceCost:
    p, hours = prices["kinesis"], prices["hours_per_month"]
    traffic = stream_traffic(load, aggregated)
    records = traffic.records_per_second * load.trading_seconds
    retention = float(facts.parameter("RetentionPeriodHours", 24))
    gb_per_day = records * traffic.bytes_per_record / GB / DAYS_PER_MONTH  # held by the stream, per calendar day
    long_term_gb = gb_per_day * max(0.0, retention - 168) / 24
    cost = ServiceCost("Kinesis Data Streams", note=f"{mode.lower().replace('_', '-')}, "
                       f"{'KPL-aggregated' if traffic.quotes_per_record > 1 or not traffic.uniform else 'one record per quote'}")
    if mode == "ON_DEMAND":
        kb = billed_units(traffic, KB)
        cost.add("stream-hours", hours, "h", p["on_demand_stream_hour"])
        cost.add("data in (records rounded up to 1 KB)", records * kb * KB / GB, "GB", p["on_demand_data_in_per_gb"])
        cost.add(f"data out ({facts.stream_consumers} consumers)", records * kb * KB / GB * facts.stream_consumers, "GB",
                 p["on_demand_data_out_per_gb"])
        if retention > 24:
            cost.add("extended retention (24 h-7 d)", gb_per_day * (min(retention, 168) - 24) / 24, "GB-month",
                     p["on_demand_extended_retention_per_gb_month"])
    else:
        shards = shards_needed(traffic, facts.stream_consumers, load.peak_factor)
        cost.add("shard-hours", shards * hours, "shard-h", p["provisioned_shard_hour"], note=f"{shards} shard(s)")
        cost.add("PUT payload units (25 KB)", records * billed_units(traffic, 25 * KB), "units",
                 p["provisioned_put_payload_units_per_million"], per=1e6)
        if retention > 24:
            cost.add("extended retention", shards * hours, "shard-h", p["provisioned_extended_retention_shard_hour"])
    if long_term_gb:
        cost.add("long-term retention (> 7 d)", long_term_gb, "GB-month", p["long_term_retention_per_gb_month"])
    return cost


def stream_shards(load: Load, facts: TemplateFacts, mode: str) -> int:
    """Shards the event-source mapping polls: on-demand keeps room for twice the peak, from 4 shards."""
    needed = shards_needed(stream_traffic(load), facts.stream_consumers, load.peak_factor)
    return max(ON_DEMAND_MIN_SHARDS, 2 * needed) if mode == "ON_DEMAND" else needed


def break_even(load: Load, facts: TemplateFacts, prices: dict[str, Any], low: float = 1.0,
               high: float = 1e6) -> tuple[float | None, str]:
    """Where the cheaper Kinesis mode changes as quotes/s grow, the rest of the load as given: (that rate,
    the mode cheaper below it), or (None, the mode cheaper over the whole range from `low` to `high`)."""
    def provisioned_cheaper(q: float) -> bool:
        at = load.more(quotes_per_second=q)
        return kinesis_cost(at, facts, prices, "PROVISIONED").total <= kinesis_cost(at, facts, prices, "ON_DEMAND").total

    grid = [low * (high / low) ** (i / 600) for i in range(601)]
    first_side = provisioned_cheaper(grid[0])
    below_mode = "PROVISIONED" if first_side else "ON_DEMAND"
    change = next((i for i, q in enumerate(grid) if provisioned_cheaper(q) != first_side), None)
    if change is None:
        return None, below_mode
    below, above = grid[change - 1], grid[change]
    for _ in range(60):
        middle = (below + above) / 2
        below, above = (middle, above) if provisioned_cheaper(middle) == first_side else (below, middle)
    return above, below_mode


def break_even_peak(load: Load, facts: TemplateFacts, prices: dict[str, Any], high: float = 1e4) -> float | None:
    """The lowest peak ÷ average ratio from which an on-demand stream costs no more than a provisioned one
    sized for that peak (the rest of the load as given), or None if none below `high`."""
    def cheaper(peak: float) -> bool:
        at = load.more(peak_factor=peak)
        return kinesis_cost(at, facts, prices, "ON_DEMAND").total <= kinesis_cost(at, facts, prices, "PROVISIONED").total

    if cheaper(1.0):
        return 1.0
    if not cheaper(high):
        return None
    below, above = 1.0, high
    for _ in range(60):
        middle = (below + above) / 2
        below, above = (below, middle) if cheaper(middle) else (middle, above)
    return above


# -- QuoteProcessor's batches -------------------------------------------------------------------------


@dataclass(frozen=True)
class Batches:
    invocations: float  # a month
    quotes_per_invocation: float
    tickers_per_invocation: float
    transactions_per_invocation: float
    write_units_per_invocation: float  # WRU: transactional writes count double, plus the index


def stream_batches(load: Load, facts: TemplateFacts, function: FunctionFacts, mode: str) -> Batches:
    shards = stream_shards(load, facts, mode)
    traffic = stream_traffic(load, shards=shards)
    per_shard = traffic.records_per_second / shards
    size, window = max(function.batch_size, 1), function.batching_window
    if window <= 0:
        per_second = per_shard / size if per_shard >= size else min(per_shard, 1.0)
    else:
        per_second = per_shard / size if per_shard / size >= 1 / window else min(per_shard, 1 / window)
    invocations = per_second * shards * load.trading_seconds
    if invocations <= 0:
        return Batches(0.0, 0.0, 0.0, 0.0, 0.0)
    quotes = per_shard / per_second * traffic.quotes_per_record
    tickers = distinct(quotes * (1 - load.invalid_fraction), max(load.tickers / shards, 1.0))
    sectors = min(float(load.sectors), tickers)
    # packs of up to 100 actions: on average (tickers ÷ room) transactions, at least one
    transactions = max(1.0, tickers / max(TRANSACTION_ITEMS - load.sectors, 1)) if tickers else 0.0
    # per transaction: a Put per ticker and an ADD per sector, both transactional (2 WRU each for items
    # under 1 KB); each ticker's Put also writes its BySector index entry (1 WRU)
    units = 2 * (tickers + transactions * sectors) + tickers
    return Batches(invocations, quotes, tickers, transactions, units)


# -- Lambda -------------------------------------------------------------------------------------------


def lambda_invocations(load: Load, facts: TemplateFacts, measured: Measured, mode: str,
                       function: FunctionFacts) -> tuple[float, float, str]:
    """(invocations a month, ms per invocation, where the duration comes from)."""
    api = load.api_requests_per_second * load.trading_seconds
    trigger = function.trigger
    if trigger == "stream":
        batches = stream_batches(load, facts, function, mode)
        if load.processor_ms_per_batch is not None:
            return batches.invocations, load.processor_ms_per_batch, "given (--processor-ms-per-batch)"
        per_record = measured.processor_us_per_record
        source = (f"bench: {per_record} µs/quote" if per_record is not None else "assumed 10 µs/quote") + (
            f" + {load.dynamodb_request_ms:g} ms a transaction")
        ms = load.lambda_base_ms + batches.quotes_per_invocation * (per_record or 10.0) / 1000 + (
            batches.transactions_per_invocation * load.dynamodb_request_ms)
        return batches.invocations, ms, source
    if trigger == "firehose":
        buffer = float(facts.parameter("LakeTransformBufferSizeMiB", 1)) * MIB
        interval = float(facts.parameter("LakeTransformBufferIntervalSeconds", 60)) or 1.0
        quote_bytes = load.quotes_per_second * load.record_bytes
        per_second = max(quote_bytes / buffer, 1 / interval) if quote_bytes else 0.0
        quotes = load.quotes_per_second / per_second if per_second else 0.0
        per_record = measured.transform_us_per_record
        source = f"bench: {per_record} µs/quote" if per_record is not None else "assumed 25 µs/quote"
        return per_second * load.trading_seconds, load.lambda_base_ms + quotes * (per_record or 25.0) / 1000, source
    if trigger in ("api-read", "api-write"):
        share = load.api_write_share if trigger == "api-write" else 1 - load.api_write_share
        return api * share, load.api_handler_ms, "assumed (not measured)"
    if trigger.startswith("cognito:"):
        users = load.monthly_active_users
        events = {"PreSignUp": load.new_users_per_month,
                  "PreTokenGeneration": users * (load.sign_ins_per_user + load.token_refreshes_per_user)}
        return float(events.get(trigger.split(":", 1)[1], users * load.sign_ins_per_user)), load.trigger_ms, \
            "assumed (not measured)"
    return 0.0, 0.0, "no load model for its trigger"


def lambda_cost(load: Load, facts: TemplateFacts, measured: Measured, prices: dict[str, Any],
                mode: str) -> tuple[ServiceCost, float]:
    """Lambda's cost, and the month's invocations (for the logs)."""
    p = prices["lambda"]
    cost = ServiceCost("Lambda", note="arm64")
    invocations_total = 0.0
    for function in facts.functions:
        invocations, ms, source = lambda_invocations(load, facts, measured, mode, function)
        memory = load.lambda_memory_mb or function.memory_mb
        gb_seconds = invocations * ms / 1000 * memory / 1024  # billed by the ms (the average is used)
        invocations_total += invocations
        cost.add(f"{function.logical_id} requests", invocations, "req", p["requests_per_million"], per=1e6,
                 note=function.trigger)
        cost.add(f"{function.logical_id} compute", gb_seconds, "GB-s", p["arm_gb_second"],
                 note=f"{memory} MB × {ms:.1f} ms ({source})")
    return cost, invocations_total
