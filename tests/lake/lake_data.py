"""A known lake for the named-query and reconciliation tests, written the way the pipeline writes it:
each quote goes through FirehoseTransform (as a Kinesis-stream-as-source record with its arrival time and
stream position), and the lines it returns land gzipped under the Hive partitions its partition keys name.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from lake.lakekit import kds_event, kds_record, transform_module
from tickerstream_local.lake import table_schema


@dataclass(frozen=True)
class Sent:
    """One quote as a producer put it on the stream."""

    ticker: str
    sector: str
    price: float | int
    at: str  # arrival time, "YYYY-MM-DD HH:MM:SS.mmm" UTC
    sequence: str
    sub: int = 0
    change: float = 0.0


def arrival_ms(text: str) -> int:
    moment = dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.UTC)
    return round(moment.timestamp() * 1000)


def write_lake(root: Path, quotes: list[Sent], *, object_name: str = "tickerstream-LakeDeliveryStream-1") -> Path:
    """Transform `quotes` and write one gzipped object per partition under `root` (the bucket's layout)."""
    transform = transform_module()
    records = [
        kds_record(i, json.dumps({"ticker_symbol": q.ticker, "sector": q.sector, "change": q.change,
                                  "price": q.price}).encode(),
                   arrival_ms(q.at), sequence=q.sequence, subsequence=q.sub, partition_key=q.ticker)
        for i, q in enumerate(quotes)
    ]
    result = transform.transform_batch(kds_event(records)["records"])
    assert all(r["result"] == "Ok" for r in result.records), result.rejects
    by_partition: dict[tuple[str, ...], list[bytes]] = defaultdict(list)
    for output in result.records:
        keys = output["metadata"]["partitionKeys"]
        by_partition[tuple(keys[k] for k in ("sector", "year", "month", "day", "hour"))].append(
            base64.b64decode(output["data"]))
    prefix = table_schema().prefix
    for (sector, year, month, day, hour), chunks in by_partition.items():
        folder = root / prefix / f"sector={sector}/year={year}/month={month}/day={day}/hour={hour}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{object_name}-{year}-{month}-{day}-{hour}.gz").write_bytes(gzip.compress(b"".join(chunks)))
    return root


# Real Kinesis sequence numbers are 56 digits; the local stack's (moto) are small counters. Both appear.
def seq(n: int) -> str:
    return f"49654545165112456784571549023486612048960102839364{n:06d}"


TODAY = dt.date(2026, 11, 21)
YESTERDAY = "2026-11-20"
KNOWN_DAY = [
    # AAPL: one quote in the morning, then one PutRecords call (one arrival time) of three quotes.
    Sent("AAPL", "TECHNOLOGY", 181.2, f"{YESTERDAY} 09:00:00.000", seq(1)),
    Sent("AAPL", "TECHNOLOGY", 183.0, f"{YESTERDAY} 15:30:00.250", seq(2)),
    Sent("AAPL", "TECHNOLOGY", 182.61, f"{YESTERDAY} 15:30:00.250", seq(3)),
    Sent("AAPL", "TECHNOLOGY", 185.78, f"{YESTERDAY} 15:30:00.250", seq(4)),
    # XYZ: every quote of the day in one PutRecords call.
    Sent("XYZ", "ENERGY", 15.33, f"{YESTERDAY} 10:00:00.000", seq(10)),
    Sent("XYZ", "ENERGY", 15.5, f"{YESTERDAY} 10:00:00.000", seq(11)),
    Sent("XYZ", "ENERGY", 15.86, f"{YESTERDAY} 10:00:00.000", seq(12)),
    # MSFT: moto-style sequence numbers; "10" follows "9" (as text it sorts before it).
    Sent("MSFT", "TECHNOLOGY", 400, f"{YESTERDAY} 11:00:00.000", "9"),
    Sent("MSFT", "TECHNOLOGY", 404, f"{YESTERDAY} 11:00:00.000", "10"),
    # NFLX: one KPL aggregate (one sequence number), ordered by sub-sequence number.
    Sent("NFLX", "TECHNOLOGY", 100, f"{YESTERDAY} 12:00:00.000", seq(20), sub=0),
    Sent("NFLX", "TECHNOLOGY", 90, f"{YESTERDAY} 12:00:00.000", seq(20), sub=1),
    # Today: not part of yesterday's movers.
    Sent("AAPL", "TECHNOLOGY", 190, "2026-11-21 08:00:00.000", seq(100)),
    Sent("AAPL", "TECHNOLOGY", 191.5, "2026-11-21 08:00:00.000", seq(101)),
    Sent("MSFT", "TECHNOLOGY", 410.123456, "2026-11-21 08:30:00.000", seq(102)),
    Sent("AAPL", "TECHNOLOGY", 189, "2026-11-21 09:15:00.000", seq(103)),
    # GOOG: arrival times one millisecond out of stream order; the stream's order is the truth.
    Sent("GOOG", "TECHNOLOGY", 140, "2026-11-21 09:00:00.001", seq(200)),
    Sent("GOOG", "TECHNOLOGY", 141, "2026-11-21 09:00:00.000", seq(201)),
    Sent("XOM", "ENERGY", 53, "2026-11-21 23:59:59.999", seq(300)),
    # Two days ago: in no query of TODAY.
    Sent("AAPL", "TECHNOLOGY", 1.0, "2026-11-19 12:00:00.000", seq(0)),
]
