"""QuoteProcessor handler: Kinesis batch → DynamoDB (latest quote, sector summary) + quarantine queue."""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from quote_processor.apply import apply_plan
from quote_processor.batch import plan_batch, shard_of
from quote_processor.quarantine import Quarantine
from quote_processor.store import QuoteStore
from tickerstream.observability import tracer as make_tracer

logger = Logger()
metrics = Metrics()
tracer = make_tracer()  # X-Ray SDK only if the template enables it (StreamConsumerXRaySdk)


def _write_concurrency() -> int:
    """How many write units (ticker packs, quarantine chunks) run at once; 1 (one after another) if unset."""
    value = os.environ.get("WRITE_CONCURRENCY", "").strip()
    try:
        return max(1, min(int(value), 64)) if value else 1
    except ValueError:
        logger.warning("WRITE_CONCURRENCY is not a whole number; writing one unit at a time", value=value)
        return 1


WRITE_CONCURRENCY = _write_concurrency()
# Fail fast: a throttled or slow write is reported as a checkpoint and retried by Lambda in order,
# rather than retried here until the function times out and the whole batch is redelivered.
# One pooled connection per writer thread.
_AWS_CONFIG = Config(
    retries={"max_attempts": 2, "mode": "standard"},
    connect_timeout=2,
    read_timeout=5,
    max_pool_connections=max(10, WRITE_CONCURRENCY),
)

# Requests are built by store.py in one fixed shape; botocore's client-side check of every attribute of
# up to 100 actions was most of a write's CPU time. DynamoDB still validates (ValidationException).
store = QuoteStore(
    boto3.client("dynamodb", config=_AWS_CONFIG.merge(Config(parameter_validation=False))), os.environ["QUOTES_TABLE"]
)
quarantine = Quarantine(lambda: boto3.client("sqs", config=_AWS_CONFIG), os.environ["QUARANTINE_QUEUE_URL"])


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    if not records:
        return {"batchItemFailures": []}
    first = records[0]
    logger.set_correlation_id(f"{shard_of(first)}:{first['kinesis']['sequenceNumber']}")

    plan = plan_batch(records)
    outcome = apply_plan(plan, store, quarantine, first.get("eventSourceARN", ""), time.time, WRITE_CONCURRENCY)

    metrics.add_metric("RecordsReceived", MetricUnit.Count, plan.user_records)
    metrics.add_metric("QuotesApplied", MetricUnit.Count, outcome.applied)
    metrics.add_metric("StaleQuotes", MetricUnit.Count, outcome.stale)
    metrics.add_metric("InvalidRecords", MetricUnit.Count, len(plan.rejects))
    metrics.add_metric("UnstorableQuotes", MetricUnit.Count, outcome.unstorable)
    metrics.add_metric("WriteRequests", MetricUnit.Count, outcome.write_requests)
    if plan.oldest_arrival:
        lag_ms = max(0.0, (time.time() - plan.oldest_arrival) * 1000)
        metrics.add_metric("ProcessingLag", MetricUnit.Milliseconds, lag_ms)

    if plan.rejects:
        # One line per batch: the quarantine queue holds each record with its reason and location.
        logger.warning("Quarantined invalid records", reasons=dict(Counter(r.reason for r in plan.rejects)))
    if outcome.unstorable:
        # Valid quotes DynamoDB refused for good: each is in the quarantine queue with DynamoDB's words.
        logger.error("Quarantined quotes DynamoDB refused", unstorable=outcome.unstorable)
    summary = {
        "records": len(records),
        "user_records": plan.user_records,
        "tickers": len(plan.updates),
        "applied": outcome.applied,
        "stale": outcome.stale,
        "quarantined": outcome.quarantined,
        "unstorable": outcome.unstorable,
        "write_requests": outcome.write_requests,
    }
    if outcome.failed_index is None:
        logger.info("Batch applied", **summary)
        return {"batchItemFailures": []}

    checkpoint = records[outcome.failed_index]["kinesis"]["sequenceNumber"]
    logger.warning("Batch partly applied; Lambda resumes at checkpoint", checkpoint=checkpoint, failure=outcome.failure, **summary)
    return {"batchItemFailures": [{"itemIdentifier": checkpoint}]}
