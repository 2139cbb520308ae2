"""Deaggregation of records written by the Kinesis Producer Library (KPL).

An aggregated record is ``magic (4 bytes) + protobuf AggregatedRecord + MD5 of the protobuf (16 bytes)``.
The schema is three repeated fields deep, so a small wire-format reader does it: the aws-kinesis-agg
package would add protobuf (a compiled extension of several MB) and six to every cold start, and it
rewrites sys.path on import. Its aggregator is used in the tests to produce real KPL records.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tickerstream.codec import InvalidRecord

KPL_MAGIC = b"\xf3\x89\x9a\xc2"
_DIGEST_SIZE = 16


@dataclass(frozen=True, slots=True)
class UserRecord:
    partition_key: str
    explicit_hash_key: str | None
    data: bytes
    sub_sequence_number: int


def is_aggregated(data: bytes) -> bool:
    return data[:4] == KPL_MAGIC


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise InvalidRecord("invalid_aggregate", "truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes):
    """Yield (field number, wire type, value) for each field of a protobuf message."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(buf, pos)
        elif wire_type == 2:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise InvalidRecord("invalid_aggregate", "field runs past the end of the message")
            value, pos = buf[pos : pos + length], pos + length
        elif wire_type == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire_type == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise InvalidRecord("invalid_aggregate", f"unsupported wire type {wire_type}")
        if pos > end:
            raise InvalidRecord("invalid_aggregate", "truncated field")
        yield number, wire_type, value


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRecord("invalid_aggregate", "key table entry is not UTF-8") from None


def deaggregate(data: bytes) -> list[UserRecord]:
    """Split one KPL-aggregated record into its user records, in order."""
    if len(data) < len(KPL_MAGIC) + _DIGEST_SIZE:
        raise InvalidRecord("invalid_aggregate", "too short for an aggregated record")
    message, digest = data[4:-_DIGEST_SIZE], data[-_DIGEST_SIZE:]
    if hashlib.md5(message, usedforsecurity=False).digest() != digest:
        raise InvalidRecord("invalid_aggregate", "MD5 checksum does not match")

    partition_keys: list[str] = []
    hash_keys: list[str] = []
    raw_records: list[bytes] = []
    for number, wire_type, value in _fields(message):
        if wire_type != 2:
            continue
        if number == 1:
            partition_keys.append(_text(value))
        elif number == 2:
            hash_keys.append(_text(value))
        elif number == 3:
            raw_records.append(value)

    records = []
    for sub_sequence, raw in enumerate(raw_records):
        pk_index = ehk_index = None
        payload = b""
        for number, wire_type, value in _fields(raw):
            if number == 1 and wire_type == 0:
                pk_index = value
            elif number == 2 and wire_type == 0:
                ehk_index = value
            elif number == 3 and wire_type == 2:
                payload = value
        if pk_index is None or pk_index >= len(partition_keys):
            raise InvalidRecord("invalid_aggregate", f"user record {sub_sequence} has no valid partition key")
        if ehk_index is not None and ehk_index >= len(hash_keys):
            raise InvalidRecord("invalid_aggregate", f"user record {sub_sequence} has a bad hash key index")
        records.append(
            UserRecord(
                partition_key=partition_keys[pk_index],
                explicit_hash_key=hash_keys[ehk_index] if ehk_index is not None else None,
                data=bytes(payload),
                sub_sequence_number=sub_sequence,
            )
        )
    return records
