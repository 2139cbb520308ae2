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
