"""KPL aggregation in the producer: per-ticker order, nothing lost or duplicated, under partial failures."""

from __future__ import annotations

import base64
import itertools
import json
import random

from aws_kinesis_agg.deaggregator import iter_deaggregate_records
from hypothesis import given, settings
from hypothesis import strategies as st

from tickerstream.kinesis_put import MAX_BYTES_PER_REQUEST, MAX_RECORD_BYTES, MAX_RECORDS_PER_REQUEST, put_records
from tickerstream.kpl import deaggregate, is_aggregated
from tickerstream_cli.demo_quotes import DemoQuotes, DemoRecord, synthetic_universe
from tickerstream_cli.producer import produce

RETRYABLE = "ProvisionedThroughputExceededException"


class ShardLog:
    """A fake Kinesis: one ordered log; each entry fails (before it is written) when the script says so.

    Enforces PutRecords' limits, so a producer that overfills a call fails the test.
    """

    def __init__(self, fails, record_limit: int = MAX_RECORD_BYTES, timeout_after_write=lambda call: False):
        self.fails = fails  # (key, data) -> error code or None
        self.record_limit = record_limit
        self.timeout_after_write = timeout_after_write
        self.log: list[tuple[str, bytes]] = []
        self.calls = 0

    def list_shards(self, StreamName=None):  # noqa: N803 - boto3's names
        whole_range = {"StartingHashKey": "0", "EndingHashKey": str(2**128 - 1)}
        return {"Shards": [{"ShardId": "shardId-000000000000", "HashKeyRange": whole_range,
                            "SequenceNumberRange": {"StartingSequenceNumber": "1"}}]}

    def put_records(self, Records, StreamName=None, StreamARN=None):  # noqa: N803 - boto3's names
        self.calls += 1
        assert 1 <= len(Records) <= MAX_RECORDS_PER_REQUEST
        assert sum(len(r["PartitionKey"]) + len(r["Data"]) for r in Records) <= MAX_BYTES_PER_REQUEST
        out = []
        for record in Records:
            assert len(record["PartitionKey"]) + len(record["Data"]) <= self.record_limit
            code = self.fails(record["PartitionKey"], record["Data"])
            if code:
                out.append({"ErrorCode": code, "ErrorMessage": "scripted"})
            else:
                self.log.append((record["PartitionKey"], record["Data"]))
                out.append({"ShardId": "shardId-000000000000", "SequenceNumber": str(len(self.log))})
        if self.timeout_after_write(self.calls):
            raise TimeoutError("read timeout after Kinesis stored the records")
        return {"FailedRecordCount": sum("ErrorCode" in e for e in out), "Records": out}

    def user_records(self) -> list[tuple[str, bytes]]:
        out = []
        for key, data in self.log:
            out += [(u.partition_key, u.data) for u in deaggregate(data)] if is_aggregated(data) else [(key, data)]
        return out

    def reference_user_records(self) -> list[tuple[str, bytes]]:
        """The same log read by aws-kinesis-agg's deaggregator (the KPL format's reference)."""
        records = [{"SequenceNumber": str(i), "PartitionKey": key, "ApproximateArrivalTimestamp": 0, "Data": data}
                   for i, (key, data) in enumerate(self.log)]
        # Boto3-format input: plain records come back with raw data, de-aggregated ones base64-encoded.
        return [(r["kinesis"]["partitionKey"],
                 base64.b64decode(r["kinesis"]["data"]) if r["kinesis"].get("aggregated") else r["kinesis"]["data"])
                for r in iter_deaggregate_records(records, data_format="Boto3")]


def per_key(records) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for key, data in records:
        out.setdefault(key, []).append(data)
    return out


def quotes(tickers: list[str], picks: list[int], pad: int) -> list[DemoRecord]:
    out = []
    for n, pick in enumerate(picks):
        ticker = tickers[pick % len(tickers)]
        quote = {"ticker_symbol": ticker, "sector": "TECHNOLOGY", "change": 0.1, "price": 1 + n, "pad": "x" * pad}
        out.append(DemoRecord(ticker, json.dumps(quote).encode(), True, quote))
    return out


def run(records, shard: ShardLog, *, window: int, record_limit: int, max_attempts: int = 5):
    def put(client, stream, entries):
        return put_records(client, stream, entries, max_attempts=max_attempts, sleep=lambda _: None)

    return produce(shard, "s", records, count=len(records), aggregate=True, window=window,
                   record_limit=record_limit, put=put)


scenario = dict(
    n_tickers=st.integers(1, 12),
    picks=st.lists(st.integers(0, 1000), min_size=1, max_size=300),
    pad=st.integers(0, 400),
    window=st.integers(1, 120),
    record_limit=st.integers(600, 6000),
    seed=st.integers(0, 2**32 - 1),
)


@settings(max_examples=120, deadline=None)
@given(fail_rate=st.floats(0, 0.6), **scenario)
def test_every_quote_arrives_once_in_ticker_order_when_failures_are_retried(
    n_tickers, picks, pad, window, record_limit, seed, fail_rate
):
    # Each Kinesis record fails at most 3 times (retryable), fewer than the 5 attempts: nothing may be lost.
    rng, failures = random.Random(seed), {}

    def fails(key, data):
        if failures.get((key, data), 0) < 3 and rng.random() < fail_rate:
            failures[(key, data)] = failures.get((key, data), 0) + 1
            return RETRYABLE
        return None

    records = quotes([f"T{i}" for i in range(n_tickers)], picks, pad)
    shard = ShardLog(fails, record_limit)
    report = run(records, shard, window=window, record_limit=record_limit)

    produced = per_key((r.partition_key, r.data) for r in records)
    assert per_key(shard.user_records()) == produced  # each ticker: same quotes, same order, none twice
    assert per_key(shard.reference_user_records()) == produced
    assert (report.sent, report.failed) == (len(records), 0)
    assert report.kinesis_records == len(shard.log)
    assert report.last_quotes == {r.partition_key: r.quote for r in records}  # the newest of each ticker


@settings(max_examples=120, deadline=None)
@given(fail_rate=st.floats(0.2, 1.0), **scenario)
def test_what_finally_fails_is_reported_and_the_rest_keeps_ticker_order(
    n_tickers, picks, pad, window, record_limit, seed, fail_rate
):
    rng = random.Random(seed)
    records = quotes([f"T{i}" for i in range(n_tickers)], picks, pad)
    shard = ShardLog(lambda key, data: RETRYABLE if rng.random() < fail_rate else None, record_limit)
    report = run(records, shard, window=window, record_limit=record_limit, max_attempts=2)

    delivered = per_key(shard.user_records())
    produced = per_key((r.partition_key, r.data) for r in records)
    assert sum(map(len, delivered.values())) == report.sent
    assert report.sent + report.failed == len(records)
    for key, sent in delivered.items():
        # in order and without repeats: a subsequence of what was produced for this ticker
        remaining = iter(produced[key])
        assert all(any(d == p for p in remaining) for d in sent)
        assert len(set(sent)) == len(sent)


@settings(max_examples=60, deadline=None)
@given(**scenario)
def test_a_timeout_after_kinesis_stored_a_call_repeats_whole_aggregates_in_order(
    n_tickers, picks, pad, window, record_limit, seed
):
    # At least once: the retried call writes its aggregates again. Dropping repeats gives the produced order.
    rng = random.Random(seed)
    records = quotes([f"T{i}" for i in range(n_tickers)], picks, pad)
    shard = ShardLog(lambda key, data: None, record_limit, timeout_after_write=lambda call: rng.random() < 0.3)
    report = run(records, shard, window=window, record_limit=record_limit, max_attempts=10)

    produced = per_key((r.partition_key, r.data) for r in records)
    for key, sent in per_key(shard.user_records()).items():
        assert list(dict.fromkeys(sent)) == produced[key]
    assert set(per_key(shard.user_records())) == set(produced)
    assert report.failed == 0 or report.sent < len(records)


def test_thirty_two_tickers_fill_a_call_with_far_more_than_thirty_two_quotes():
    shard = ShardLog(lambda key, data: None)
    report = produce(shard, "s", DemoQuotes(seed=5), count=5000, aggregate=True, put=put_records)
    assert report.sent == 5000 and shard.calls == 1
    assert report.kinesis_records <= 32 and len(shard.user_records()) == 5000

    plain = ShardLog(lambda key, data: None)
    produce(plain, "s", DemoQuotes(seed=5), count=5000, put=put_records)
    assert plain.calls > 100  # one record per ticker per call
    assert plain.user_records() == [(k, d) for k, d in plain.log]


def test_a_call_stays_within_the_request_limits_with_big_aggregates():
    # ~3 MB of quotes per ticker: aggregates near 1 MiB, several per call, calls under 5 MiB.
    records = quotes(["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG"], list(range(7)) * 900, 3000)
    shard = ShardLog(lambda key, data: None)
    report = produce(shard, "s", records, count=len(records), aggregate=True, window=len(records), put=put_records)
    assert report.sent == len(records) and shard.calls >= 5
    assert max(len(d) for _, d in shard.log) > MAX_RECORD_BYTES * 0.9
    assert per_key(shard.user_records()) == per_key((r.partition_key, r.data) for r in records)


def test_synthetic_universe_is_deterministic_and_spread_over_the_sectors():
    universe = synthetic_universe(5000, seed=9)
    assert universe == synthetic_universe(5000, seed=9) and universe != synthetic_universe(5000, seed=10)
    assert len(universe) == 5000
    by_sector: dict[str, int] = {}
    for sector, _ in universe.values():
        by_sector[sector] = by_sector.get(sector, 0) + 1
    assert len(by_sector) == 5 and max(by_sector.values()) - min(by_sector.values()) <= 1
    shard = ShardLog(lambda key, data: None)
    produce(shard, "s", DemoQuotes(seed=1, tickers=universe), count=20_000, aggregate=True, put=put_records)
    assert set(per_key(shard.user_records())) <= set(universe)
    assert len(per_key(shard.user_records())) > 4000


def test_on_several_shards_each_quote_lands_on_its_own_tickers_shard_in_order():
    """Aggregated per shard, as the KPL does: a Kinesis record holds many tickers, every one of which
    maps to the shard the record went to, so a consumer sees each ticker on one shard, in order."""
    import boto3
    from moto import mock_aws

    from tickerstream_cli.shards import ShardMap

    with mock_aws():
        client = boto3.client("kinesis", region_name="us-east-1")
        client.create_stream(StreamName="s", ShardCount=4)
        tickers = synthetic_universe(400, seed=3)
        records = list(itertools.islice(DemoQuotes(seed=4, tickers=tickers), 6000))
        report = produce(client, "s", records, count=len(records), aggregate=True, put=put_records)
        shards = ShardMap.of(client.list_shards(StreamName="s")["Shards"])
        seen: dict[str, list[bytes]] = {}
        for shard_id in shards.shard_ids:
            iterator = client.get_shard_iterator(StreamName="s", ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            for record in client.get_records(ShardIterator=iterator, Limit=10_000)["Records"]:
                users = deaggregate(record["Data"]) if is_aggregated(record["Data"]) else []
                assert users, "every record of a 6,000-quote window over 4 shards is an aggregate"
                for user in users:
                    assert shards.shard_of(user.partition_key) == shard_id
                    seen.setdefault(user.partition_key, []).append(user.data)
    assert report.sent == 6000 and report.kinesis_records < 4 * 3  # a few ~1 MB records per shard
    assert seen == per_key((r.partition_key, r.data) for r in records)
