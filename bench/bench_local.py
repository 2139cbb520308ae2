"""End-to-end local throughput: produce → QuoteProcessor applied, and → delivered to the S3 lake,
through the whole local stack (moto server, event-source mapping, Firehose), with zero loss checked.

Two runs side by side: the producer as shipped (per-ticker order kept across retries, so one PutRecords
round trip carries at most one record per ticker), and the same producer without that guarantee — the
ceiling the rest of the local stack allows."""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import io
import logging
import multiprocessing
import os
import time

RECORDS = 10_000
INVALID_FRACTION = 0.02


def _wait(condition, timeout: float = 300.0, step: float = 0.02) -> float:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("local stack did not finish in time")
        time.sleep(step)
    return time.perf_counter()


def _produce_in_own_process(endpoint_url: str, stream_name: str, keep_key_order: bool):
    """A producer is its own program in real life; here too, so it does not share the stack's GIL."""
    import boto3

    from tickerstream.kinesis_put import put_records
    from tickerstream_cli.demo_quotes import DemoQuotes
    from tickerstream_cli.producer import produce

    client = boto3.client("kinesis", endpoint_url=endpoint_url, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    put = functools.partial(put_records, preserve_key_order=keep_key_order)
    return produce(client, stream_name, DemoQuotes(seed=11, invalid_fraction=INVALID_FRACTION), count=RECORDS, put=put)


def _one_run(keep_key_order: bool) -> dict[str, float]:
    from tickerstream_cli.demo import reconcile
    from tickerstream_local.runner import LocalStack

    # the functions' EMF metrics and logs go to stdout, as in Lambda; keep them out of the report
    with contextlib.redirect_stdout(io.StringIO()), LocalStack(api_port=0, moto_port=0, state_file=None) as stack:
        mappings, hoses = stack.mappings, stack.firehoses
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pool.submit(int, 0).result()  # the producer process is up before the clock starts
            started = time.perf_counter()
            report = pool.submit(_produce_in_own_process, stack.deployment.endpoint_url,
                                 stack.deployment.physical["QuoteStream"], keep_key_order).result()
            produced = time.perf_counter()
        applied = _wait(lambda: sum(m.stats.records_checkpointed for m in mappings) >= report.sent)
        stack.drain()  # flushes Firehose buffers instead of waiting out their 60 s interval
        delivered = _wait(lambda: sum(h.stats.delivered + h.stats.failed for h in hoses) >= report.sent)
        failed_checks = [name for name, passed, _ in reconcile(report, stack).checks if not passed]
        if failed_checks or report.failed:
            raise AssertionError(f"records lost or duplicated: {failed_checks}, {report.failed} not sent")
        esm, fh = [m.stats for m in mappings], [h.stats for h in hoses]
        return {
            "records": report.sent,
            "produce_records_per_s": report.sent / (produced - started),
            "applied_records_per_s": report.sent / (applied - started),
            "delivered_records_per_s": report.sent / (delivered - started),
            "time_produce_s": produced - started,
            "time_esm_get_records_s": sum(s.fetch_seconds for s in esm),
            "time_quote_processor_s": sum(s.handler_seconds for s in esm),
            "esm_invocations": sum(s.invocations for s in esm),
            "time_firehose_read_s": sum(s.read_seconds for s in fh),
            "time_firehose_transform_s": sum(s.invoke_seconds for s in fh),
            "time_firehose_write_s": sum(s.write_seconds for s in fh),
            "lost_records": 0,
        }


def run() -> dict[str, float]:
    os.environ.update({"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"})
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    results = {f"local_{k}": v for k, v in _one_run(keep_key_order=True).items()}
    results.update({f"local_unordered_{k}": v for k, v in _one_run(keep_key_order=False).items()})
    return results


def table(r: dict[str, float]) -> list[tuple[str, str, str]]:
    n = int(r["local_records"])
    rows = [(f"local stack end to end, {n} records (2 % invalid), producer in its own process", "", "")]
    for prefix, label in (("local_", "producer as shipped (per-ticker order)"), ("local_unordered_", "producer without per-ticker order (ceiling)")):
        rows += [
            (f"  {label}: produced", f"{r[prefix + 'produce_records_per_s']:,.0f} rec/s", ""),
            ("    produce → applied by QuoteProcessor", f"{r[prefix + 'applied_records_per_s']:,.0f} rec/s", "≥ 2,000 rec/s"),
            ("    produce → delivered to the S3 lake (buffers flushed)", f"{r[prefix + 'delivered_records_per_s']:,.0f} rec/s", "≥ 2,000 rec/s"),
            ("    records lost or duplicated (reconciled)", f"{int(r[prefix + 'lost_records'])}", "0"),
            ("    time: producer PutRecords", f"{r[prefix + 'time_produce_s']:.2f} s", ""),
            ("    time: ESM GetRecords", f"{r[prefix + 'time_esm_get_records_s']:.2f} s", ""),
            (f"    time: QuoteProcessor ({int(r[prefix + 'esm_invocations'])} invocations, incl. moto DynamoDB/SQS)",
             f"{r[prefix + 'time_quote_processor_s']:.2f} s", ""),
            ("    time: Firehose reading the stream", f"{r[prefix + 'time_firehose_read_s']:.2f} s", ""),
            ("    time: FirehoseTransform", f"{r[prefix + 'time_firehose_transform_s']:.2f} s", ""),
            ("    time: Firehose writing S3 objects", f"{r[prefix + 'time_firehose_write_s']:.2f} s", ""),
        ]
    return rows
