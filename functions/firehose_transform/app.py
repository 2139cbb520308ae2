"""FirehoseTransform handler: Firehose batch → NDJSON quotes with partition keys (see firehose_transform)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from firehose_transform.transform import REASON_RESPONSE_LIMIT, transform_batch
from tickerstream.observability import tracer as make_tracer

logger = Logger()
metrics = Metrics()
tracer = make_tracer()  # X-Ray SDK only if the template enables it (StreamConsumerXRaySdk)

# Every rejected record lands whole under the error prefix; the log names the first few and the
# reasons of all, so a batch of garbage cannot flood the log group.
MAX_LOGGED_REJECTS = 20


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("records") or []
    logger.set_correlation_id(event.get("invocationId"))
    result = transform_batch(records)

    over_limit = sum(1 for r in result.rejects if r.reason == REASON_RESPONSE_LIMIT)
    metrics.add_metric("RecordsReceived", MetricUnit.Count, len(records))
    metrics.add_metric("QuotesDelivered", MetricUnit.Count, result.quotes)
    metrics.add_metric("InvalidRecords", MetricUnit.Count, len(result.rejects) - over_limit)
    metrics.add_metric("OverResponseLimitRecords", MetricUnit.Count, over_limit)
    metrics.add_metric("ResponseBytes", MetricUnit.Bytes, result.response_bytes)
    if result.oldest_arrival_ms is not None:
        lag_ms = max(0.0, time.time() * 1000 - result.oldest_arrival_ms)
        metrics.add_metric("TransformLag", MetricUnit.Milliseconds, lag_ms)

    for rejected in result.rejects[:MAX_LOGGED_REJECTS]:
        logger.warning(
            "Record returned as ProcessingFailed (delivered whole under the error prefix)",
            record_id=rejected.record_id,
            reason=rejected.reason,
            detail=rejected.detail,
            sequence_number=rejected.sequence_number,
        )
    logger.info(
        "Batch transformed",
        records=len(records),
        quotes=result.quotes,
        failed=len(result.rejects),
        failed_by_reason=dict(Counter(r.reason for r in result.rejects)),
        response_bytes=result.response_bytes,
    )
    return {"records": result.records}
