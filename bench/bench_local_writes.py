"""Local DynamoDB write cost against table size, moto as it ships vs with tickerstream_local.moto_patches.

One QuoteProcessor-shaped transaction (a conditional Put of a ticker + one sector ADD) on a table that
already holds N items, in-process moto. Run: .venv/bin/python bench/bench_local_writes.py [N ...]
(`make bench` runs it in a process of its own, since it patches moto in the process it runs in.)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.update({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"})

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

CALLS = 30


def _transaction(table: str, n: int) -> list[dict]:
    return [
        {
            "Put": {
                "TableName": table,
                "Item": {"pk": {"S": f"TICKER#B{n}"}, "sk": {"S": "LATEST"}, "price": {"N": "1.5"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": "SECTOR#TECH"}, "sk": {"S": "SUMMARY"}},
                "UpdateExpression": "ADD quote_count :n",
                "ExpressionAttributeValues": {":n": {"N": "1"}},
            }
        },
    ]


def write_cost_ms(items: int) -> float:
    """Median milliseconds of one transaction on a table of `items` items."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="q",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for start in range(0, items, 25):
            client.batch_write_item(
                RequestItems={
                    "q": [
                        {"PutRequest": {"Item": {"pk": {"S": f"TICKER#A{i}"}, "sk": {"S": "LATEST"}, "price": {"N": "2.25"}}}}
                        for i in range(start, min(items, start + 25))
                    ]
                }
            )
        timings = []
        for n in range(CALLS):
            started = time.perf_counter()
            client.transact_write_items(TransactItems=_transaction("q", n))
            timings.append((time.perf_counter() - started) * 1000)
        return statistics.median(timings)


SIZES = (50, 500, 5000)


def measure(sizes: list[int]) -> tuple[dict[int, float], dict[int, float]]:
    before = {size: write_cost_ms(size) for size in sizes}
    from tickerstream_local.moto_patches import install

    install()
    return before, {size: write_cost_ms(size) for size in sizes}


def main(sizes: list[int]) -> None:
    before, after = measure(sizes)
    print(f"{'items in table':>15} {'moto 5.2.5 ms':>14} {'patched ms':>11}")
    for size in sizes:
        print(f"{size:>15} {before[size]:>14.2f} {after[size]:>11.2f}")


def run() -> dict[str, float]:
    """For bench/run.py, in a process of its own (the patch stays installed in the process)."""
    done = subprocess.run([sys.executable, str(Path(__file__)), "--json"], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(figures: dict[str, float]) -> list[tuple[str, str, str]]:
    rows = [("local DynamoDB: one transaction on a table of N items (ms, median of 30)", "", "")]
    for size in SIZES:
        rows.append((f"  {size:,} items: moto as shipped → with moto_patches",
                     f"{figures[f'local_write_{size}_moto_ms']:.1f} → {figures[f'local_write_{size}_patched_ms']:.1f} ms",
                     "flat in N"))
    return rows


if __name__ == "__main__":
    if sys.argv[1:] == ["--json"]:
        before, after = measure(list(SIZES))
        print(json.dumps({**{f"local_write_{n}_moto_ms": v for n, v in before.items()},
                          **{f"local_write_{n}_patched_ms": v for n, v in after.items()}}))
    else:
        main([int(arg) for arg in sys.argv[1:]] or list(SIZES))
