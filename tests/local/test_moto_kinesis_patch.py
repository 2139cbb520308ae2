"""The local stack's moto Kinesis patch: GetRecords gives moto's answers, at a cost that follows the
records it returns rather than the records before them."""

from __future__ import annotations

from collections import OrderedDict

from hypothesis import given, settings
from hypothesis import strategies as st

from tickerstream_local.moto_patches import SHIPPED, get_records, install

install()


class _Shard:
    """moto's Shard as get_records sees it: an ordered dict of sequence number -> record."""

    def __init__(self, records: "OrderedDict[int, object]") -> None:
        self.records = records


class _Record:
    def __init__(self, number: int, created_at: float) -> None:
        self.sequence_number, self.created_at = number, created_at


class _CountingRecords(OrderedDict):
    """Counts every record looked at, by key or by walking the shard."""

    touched = 0

    def __getitem__(self, key):
        type(self).touched += 1
        return super().__getitem__(key)

    def __iter__(self):
        for key in super().__iter__():
            type(self).touched += 1
            yield key

    def items(self):
        for key in super().__iter__():
            type(self).touched += 1
            yield key, super().__getitem__(key)


def _shard(gaps: list[int], records_type=OrderedDict) -> _Shard:
    records, number = records_type(), 0
    for index, gap in enumerate(gaps):
        number += gap
        records[number] = _Record(number, 1_000.0 + index * 0.25)
    return _Shard(records)


def _answer(result) -> tuple:
    records, last, behind = result
    return [r.sequence_number for r in records], int(last), behind


@settings(max_examples=300, deadline=None)
@given(
    gaps=st.lists(st.integers(1, 3), max_size=60),
    start=st.integers(0, 200),
    limit=st.one_of(st.none(), st.integers(1, 70)),
    appended=st.lists(st.integers(1, 3), max_size=5),
)
def test_the_same_answers_as_moto(gaps, start, limit, appended):
    shard = _shard(gaps)
    assert _answer(get_records(shard, str(start), limit)) == _answer(SHIPPED["Shard.get_records"](shard, str(start), limit))
    # records put after a read are seen by the next read (the cached sequence numbers follow the shard)
    number = next(reversed(shard.records)) if shard.records else 0
    for gap in appended:
        number += gap
        shard.records[number] = _Record(number, 2_000.0 + number)
    assert _answer(get_records(shard, str(start), limit)) == _answer(SHIPPED["Shard.get_records"](shard, str(start), limit))


def test_a_read_near_the_end_of_a_long_shard_touches_only_what_it_returns():
    shard = _shard([1] * 10_000, _CountingRecords)
    get_records(shard, "0", 10)  # the first read learns the shard's sequence numbers
    _CountingRecords.touched = 0
    records, last, _ = get_records(shard, "9990", 100)
    assert [r.sequence_number for r in records] == list(range(9991, 10_001)) and last == 10_000
    assert _CountingRecords.touched <= 11, _CountingRecords.touched
    # what moto ships walks the shard from its first record on every read
    _CountingRecords.touched = 0
    SHIPPED["Shard.get_records"](shard, "9990", 100)
    assert _CountingRecords.touched >= 10_000


def test_reads_follow_puts_through_the_api(aws):
    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="patched", ShardCount=1)
    shard_id = kinesis.list_shards(StreamName="patched")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="patched", ShardId=shard_id,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    seen: list[bytes] = []
    for round_ in range(4):
        kinesis.put_records(StreamName="patched", Records=[
            {"Data": f"{round_}-{i}".encode(), "PartitionKey": "k"} for i in range(25)])
        while True:
            response = kinesis.get_records(ShardIterator=iterator, Limit=10)
            iterator = response["NextShardIterator"]
            seen += [r["Data"] for r in response["Records"]]
            if not response["Records"]:
                break
    assert seen == [f"{r}-{i}".encode() for r in range(4) for i in range(25)]


def test_get_records_answers_what_moto_serializer_answers(aws):
    """The directly written GetRecords answer parses, through botocore, to what moto's own gives."""
    from moto.kinesis.responses import KinesisResponse

    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName="answers", ShardCount=1)
    kinesis.put_records(StreamName="answers", Records=[
        {"Data": bytes(range(i, i + 40)), "PartitionKey": f"K{i}"} for i in range(0, 200, 20)])
    kinesis.put_record(StreamName="answers", Data=b"", PartitionKey="empty")
    shard_id = kinesis.list_shards(StreamName="answers")["Shards"][0]["ShardId"]

    def read(limit: int) -> list[dict]:
        iterator = kinesis.get_shard_iterator(StreamName="answers", ShardId=shard_id,
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        pages = []
        while True:
            page = kinesis.get_records(ShardIterator=iterator, Limit=limit)
            page.pop("ResponseMetadata")
            pages.append(page)
            iterator = page["NextShardIterator"]
            if not page["Records"]:
                return pages

    patched = read(4)
    KinesisResponse.get_records, own = SHIPPED["KinesisResponse.get_records"], KinesisResponse.get_records
    try:
        shipped = read(4)
    finally:
        KinesisResponse.get_records = own
    for mine, theirs in zip(patched, shipped):
        for a, b in zip(mine["Records"], theirs["Records"]):
            assert a == b, (a, b)
        assert mine == theirs
    assert len(patched) == len(shipped)
    assert [r["Data"] for page in patched for r in page["Records"]][-1] == b""
    assert len([r for page in patched for r in page["Records"]]) == 11
