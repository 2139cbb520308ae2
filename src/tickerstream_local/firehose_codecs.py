"""Firehose's CompressionFormats: GZIP and ZIP from the standard library, Snappy (framed and Hadoop's
block format) compressed for real by cramjam."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile

import cramjam

EXTENSIONS = {"UNCOMPRESSED": "", "GZIP": ".gz", "ZIP": ".zip", "Snappy": ".snappy", "HADOOP_SNAPPY": ".snappy"}

def _hadoop_snappy(data: bytes) -> bytes:
    """Hadoop's block format: the uncompressed length, then one length-prefixed raw Snappy block."""
    block = bytes(cramjam.snappy.compress_raw(data))
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
        return bytes(cramjam.snappy.compress(data))  # the framing format, CRC32C per chunk
    if fmt == "HADOOP_SNAPPY":
        return _hadoop_snappy(data)
    raise ValueError(f"unknown CompressionFormat {fmt!r}")
