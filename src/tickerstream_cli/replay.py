"""`tickerstream produce --file`: the records of a file, as they are, for replaying what a stream saw.

Formats: NDJSON (one JSON value a line), a JSON array (like src/tickerstream_cli/data/seed_quotes.json),
or CSV with a header naming ticker_symbol, sector, change and price. The format follows the file: .csv is
CSV, a file whose first character is ``[`` is a JSON array, anything else NDJSON (``--format`` overrides).

Bad records are sent as they are, not refused: a replay exists to show what the pipeline does with what
it was given, and the pipeline quarantines each bad record with its reason. Each goes out under its
ticker when it has one (so it keeps its place among that ticker's quotes), else under ``line-<n>``.
Only a file that cannot be read as its format at all (or holds no records, or a record Kinesis can never
take) is refused, with one line saying why, before anything is sent.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from tickerstream.codec import InvalidRecord, decode_quote
from tickerstream.kinesis_put import MAX_PARTITION_KEY_LENGTH, MAX_RECORD_BYTES, record_size
from tickerstream_cli.config import ConfigError
from tickerstream_cli.demo_quotes import DemoRecord

FORMATS = ("auto", "ndjson", "json", "csv")
QUOTE_COLUMNS = ("ticker_symbol", "sector", "change", "price")


class ReplayError(ConfigError):
    """The file cannot be replayed; the message names the file and why."""


def detect_format(path: Path, content: bytes) -> str:
    if path.suffix.lower() == ".csv":
        return "csv"
    return "json" if content.lstrip()[:1] == b"[" else "ndjson"


def read_replay(path: Path, file_format: str = "auto") -> list[DemoRecord]:
    """Every record of ``path``, in file order, ready to send."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ReplayError(f"cannot read {path}: {exc.strerror or exc}") from None
    file_format = detect_format(path, content) if file_format == "auto" else file_format
    records = {"ndjson": _ndjson, "json": _json_array, "csv": _csv}[file_format](path, content)
    if not records:
        raise ReplayError(f"{path}: no records in it")
    for number, record in records:
        if record_size(record.partition_key, record.data) > MAX_RECORD_BYTES:
            raise ReplayError(f"{path}: record {number} has {len(record.data):,} bytes; "
                              f"Kinesis takes at most {MAX_RECORD_BYTES:,} a record")
    return [record for _, record in records]


def _record(data: bytes, payload: Any, number: int) -> DemoRecord:
    ticker = None
    if isinstance(payload, dict):
        ticker = payload.get("ticker_symbol", payload.get("TICKER_SYMBOL"))
    key = ticker if isinstance(ticker, str) and 1 <= len(ticker) <= MAX_PARTITION_KEY_LENGTH else f"line-{number}"
    try:
        quote = decode_quote(data).as_dict()
    except InvalidRecord:
        return DemoRecord(key, data, False, None)
    return DemoRecord(key, data, True, quote)


def _ndjson(path: Path, content: bytes) -> list[tuple[int, DemoRecord]]:
    records, parsed = [], 0
    for number, line in enumerate(content.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            payload = json.loads(line.decode("utf-8"))
            parsed += 1
        except ValueError:  # not JSON, or not UTF-8: sent as is, quarantined downstream
            payload = None
        records.append((number, _record(line, payload, number)))
    if records and not parsed:
        raise ReplayError(f"{path}: not NDJSON: no line of it is JSON (give --format csv or json if it is one)")
    return records


def _json_array(path: Path, content: bytes) -> list[tuple[int, DemoRecord]]:
    try:
        payload = json.loads(content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ReplayError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ReplayError(f"{path}: not a JSON array: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(payload, list):
        raise ReplayError(f"{path}: expected a JSON array of quotes, found a JSON {type(payload).__name__}")
    return [(n, _record(json.dumps(item, separators=(",", ":")).encode(), item, n))
            for n, item in enumerate(payload, start=1)]


def _number(text: str) -> Any:
    """A CSV cell as the JSON number it spells, else the text itself (the pipeline judges it)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _csv(path: Path, content: bytes) -> list[tuple[int, DemoRecord]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReplayError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [column for column in QUOTE_COLUMNS if column not in header]
        if missing:
            raise ReplayError(f"{path}: the CSV header must name {','.join(QUOTE_COLUMNS)}; "
                              f"missing {','.join(missing)}")
        reader.fieldnames = header
        records = []
        for row in reader:
            quote = {c: _number(row[c].strip()) if c in ("change", "price") else row[c].strip()
                     for c in QUOTE_COLUMNS if row.get(c) is not None}
            records.append((reader.line_num, _record(json.dumps(quote).encode(), quote, reader.line_num)))
    except csv.Error as exc:
        raise ReplayError(f"{path}: not CSV: {exc}") from None
    return records
