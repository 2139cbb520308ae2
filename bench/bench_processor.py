"""QuoteProcessor on a 10,000-record batch vs the floor and the canonical Powertools pattern;
cold import overhead of every function; the built layer's size."""

from __future__ import annotations

import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO_ROOT, best_of, demo_kinesis_batch, import_seconds, placeholder_environment

BATCH = 10_000


class StubbedClient:
    """A real botocore client whose HTTP send is answered in-process: parameter validation,
    serialization, signing and response parsing all run; only the network is skipped."""

    def __init__(self, service: str, body: bytes = b"{}"):
        import boto3
        from botocore.awsrequest import AWSResponse

        class _Raw:
            def stream(self, **_):
                yield body

        self.requests = 0
        self.client = boto3.client(service, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")

        def answer(request, **_):
            self.requests += 1
            return AWSResponse(request.url, 200, {"x-amzn-RequestId": "bench"}, _Raw())

        self.client.meta.events.register("before-send", answer)


def _processor_path():
    sys.path[:0] = [str(REPO_ROOT / "functions/quote_processor"), str(REPO_ROOT / "layers/shared")]
    from quote_processor.apply import apply_plan
    from quote_processor.batch import plan_batch
    from quote_processor.quarantine import Quarantine
    from quote_processor.store import QuoteStore

    return plan_batch, apply_plan, QuoteStore, Quarantine


def run() -> dict[str, float]:
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
    records = demo_kinesis_batch(BATCH)
    tickers = len({r["kinesis"]["partitionKey"] for r in records})
    plan_batch, apply_plan, QuoteStore, Quarantine = _processor_path()

    def floor():
        for record in records:
            json.loads(base64.b64decode(record["kinesis"]["data"]))

    processor_requests = []

    dynamodb = StubbedClient("dynamodb")
    sqs = StubbedClient("sqs")

    def processor():
        before = dynamodb.requests
        plan = plan_batch(records)
        outcome = apply_plan(plan, QuoteStore(dynamodb.client, "bench"), Quarantine(lambda: sqs.client, "bench"), "arn", time.time)
        assert outcome.failed_index is None and outcome.applied == BATCH
        processor_requests.append(dynamodb.requests - before)

    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

    canonical_requests = []

    def canonical():
        before = dynamodb.requests
        batch_processor = BatchProcessor(event_type=EventType.KinesisDataStreams)

        def record_handler(record: KinesisStreamRecord):
            quote = json.loads(record.kinesis.data_as_text())
            dynamodb.client.put_item(
                TableName="bench",
                Item={
                    "pk": {"S": f"TICKER#{quote['ticker_symbol']}"},
                    "sk": {"S": "LATEST"},
                    "sector": {"S": quote["sector"]},
                    "price": {"N": repr(quote["price"])},
                    "change": {"N": repr(quote["change"])},
                },
            )

        response = process_partial_response({"Records": records}, record_handler, batch_processor)
        assert response["batchItemFailures"] == []
        canonical_requests.append(dynamodb.requests - before)

    processor()  # warm both paths once (client endpoint resolution, caches)
    canonical()
    # interleave so that machine noise hits all three alike
    timings = {"floor": [], "processor": [], "canonical": []}
    for _ in range(5):
        timings["floor"].append(best_of(floor, 1))
        timings["processor"].append(best_of(processor, 1))
        timings["canonical"].append(best_of(canonical, 1))
    per_record = {name: min(values) / BATCH * 1e6 for name, values in timings.items()}

    results = {
        "batch_records": BATCH,
        "batch_distinct_tickers": tickers,
        "floor_us_per_record": per_record["floor"],
        "processor_us_per_record": per_record["processor"],
        "canonical_us_per_record": per_record["canonical"],
        "processor_vs_floor_ratio": per_record["processor"] / per_record["floor"],
        "canonical_vs_processor_speedup": per_record["canonical"] / per_record["processor"],
        "processor_write_requests": processor_requests[-1],
        "canonical_write_requests": canonical_requests[-1],
    }
    results.update(cold_imports())
    results["layer_mb"] = layer_megabytes()
    return results


def cold_imports() -> dict[str, float]:
    """Each function's cold import in a fresh python3.13 (`import boto3; import app`) minus a bare
    `import boto3`: what the function adds to a cold start. Medians of interleaved runs."""
    from tickerstream_local.template import sam_template

    functions = {
        name: r["Properties"] for name, r in sam_template()["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    }
    lambda_like = {"AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                   "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "POWERTOOLS_TRACE_DISABLED": "false",
                   "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR", "_X_AMZN_TRACE_ID": ""}
    layer = str(REPO_ROOT / "layers/shared")
    results = {}
    baseline_runs, function_runs = [], {name: [] for name in functions}
    for _ in range(5):  # interleaved: each round measures the baseline and every function once
        baseline_runs.append(import_seconds("import boto3", lambda_like, [layer]))
        for name, props in functions.items():
            code_dir = str(REPO_ROOT / props["CodeUri"])
            module = props["Handler"].rpartition(".")[0]
            env = {**lambda_like, **placeholder_environment(name)}
            # boto3 first, so the figure is the function's cost on top of it (functions that never
            # import boto3, like the Cognito triggers, are not credited with its absence)
            function_runs[name].append(import_seconds(f"import boto3\nimport {module}", env, [code_dir, layer]))
    baseline = statistics.median(baseline_runs)
    results["import_boto3_ms"] = baseline * 1000
    for name, runs in function_runs.items():
        results[f"import_overhead_ms_{name}"] = (statistics.median(runs) - baseline) * 1000
    return results


def layer_megabytes() -> float:
    """Build the layer exactly as `sam build` does (its Makefile) and measure it unzipped."""
    with tempfile.TemporaryDirectory() as artifacts:
        subprocess.run(
            ["make", "-s", "-C", str(REPO_ROOT / "layers/shared"), "build-SharedLayer", f"ARTIFACTS_DIR={artifacts}",
             f"PYTHON={sys.executable}"],
            check=True, capture_output=True,
        )
        total = sum(p.stat().st_size for p in Path(artifacts).rglob("*") if p.is_file())
        assert not (Path(artifacts) / "python" / "botocore").exists()
    return total / 1e6


def table(r: dict[str, float]) -> list[tuple[str, str, str]]:
    rows = [
        (f"floor: base64 + json.loads ({int(r['batch_records'])} records)", f"{r['floor_us_per_record']:.2f} µs/record", "reference"),
        ("QuoteProcessor (decode, validate, coalesce, write)", f"{r['processor_us_per_record']:.2f} µs/record", "≤ 3× floor"),
        ("  ratio to floor", f"{r['processor_vs_floor_ratio']:.2f}×", "≤ 3×"),
        ("canonical Powertools BatchProcessor + put_item per record", f"{r['canonical_us_per_record']:.2f} µs/record", ""),
        ("  canonical ÷ QuoteProcessor", f"{r['canonical_vs_processor_speedup']:.1f}×", "≥ 5×"),
        ("QuoteProcessor write requests", f"{int(r['processor_write_requests'])}", f"≤ {int(r['batch_distinct_tickers'])} (distinct tickers)"),
        ("canonical write requests", f"{int(r['canonical_write_requests'])}", ""),
        ("bare `import boto3` (python3.13)", f"{r['import_boto3_ms']:.0f} ms", "reference"),
    ]
    for key in sorted(k for k in r if k.startswith("import_overhead_ms_")):
        rows.append((f"cold import overhead: {key.removeprefix('import_overhead_ms_')}", f"{r[key]:.0f} ms", "≤ 150 ms"))
    rows.append(("shared layer, unzipped", f"{r['layer_mb']:.1f} MB", "≤ 15 MB"))
    return rows
