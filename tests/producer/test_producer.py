"""The producer: PutRecords within the service limits, resending only entries that failed."""

import json

import pytest

from tickerstream.kinesis_put import MAX_BYTES_PER_REQUEST, MAX_RECORDS_PER_REQUEST
from tickerstream_cli.demo_quotes import DemoQuotes, DemoRecord, universe
from tickerstream_cli.producer import produce


class FlakyKinesis:
    """Wraps a real (moto) client: records every PutRecords call; fails chosen entries once."""

    def __init__(self, client, fail_first_attempt_of: set[bytes] = frozenset()):
        self._client = client
        self._fail = set(fail_first_attempt_of)
        self.calls: list[list[dict]] = []

    def put_records(self, Records, **target):
        self.calls.append(Records)
        failing = [i for i, r in enumerate(Records) if r["Data"] in self._fail]
        passing = [r for i, r in enumerate(Records) if i not in failing]
        real = self._client.put_records(Records=passing, **target)["Records"] if passing else []
        results, real_iter = [], iter(real)
        for i, record in enumerate(Records):
            if i in failing:
                self._fail.discard(record["Data"])
                results.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"})
            else:
                results.append(next(real_iter))
        return {"FailedRecordCount": len(failing), "Records": results}


def stream_contents(deployment) -> list[bytes]:
    kinesis = deployment.client("kinesis")
    stream = deployment.physical["QuoteStream"]
    data = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while True:
            response = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            data += [r["Data"] for r in response["Records"]]
            if not response["Records"]:
                break
            iterator = response["NextShardIterator"]
    return data


def distinct_key_records(n: int, size: int = 60) -> list[DemoRecord]:
    return [DemoRecord(f"key-{i}", json.dumps({"i": i, "pad": "x" * size}).encode(), True, {"ticker_symbol": f"T{i}", "price": 1}) for i in range(n)]


def test_only_failed_entries_are_resent(deployment):
    records = distinct_key_records(20)
    failing = {records[3].data, records[11].data}
    client = FlakyKinesis(deployment.client("kinesis"), failing)

    report = produce(client, deployment.physical["QuoteStream"], records, count=20, sleep=lambda s: None)

    assert len(client.calls) == 2
    assert {r["Data"] for r in client.calls[1]} == failing
    assert (report.sent, report.failed, report.retried) == (20, 0, 2)
    assert sorted(stream_contents(deployment)) == sorted(r.data for r in records)


def test_calls_stay_within_500_records_and_5_mib(deployment):
    client = FlakyKinesis(deployment.client("kinesis"))
    big = distinct_key_records(1200, size=12_000)  # ~14 MB in all: the byte limit bites before the count
    report = produce(client, deployment.physical["QuoteStream"], big, count=1200)
    assert report.sent == 1200
    assert all(len(call) <= MAX_RECORDS_PER_REQUEST for call in client.calls)
    assert all(sum(len(r["Data"]) + len(r["PartitionKey"]) for r in call) <= MAX_BYTES_PER_REQUEST for call in client.calls)
    assert len(client.calls) >= 3


def test_demo_records_go_out_with_ticker_partition_keys(deployment):
    client = FlakyKinesis(deployment.client("kinesis"))
    report = produce(client, deployment.physical["QuoteStream"], DemoQuotes(seed=7), count=300)
    assert report.sent == 300
    for call in client.calls:
        for entry in call:
            assert json.loads(entry["Data"])["ticker_symbol"] == entry["PartitionKey"]
            assert entry["PartitionKey"] in universe()


def test_rate_limit_spaces_the_calls():
    clock = {"now": 0.0}
    sent_at = []

    def put(client, stream, records):
        sent_at.append(clock["now"])
        from tickerstream.kinesis_put import PutResult

        return [PutResult(i, key, "shardId-0", str(i), attempts=1) for i, (key, _) in enumerate(records)]

    def sleep(seconds):
        clock["now"] += seconds

    report = produce(None, "s", DemoQuotes(seed=1), count=300, rate=100, clock=lambda: clock["now"], sleep=sleep, put=put)
    assert report.sent == 300
    assert sent_at[-1] == pytest.approx(2.9)  # 10-record calls, one every 0.1 s
    assert len(sent_at) == 30


def test_invalid_fraction_is_honoured_and_tracked():
    from tickerstream.kinesis_put import PutResult

    def put(client, stream, records):
        return [PutResult(i, key, "shardId-0", str(i), attempts=1) for i, (key, _) in enumerate(records)]

    report = produce(None, "s", DemoQuotes(seed=3, invalid_fraction=0.1), count=5000, put=put)
    assert 350 < report.invalid_sent < 650
    assert set(report.last_quotes) <= set(universe())


def test_failed_records_are_counted_not_lost():
    from tickerstream.kinesis_put import PutResult

    def put(client, stream, records):
        return [PutResult(i, key, error_code="AccessDeniedException", attempts=1) for i, (key, _) in enumerate(records)]

    report = produce(None, "s", DemoQuotes(seed=3), count=10, put=put)
    assert (report.sent, report.failed, report.failures) == (0, 10, {"AccessDeniedException": 10})
    assert report.last_quotes == {}


def test_needs_a_count_or_duration():
    with pytest.raises(ValueError):
        produce(None, "s", DemoQuotes(), put=lambda *a: [])


def test_a_call_that_fails_whole_with_an_error_no_retry_fixes_stops_the_run():
    from tickerstream.kinesis_put import PutResult

    calls = []

    def put(client, stream, records):
        calls.append(len(records))
        return [PutResult(i, key, error_code="ResourceNotFoundException", error_message="Stream s not found",
                          attempts=1) for i, (key, _) in enumerate(records)]

    report = produce(None, "s", DemoQuotes(seed=3), duration=3600, put=put)  # would run an hour
    assert len(calls) == 1 and report.stopped_by == "ResourceNotFoundException: Stream s not found"
    assert report.failed == calls[0]


def test_missing_credentials_surface_as_a_usage_error_at_the_first_call():
    from tickerstream.kinesis_put import put_records
    from tickerstream_cli.config import CredentialsError

    class Unsigned:
        calls = 0

        def list_shards(self, **_):
            from botocore.exceptions import NoCredentialsError

            raise NoCredentialsError()

        def put_records(self, **_):
            from botocore.exceptions import NoCredentialsError

            self.calls += 1
            raise NoCredentialsError()

    client = Unsigned()
    with pytest.raises(CredentialsError, match="AWS credentials were not found"):
        produce(client, "s", DemoQuotes(seed=3), count=5000, aggregate=True,
                put=lambda c, s, e: put_records(c, s, e, sleep=lambda _: None))
    assert client.calls == 1
