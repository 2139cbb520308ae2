"""KPL deaggregation, checked against records built by the aws-kinesis-agg aggregator (KPL's format)."""

import hashlib

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator

from tickerstream.codec import InvalidRecord
from tickerstream.kpl import KPL_MAGIC, deaggregate, is_aggregated


def aggregate(records: list[tuple[str, bytes, str | None]]) -> bytes:
    aggregator = RecordAggregator()
    for partition_key, data, hash_key in records:
        aggregator.add_user_record(partition_key, data, hash_key)
    _, _, data = aggregator.clear_and_get().get_contents()
    return data


def test_user_records_come_back_in_order_with_their_keys():
    users = [("AAPL", b'{"a":1}', None), ("QXZ", b'{"b":2}', "12345678901234567890"), ("AAPL", b"", None)]
    data = aggregate(users)
    assert is_aggregated(data)
    records = deaggregate(data)
    assert [(r.partition_key, r.data, r.explicit_hash_key) for r in records] == users
    assert [r.sub_sequence_number for r in records] == [0, 1, 2]


def test_large_aggregate_round_trips():
    users = [(f"T{i % 37}", f'{{"n":{i}}}'.encode() * 3, None) for i in range(300)]
    records = deaggregate(aggregate(users))
    assert [(r.partition_key, r.data) for r in records] == [(pk, d) for pk, d, _ in users]


def test_checksum_mismatch_is_rejected():
    data = bytearray(aggregate([("AAPL", b"{}", None)]))
    data[-1] ^= 0xFF
    with pytest.raises(InvalidRecord, match="MD5"):
        deaggregate(bytes(data))


def test_truncated_message_with_valid_checksum_is_rejected():
    message = b"\x0a\x10AAPL"  # field 1, length 16, but only 4 bytes follow
    data = KPL_MAGIC + message + hashlib.md5(message).digest()
    with pytest.raises(InvalidRecord) as caught:
        deaggregate(data)
    assert caught.value.reason == "invalid_aggregate"


def test_bad_partition_key_index_is_rejected():
    record = b"\x08\x05\x1a\x02{}"  # partition_key_index=5 with an empty key table
    message = b"\x1a" + bytes([len(record)]) + record
    data = KPL_MAGIC + message + hashlib.md5(message).digest()
    with pytest.raises(InvalidRecord, match="partition key"):
        deaggregate(data)


# -- the aggregating encoder (tickerstream.kpl.aggregate / pack), cross-checked with aws-kinesis-agg ---

import base64  # noqa: E402

from aws_kinesis_agg.deaggregator import deaggregate_records  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tickerstream.kpl import aggregate as encode, aggregated_size, pack  # noqa: E402

keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=256)
payloads = st.lists(st.binary(max_size=300), min_size=1, max_size=60)


def reference_deaggregate(data: bytes, key: str) -> list[tuple[str, bytes]]:
    record = {"SequenceNumber": "1", "PartitionKey": key, "ApproximateArrivalTimestamp": 0, "Data": data}
    return [(r["kinesis"]["partitionKey"], base64.b64decode(r["kinesis"]["data"]))
            for r in deaggregate_records([{"kinesis": {"kinesisSchemaVersion": "1.0", "sequenceNumber": "1",
                                                       "approximateArrivalTimestamp": 0, "partitionKey": key,
                                                       "data": base64.b64encode(record["Data"])}}])]


@settings(max_examples=150, deadline=None)
@given(key=keys, datas=payloads)
def test_aggregates_are_read_back_by_both_deaggregators(key, datas):
    data = encode(key, datas)
    assert is_aggregated(data) and len(data) == aggregated_size(key, datas)
    assert [(r.partition_key, r.data) for r in deaggregate(data)] == [(key, d) for d in datas]
    assert reference_deaggregate(data, key) == [(key, d) for d in datas]


@settings(max_examples=100, deadline=None)
@given(key=keys, datas=payloads)
def test_aggregates_are_byte_for_byte_what_the_reference_aggregator_builds(key, datas):
    assert encode(key, datas) == aggregate([(key, d, None) for d in datas])


@settings(max_examples=150, deadline=None)
@given(key=keys, sizes=st.lists(st.integers(0, 900), min_size=1, max_size=80), limit=st.integers(1200, 5000))
def test_pack_keeps_order_and_every_record_within_the_limit(key, sizes, limit):
    datas = [bytes([65 + i % 26]) * size for i, size in enumerate(sizes)]
    packed = pack(key, datas, limit)
    out: list[bytes] = []
    for data, count in packed:
        assert len(key.encode()) + len(data) <= limit
        users = [r.data for r in deaggregate(data)] if is_aggregated(data) else [data]
        assert len(users) == count
        out += users
    assert out == datas
    assert all(count > 1 or not is_aggregated(data) for data, count in packed)  # a lone record goes plain


def test_a_lone_record_that_looks_like_an_aggregate_is_wrapped_so_it_reads_back_as_sent():
    tricky = KPL_MAGIC + b"not really an aggregate, just unlucky bytes"
    [(data, count)] = pack("AAPL", [tricky], 1024 * 1024)
    assert count == 1 and [r.data for r in deaggregate(data)] == [tricky]


def test_a_record_too_big_to_aggregate_goes_out_plain():
    big = b"x" * 1000
    packed = pack("K", [b"a", big, b"b"], 1010)
    assert packed == [(b"a", 1), (big, 1), (b"b", 1)]


# -- several partition keys in one aggregate (what the producer sends: everything bound for one shard) --

from tickerstream.kpl import aggregate_keyed, pack_keyed  # noqa: E402

keyed_records = st.lists(st.tuples(st.sampled_from(["AAPL", "QXZ", "ÉTÉ", "k" * 200]), st.binary(max_size=300)),
                         min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(records=keyed_records)
def test_aggregates_of_several_keys_keep_each_records_key_and_order(records):
    data = aggregate_keyed(records)
    assert [(r.partition_key, r.data) for r in deaggregate(data)] == records
    assert reference_deaggregate(data, records[0][0]) == records
    assert data == aggregate([(key, d, None) for key, d in records])  # byte for byte the reference's


@settings(max_examples=150, deadline=None)
@given(records=keyed_records, limit=st.integers(1200, 5000))
def test_pack_keyed_keeps_order_and_keys_within_the_limit(records, limit):
    record_key = records[0][0]
    out: list[tuple[str, bytes]] = []
    for data, count in pack_keyed(record_key, records, limit):
        assert len(record_key.encode()) + len(data) <= limit
        users = [(r.partition_key, r.data) for r in deaggregate(data)] if is_aggregated(data) else [(record_key, data)]
        assert len(users) == count
        out += users
    assert out == records
