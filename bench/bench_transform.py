"""FirehoseTransform µs/record on a maximum-size batch, side by side with the floor.

The batch is Firehose's Kinesis-stream-as-source event holding as many demo quotes as fit in Lambda's
6 MB request. The floor is the least any transform must do per record: base64-decode, json.loads,
json.dumps, base64-encode, and build the answer record. Both run in the same process, alternating,
several rounds; the best round of each is reported (the least disturbed by a noisy machine).
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 7
LIMIT = 6 * 1024 * 1024
TARGET_RATIO = 3.0


def _transform():
    code_dir = str(REPO_ROOT / "functions" / "firehose_transform")
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    return importlib.import_module("firehose_transform.transform")


def max_batch() -> list[dict]:
    quotes = json.loads((REPO_ROOT / "src/tickerstream_cli/data/seed_quotes.json").read_text())
    records, size, i = [], len('{"records": []}') + 300, 0
    while True:
        quote = quotes[i % len(quotes)]
        arrival = 1626090133453 + i * 37
        record = {
            "recordId": f"49546986683135544286507457936321625675700192471156{i:06d}",
            "approximateArrivalTimestamp": arrival,
            "data": base64.b64encode(json.dumps(quote).encode()).decode(),
            "kinesisRecordMetadata": {
                "sequenceNumber": f"49545115243490985018280067714973144582180062593244{i:06d}",
                "subsequenceNumber": 0,
                "partitionKey": quote["ticker_symbol"],
                "shardId": "shardId-000000000000",
                "approximateArrivalTimestamp": arrival,
            },
        }
        size += len(json.dumps(record)) + 2
        if size > LIMIT:
            return records
        records.append(record)
        i += 1


def floor(records: list[dict]) -> list[dict]:
    a2b, b2a, loads, dumps = binascii.a2b_base64, binascii.b2a_base64, json.loads, json.dumps
    out = []
    for record in records:
        payload = loads(a2b(record["data"]))
        data = b2a(dumps(payload).encode(), newline=False).decode()
        out.append({"recordId": record["recordId"], "result": "Ok", "data": data})
    return out


def _time(func, records) -> float:
    started = time.perf_counter()
    func(records)
    return time.perf_counter() - started


def run() -> dict[str, float]:
    transform = _transform()
    records = max_batch()
    result = transform.transform_batch(records)
    assert not result.rejects or all(r.reason == "response_size_limit" for r in result.rejects)
    ours, base = [], []
    for _ in range(ROUNDS):
        base.append(_time(floor, records))
        ours.append(_time(transform.transform_batch, records))
    n = len(records)
    ours_us = min(ours) / n * 1e6
    floor_us = min(base) / n * 1e6
    return {
        "transform_batch_records": float(n),
        "transform_us_per_record": ours_us,
        "transform_floor_us_per_record": floor_us,
        "transform_ratio_to_floor": ours_us / floor_us,
        "transform_response_mb": result.response_bytes / 1024 / 1024,
    }


def table(results: dict[str, float]) -> list[tuple[str, str, str]]:
    n = int(results["transform_batch_records"])
    return [
        (f"FirehoseTransform µs/record ({n:,}-record 6 MB batch)", f"{results['transform_us_per_record']:.2f}", "—"),
        ("floor: base64 + json.loads + json.dumps µs/record", f"{results['transform_floor_us_per_record']:.2f}", "—"),
        ("FirehoseTransform / floor", f"{results['transform_ratio_to_floor']:.2f}×", f"≤ {TARGET_RATIO:.0f}×"),
    ]


if __name__ == "__main__":
    figures = run()
    for row in table(figures):
        print(*row, sep="  |  ")
