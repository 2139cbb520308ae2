"""CandleAggregator handler: Kinesis tumbling windows → candles in CandlesTable, alerts on SNS.

Invocations inside a window only aggregate into the state Lambda carries; the final invoke of a window
(or one Lambda ended early) writes the candles, publishes the alerts and posts the webhook (flush.py).
A transient failure while closing returns the window's incoming state with the first record of the
invocation as the checkpoint, so the retry rebuilds the same candles and the conditional writes make
it harmless (store.py); a final invoke without records raises instead (Lambda retries it whole).
"""

from __future__ import annotations

import os
import time
from decimal import Decimal
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from candle_aggregator.alerts import AlertPublisher
from candle_aggregator.flush import close_window
from candle_aggregator.store import CandleStore, WindowKey
from candle_aggregator.webhook import Webhook, secret_reader
from candle_aggregator.window import StaleState, Window, aggregate, candles_of, dump_state, epoch_seconds, load_state, state_bytes
from tickerstream.observability import tracer as make_tracer

logger = Logger()
metrics = Metrics()
tracer = make_tracer()


class CandlesNotDurable(Exception):
    """A closing window whose candles or alerts are not all durable; Lambda retries the final invoke."""


def _setting(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


WRITE_CONCURRENCY = max(1, min(int(_setting("CANDLE_WRITE_CONCURRENCY", "1")), 64))
RETENTION_SECONDS = int(_setting("CANDLE_RETENTION_DAYS", "30")) * 86400
THRESHOLD_PERCENT = Decimal(_setting("ALERT_THRESHOLD_PERCENT", "5"))
# Fail fast, as QuoteProcessor: Lambda's redelivery is the retry.
_AWS_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=5,
                     max_pool_connections=max(10, WRITE_CONCURRENCY))

# As QuoteProcessor's: requests are built in one fixed shape, and botocore's client-side check of every
# attribute of 100-item transactions was most of a write's CPU time (DynamoDB still validates).
store = CandleStore(boto3.client("dynamodb", config=_AWS_CONFIG.merge(Config(parameter_validation=False))),
                    os.environ["CANDLES_TABLE"], WRITE_CONCURRENCY)
publisher = AlertPublisher(boto3.client("sns", config=_AWS_CONFIG), os.environ["ALERTS_TOPIC_ARN"])
webhook = Webhook(secret_reader(os.environ.get("WEBHOOK_SECRET_ID", "")),
                  timeout=float(_setting("WEBHOOK_TIMEOUT_SECONDS", "2")))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    window = Window.from_event(event)
    logger.append_keys(window_start=window.start, shard_id=event.get("shardId"))
    incoming = event.get("state") or {}
    try:
        working = load_state(incoming, window.start)
    except (StaleState, KeyError, TypeError, ValueError, IndexError) as exc:
        logger.warning("Window state not usable; the window starts afresh", reason=str(exc))
        working = {}

    tally = aggregate(records, working)
    metrics.add_metric("RecordsReceived", MetricUnit.Count, tally.user_records)
    metrics.add_metric("InvalidRecords", MetricUnit.Count, sum(tally.invalid.values()))
    metrics.add_metric("ReplayedRecords", MetricUnit.Count, tally.replayed)
    if tally.invalid:
        # QuoteProcessor quarantines these from its own read of the stream; here they are only skipped.
        logger.warning("Skipped invalid records", reasons=dict(tally.invalid))

    state = dump_state(working, window.start)
    metrics.add_metric("StateBytes", MetricUnit.Bytes, state_bytes(state))
    if not window.closes:
        return {"state": state, "batchItemFailures": []}

    key = WindowKey(window.start, window.end, epoch_seconds(window.end) + RETENTION_SECONDS)
    closed = close_window(candles_of(working), key, store, publisher, webhook, THRESHOLD_PERCENT, time.time)
    metrics.add_metric("CandlesWritten", MetricUnit.Count, closed.created + closed.merged)
    metrics.add_metric("CandlesAlreadyWritten", MetricUnit.Count, closed.already_written)
    metrics.add_metric("CandleConflicts", MetricUnit.Count, closed.conflicts)
    metrics.add_metric("WriteRequests", MetricUnit.Count, closed.write_requests + closed.alert_requests)
    metrics.add_metric("AlertsPublished", MetricUnit.Count, closed.alerts_published)
    metrics.add_metric("WebhookAlertsPosted", MetricUnit.Count, closed.webhook.posted)
    metrics.add_metric("WebhookFailures", MetricUnit.Count, closed.webhook.failures)
    if closed.conflicts:
        logger.error("Candles overlapping the stored ones were left as stored", tickers=closed.conflicted[:20])
    if closed.webhook.failures:
        logger.warning("Webhook delivery failed; the alerts are on SNS", reasons=closed.webhook.reasons)
    summary = {"tickers": len(working), "candles_created": closed.created, "candles_merged": closed.merged,
               "already_written": closed.already_written, "alerts": closed.alerts_published,
               "write_requests": closed.write_requests, "terminated_early": window.terminated_early}
    if closed.failure is None:
        logger.info("Window closed", **summary)
        return {"state": {}, "batchItemFailures": []}
    if not records:
        raise CandlesNotDurable(closed.failure)
    checkpoint = records[0]["kinesis"]["sequenceNumber"]
    logger.warning("Window not closed; Lambda redelivers from the checkpoint", checkpoint=checkpoint,
                   failure=closed.failure, **summary)
    # The incoming state, not this invocation's: the redelivered records are added to it again.
    return {"state": incoming, "batchItemFailures": [{"itemIdentifier": checkpoint}]}
