"""Firehose's CompressionFormats, written by the standard library alone (Snappy as literal-only blocks)."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile

EXTENSIONS = {"UNCOMPRESSED": "", "GZIP": ".gz", "ZIP": ".zip", "Snappy": ".snappy", "HADOOP_SNAPPY": ".snappy"}

def _snappy_raw(data: bytes) -> bytes:
    """A valid raw Snappy block made only of literals (correct to decode; not smaller)."""
    out = bytearray()
    length = len(data)
    while True:  # varint preamble: the uncompressed length
        byte = length & 0x7F
        length >>= 7
        out.append(byte | (0x80 if length else 0))
        if not length:
            break
    for start in range(0, len(data), 65536):
        chunk = data[start : start + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + n.to_bytes(2, "little")
        out += chunk
    return bytes(out)


def _crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def _snappy_framed(data: bytes) -> bytes:
    out = bytearray(b"\xff\x06\x00\x00sNaPpY")
    for start in range(0, max(len(data), 1), 65536):
        chunk = data[start : start + 65536]
        crc = _crc32c(chunk)
        masked = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
        body = struct.pack("<I", masked) + _snappy_raw(chunk)
        out += b"\x00" + len(body).to_bytes(3, "little") + body
    return bytes(out)


def _hadoop_snappy(data: bytes) -> bytes:
    block = _snappy_raw(data)
    return struct.pack(">I", len(data)) + struct.pack(">I", len(block)) + block


def compress(data: bytes, fmt: str, entry_name: str = "data") -> bytes:
    if fmt == "UNCOMPRESSED":
        return data
    if fmt == "GZIP":
        return gzip.compress(data)
    if fmt == "ZIP":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(entry_name, data)
        return buffer.getvalue()
    if fmt == "Snappy":
        return _snappy_framed(data)
    if fmt == "HADOOP_SNAPPY":
        return _hadoop_snappy(data)
    raise ValueError(f"unknown CompressionFormat {fmt!r}")
