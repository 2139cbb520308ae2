"""tickerstream.kinesis_put: batching within PutRecords limits, retrying only failed entries, backoff."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from tickerstream.kinesis_put import (
    MAX_BYTES_PER_REQUEST,
    MAX_RECORDS_PER_REQUEST,
    failed,
    put_records,
)


class FakeKinesis:
    """Answers PutRecords from a script: fail(call_number, partition_key) -> error code or None."""

    def __init__(self, fail=lambda call, key: None, raise_on=None):
        self.calls: list[list[dict]] = []
        self.fail = fail
        self.raise_on = raise_on or {}
        self.sequence = 0

    def put_records(self, Records, StreamName=None, StreamARN=None):  # noqa: N803 - boto3's names
        self.calls.append(Records)
        call = len(self.calls)
        if call in self.raise_on:
            raise self.raise_on[call]
        out = []
        for record in Records:
            code = self.fail(call, record["PartitionKey"])
            if code:
                out.append({"ErrorCode": code, "ErrorMessage": f"{code} for {record['PartitionKey']}"})
            else:
                self.sequence += 1
                out.append({"ShardId": "shardId-000000000000", "SequenceNumber": str(self.sequence)})
        return {"FailedRecordCount": sum("ErrorCode" in e for e in out), "Records": out}


def no_sleep(_: float) -> None:
    pass


def records(n: int, size: int = 10) -> list[tuple[str, bytes]]:
    return [(f"T{i}", b"x" * size) for i in range(n)]


def test_batches_stay_within_500_records_and_5_mib():
    client = FakeKinesis()
    results = put_records(client, "s", records(1201), sleep=no_sleep)
    assert [len(call) for call in client.calls] == [500, 500, 201]
    assert all(r.ok for r in results) and [r.index for r in results] == list(range(1201))

    client = FakeKinesis()
    big = [(f"K{i}", b"x" * (1024 * 1024 - 10)) for i in range(12)]  # ~1 MiB each
    put_records(client, "s", big, sleep=no_sleep)
    sizes = [sum(len(r["Data"]) + len(r["PartitionKey"]) for r in call) for call in client.calls]
    assert all(size <= MAX_BYTES_PER_REQUEST for size in sizes)
    assert sum(len(call) for call in client.calls) == 12 and len(client.calls) == 3


def test_only_failed_entries_are_retried_with_full_jitter_backoff():
    # T1 and T3 are throttled on the first call only.
    client = FakeKinesis(lambda call, key: "ProvisionedThroughputExceededException" if call == 1 and key in {"T1", "T3"} else None)
    delays: list[float] = []
    results = put_records(client, "s", records(5), sleep=delays.append, random=lambda: 0.5, base_delay=0.2)
    assert [r["PartitionKey"] for r in client.calls[1]] == ["T1", "T3"]
    assert delays == [0.1]  # random() * base_delay for the first retry
    assert all(r.ok for r in results)
    assert [r.attempts for r in results] == [1, 2, 1, 2, 1]


def test_attempts_are_bounded_and_delays_grow_exponentially_up_to_the_cap():
    client = FakeKinesis(lambda call, key: "ProvisionedThroughputExceededException")
    delays: list[float] = []
    results = put_records(client, "s", records(2), max_attempts=5, base_delay=0.1, max_delay=0.5,
                          sleep=delays.append, random=lambda: 1.0)
    assert len(client.calls) == 5
    assert delays == [0.1, 0.2, 0.4, 0.5]
    assert [r.error_code for r in failed(results)] == ["ProvisionedThroughputExceededException"] * 2
    assert all(r.retryable and r.attempts == 5 for r in results)


def test_non_retryable_entry_errors_are_not_retried():
    client = FakeKinesis(lambda call, key: "KMSAccessDeniedException" if key == "T0" else None)
    results = put_records(client, "s", records(2), sleep=no_sleep)
    assert len(client.calls) == 1
    assert results[0].error_code == "KMSAccessDeniedException" and not results[0].retryable
    assert results[1].ok


def test_request_errors_are_reported_per_record_and_retried_only_when_transient():
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutRecords")
    client = FakeKinesis(raise_on={1: denied})
    results = put_records(client, "s", records(3), sleep=no_sleep)
    assert len(client.calls) == 1
    assert {r.error_code for r in results} == {"AccessDeniedException"}

    client = FakeKinesis(raise_on={1: EndpointConnectionError(endpoint_url="https://kinesis")})
    results = put_records(client, "s", records(3), sleep=no_sleep)
    assert len(client.calls) == 2 and all(r.ok for r in results)


def test_missing_credentials_are_not_mistaken_for_an_unavailable_service():
    # botocore raises these before any request is sent: no retry can help, and the code must say so.
    from botocore.exceptions import NoCredentialsError, NoRegionError, ReadTimeoutError

    for error, code in ((NoCredentialsError(), "NoCredentialsError"), (NoRegionError(), "NoRegionError")):
        client = FakeKinesis(raise_on={1: error})
        results = put_records(client, "s", records(2), sleep=no_sleep)
        assert len(client.calls) == 1
        assert {r.error_code for r in results} == {code} and not results[0].retryable

    client = FakeKinesis(raise_on={1: ReadTimeoutError(endpoint_url="https://kinesis")})
    results = put_records(client, "s", records(2), sleep=no_sleep)
    assert len(client.calls) == 2 and all(r.ok for r in results)


def test_a_retry_never_overtakes_a_later_record_of_the_same_key():
    # AAPL's first quote is throttled once; its second quote must not be written before the retry.
    client = FakeKinesis(lambda call, key: "ProvisionedThroughputExceededException" if call == 1 and key == "AAPL" else None)
    batch = [("AAPL", b"1"), ("MSFT", b"2"), ("AAPL", b"3")]
    results = put_records(client, "s", batch, sleep=no_sleep)
    sent = [[(r["PartitionKey"], r["Data"]) for r in call] for call in client.calls]
    assert sent == [[("AAPL", b"1"), ("MSFT", b"2")], [("AAPL", b"1")], [("AAPL", b"3")]]
    assert int(results[0].sequence_number) < int(results[2].sequence_number)

    client = FakeKinesis()
    put_records(client, "s", batch, sleep=no_sleep, preserve_key_order=False)
    assert len(client.calls) == 1


def test_records_kinesis_can_never_accept_are_refused_up_front():
    with pytest.raises(ValueError, match="partition key"):
        put_records(FakeKinesis(), "s", [("", b"x")])
    with pytest.raises(ValueError, match="at most"):
        put_records(FakeKinesis(), "s", [("K", b"x" * (1024 * 1024))])
    assert MAX_RECORDS_PER_REQUEST == 500


def test_against_moto_every_record_lands_with_its_sequence_number(aws):
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="q", ShardCount=1)
    results = put_records(kinesis, "q", [("AAPL", b'{"a":1}'), ("MSFT", b'{"b":2}')], sleep=no_sleep)
    assert all(r.ok and r.shard_id == "shardId-000000000000" for r in results)
    iterator = kinesis.get_shard_iterator(StreamName="q", ShardId="shardId-000000000000",
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert [(r["PartitionKey"], r["Data"], r["SequenceNumber"]) for r in got] == [
        ("AAPL", b'{"a":1}', results[0].sequence_number), ("MSFT", b'{"b":2}', results[1].sequence_number)]
