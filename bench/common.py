"""Shared bench helpers: timing, demo batches, and a template function's environment without AWS."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def best_of(func: Callable[[], Any], rounds: int = 7) -> float:
    """Fastest of `rounds` runs, in seconds (the least disturbed by a noisy machine)."""
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        func()
        timings.append(time.perf_counter() - started)
    return min(timings)


def demo_kinesis_batch(size: int = 10_000, seed: int = 42) -> list[dict[str, Any]]:
    from tickerstream_cli.demo_quotes import DemoQuotes

    records = []
    base = 49654545165112456784571549023486612048960102839364386818
    for i, record in zip(range(size), DemoQuotes(seed=seed), strict=False):
        sequence = str(base + i)
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record.partition_key,
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(record.data).decode(),
                    "approximateArrivalTimestamp": 1763700000.0 + i / 1000,
                },
                "eventSource": "aws:kinesis",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/bench",
                "awsRegion": "us-east-1",
            }
        )
    return records


def placeholder_environment(logical_id: str) -> dict[str, str]:
    """The function's template environment with every Ref/GetAtt filled by a placeholder name."""
    from tickerstream_local.template import parameter_defaults, sam_template
    from tickerstream_local.intrinsics import Context
    from tickerstream_local.stack import template_environment

    class Placeholders(Context):
        def ref(self, name: str) -> Any:
            try:
                return super().ref(name)
            except KeyError:
                return f"bench-{name}"

        def get_att(self, name: str, attribute: str) -> Any:
            return f"arn:aws:bench:us-east-1:123456789012:{name}/{attribute}"

    template = sam_template()
    ctx = Placeholders(parameters=parameter_defaults(template), conditions=template.get("Conditions", {}))
    return template_environment(template, logical_id, ctx)


def import_seconds(body: str, env: dict[str, str], paths: list[str]) -> float:
    code = "import time\nstarted = time.perf_counter()\n" + body + "\nprint(repr(time.perf_counter() - started))\n"
    full_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(paths)}
    out = subprocess.run([PYTHON, "-c", code], env=full_env, capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])
