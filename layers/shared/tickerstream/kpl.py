"""The Kinesis Producer Library's (KPL) aggregated record format: de-aggregation for the consumers,
aggregation for producers (``aggregate``, ``pack``; `tickerstream produce` uses them).

An aggregated record is ``magic (4 bytes) + protobuf AggregatedRecord + MD5 of the protobuf (16 bytes)``.
The schema is three repeated fields deep, so a small wire-format reader does it: the aws-kinesis-agg
package would add protobuf (a compiled extension of several MB) and six to every cold start, and it
rewrites sys.path on import. Its aggregator and de-aggregator are used in the tests to cross-check both
directions (our aggregates are byte-for-byte what its aggregator builds).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
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


# -- aggregation (the producer's side) ---------------------------------------------------------------
# What a producer that keeps per-key order needs: user records of one or several partition keys (the KPL
# aggregates all the records bound for one shard), a key table in first-seen order, no explicit hash
# keys, no tags.

_OVERHEAD = len(KPL_MAGIC) + _DIGEST_SIZE


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint_bytes(number << 3 | 2) + _varint_bytes(len(payload)) + payload


def _record_entry(key_index: int, data: bytes) -> bytes:
    # Record { partition_key_index (field 1, varint); data (field 3, bytes) } as AggregatedRecord field 3
    return _length_delimited(3, b"\x08" + _varint_bytes(key_index) + _length_delimited(3, data))


def aggregate_keyed(records: Sequence[tuple[str, bytes]]) -> bytes:
    """One KPL aggregated record holding ``(partition key, data)`` user records in order."""
    table: dict[str, int] = {}
    entries = []
    for key, data in records:
        index = table.setdefault(key, len(table))
        entries.append(_record_entry(index, data))
    message = b"".join(_length_delimited(1, key.encode()) for key in table) + b"".join(entries)
    return KPL_MAGIC + message + hashlib.md5(message, usedforsecurity=False).digest()


def aggregate(partition_key: str, payloads: list[bytes]) -> bytes:
    """One KPL aggregated record holding ``payloads`` in order, all under ``partition_key``."""
    return aggregate_keyed([(partition_key, data) for data in payloads])


def aggregated_size(partition_key: str, payloads: list[bytes]) -> int:
    """len(aggregate(partition_key, payloads)) without building it."""
    return _OVERHEAD + key_size(partition_key) + sum(entry_size(len(d)) for d in payloads)


def key_size(partition_key: str) -> int:
    """Bytes one partition key adds to an aggregate's key table."""
    return len(_length_delimited(1, partition_key.encode()))


def entry_size(data_length: int, key_index: int = 0) -> int:
    """Bytes one user record of ``data_length`` bytes adds to an aggregate."""
    inner = 1 + len(_varint_bytes(key_index)) + 1 + len(_varint_bytes(data_length)) + data_length
    return 1 + len(_varint_bytes(inner)) + inner


def pack(partition_key: str, payloads: list[bytes], max_record_bytes: int) -> list[tuple[bytes, int]]:
    """Split one key's payloads, in order, into Kinesis records of at most ``max_record_bytes``
    (partition key included): ``[(record data, how many user records it holds), ...]``."""
    return pack_keyed(partition_key, [(partition_key, data) for data in payloads], max_record_bytes)


def pack_keyed(
    record_key: str, records: Sequence[tuple[str, bytes]], max_record_bytes: int
) -> list[tuple[bytes, int]]:
    """Split ``(partition key, data)`` user records, in order, into Kinesis records of at most
    ``max_record_bytes`` sent under ``record_key``: ``[(record data, how many user records it holds), ...]``.

    A run of one user record of ``record_key`` itself goes out as the plain record (no aggregation
    overhead) unless its data starts with the KPL magic and would be taken for an aggregate; a payload
    too large to aggregate goes out plain too (Kinesis itself refuses one over the limit).
    """
    limit = max_record_bytes - len(record_key.encode())
    out: list[tuple[bytes, int]] = []
    run: list[tuple[str, bytes]] = []
    table: dict[str, int] = {}
    size = _OVERHEAD

    def flush() -> None:
        if len(run) == 1 and run[0][0] == record_key and not is_aggregated(run[0][1]):
            out.append((run[0][1], 1))
        elif run:
            out.append((aggregate_keyed(run), len(run)))

    for key, data in records:
        index = table.get(key, len(table))
        added = entry_size(len(data), index) + (key_size(key) if key not in table else 0)
        if _OVERHEAD + key_size(key) + entry_size(len(data)) > limit:  # never fits an aggregate: alone and plain
            flush()
            run, table, size = [], {}, _OVERHEAD
            out.append((data, 1))
            continue
        if run and size + added > limit:
            flush()
            run, table, size = [], {}, _OVERHEAD
            index = 0
            added = entry_size(len(data)) + key_size(key)
        table.setdefault(key, index)
        run.append((key, data))
        size += added
    flush()
    return out
