"""Regenerate events/quote_processor/*.json: Kinesis event-source-mapping batches of the seed's quotes.

Usage: .venv/bin/python scripts/make-events.py   (the files are committed; tests check what they hold)
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from aws_kinesis_agg.aggregator import RecordAggregator

ROOT = Path(__file__).resolve().parents[1]
SEED = json.loads((ROOT / "src/tickerstream_cli/data/seed_quotes.json").read_text())
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/tickerstream-QuoteStream"
BASE_SEQUENCE = 49654545165112456784571549023486612048960102839364386818
ARRIVAL = 1763700000.0


def record(index: int, data: bytes | str, partition_key: str, shard: str = "shardId-000000000000") -> dict:
    sequence = str(BASE_SEQUENCE + index * 1_000_000)
    encoded = data if isinstance(data, str) else base64.b64encode(data).decode()
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence,
            "data": encoded,
            "approximateArrivalTimestamp": ARRIVAL + index * 0.25,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard}:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/tickerstream-QuoteProcessorRole",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM_ARN,
    }


def quote_bytes(quote: dict) -> bytes:
    return json.dumps(quote).encode()


def write(name: str, records: list[dict]) -> None:
    path = ROOT / "events" / "quote_processor" / name
    path.write_text(json.dumps({"Records": records}, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)} ({len(records)} records)")


def main() -> None:
    batch = [record(i, quote_bytes(q), q["ticker_symbol"]) for i, q in enumerate(SEED[:12])]
    upper = {"TICKER_SYMBOL": "QXZ", "SECTOR": "HEALTHCARE", "CHANGE": -0.05, "PRICE": 84.51}
    batch.append(record(12, quote_bytes(upper), "QXZ"))
    write("batch.json", batch)

    valid = SEED[20]
    invalid = [
        record(0, quote_bytes(SEED[0]), SEED[0]["ticker_symbol"]),
        record(1, "not base64 at all!", "BAD1"),
        record(2, b'{"ticker_symbol": "AAPL", "sector": ', "AAPL"),
        record(3, b'[{"ticker_symbol": "AAPL"}]', "AAPL"),
        record(4, quote_bytes({"ticker_symbol": "AAPL", "sector": "TECHNOLOGY", "change": 1, "price": -3}), "AAPL"),
        record(5, b'{"ticker_symbol": "\xff\xfe", "sector": "X", "change": 0, "price": 1}', "BAD5"),
        record(6, quote_bytes({**valid, "padding": "x" * 5000}), valid["ticker_symbol"]),
        record(7, quote_bytes({"ticker_symbol": "aapl", "sector": "", "change": "NaN", "price": True}), "aapl"),
        record(8, quote_bytes(valid), valid["ticker_symbol"]),
    ]
    write("invalid.json", invalid)

    aggregator = RecordAggregator()
    for quote in SEED[30:34]:
        aggregator.add_user_record(quote["ticker_symbol"], quote_bytes(quote))
    partition_key, _, data = aggregator.clear_and_get().get_contents()
    kpl = [record(0, data, partition_key), record(1, quote_bytes(SEED[34]), SEED[34]["ticker_symbol"])]
    write("kpl-aggregated.json", kpl)


if __name__ == "__main__":
    main()
