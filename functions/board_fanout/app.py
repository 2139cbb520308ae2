"""BoardFanout handler: a QuoteStream batch (latest quote per ticker) or a CandlesTable stream batch
(written candles) -> subscribers (ByTopic index) -> pushes through @connections.

It never fails a batch because of clients: slow or gone clients cost pushes, never stream progress;
invalid records are skipped and counted (QuoteProcessor quarantines them). Each batch stops pushing
at PUSH_BUDGET_SECONDS (or earlier if the invocation would run out of time).
"""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from board_fanout.fanout import FanoutReport, Outgoing, fan_out
from board_fanout.gone import remove_connections
from board_fanout.messages import candle_message, quote_message
from board_fanout.push import Pusher, management_poster
from board_fanout.records import latest_quotes, written_candles
from board_fanout.subscribers import SubscriberIndex
from tickerstream.observability import tracer as make_tracer

logger = Logger()
metrics = Metrics()
tracer = make_tracer()

TABLE = os.environ["CONNECTIONS_TABLE"]
BUDGET_SECONDS = float(os.environ.get("PUSH_BUDGET_SECONDS", "5"))
PUSH_TIMEOUT_SECONDS = float(os.environ.get("PUSH_TIMEOUT_SECONDS", "1"))
PUSH_CONCURRENCY = int(os.environ.get("PUSH_CONCURRENCY", "32"))
# Kept back from the invocation's remaining time for metrics, cleanup and the reply.
SAFETY_SECONDS = 2.0

_dynamodb = boto3.client("dynamodb", config=Config(retries={"max_attempts": 2, "mode": "standard"},
                                                   connect_timeout=1, read_timeout=2, max_pool_connections=16))
index = SubscriberIndex(
    _dynamodb, TABLE, os.environ.get("CONNECTIONS_TOPIC_INDEX", "ByTopic"),
    ttl_seconds=float(os.environ.get("SUBSCRIBER_CACHE_SECONDS", "2")),
    max_topics=int(os.environ.get("SUBSCRIBER_CACHE_TOPICS", "5000")),
)
pusher = Pusher(management_poster(os.environ.get("CONNECTIONS_URL", ""), PUSH_TIMEOUT_SECONDS, PUSH_CONCURRENCY), PUSH_CONCURRENCY)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.monotonic()
    records = event.get("Records") or []
    remaining = context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS - 2 * PUSH_TIMEOUT_SECONDS
    deadline = started + max(0.0, min(BUDGET_SECONDS, remaining))
    source = records[0].get("eventSource") if records else None

    outgoing: list[Outgoing] = []
    user_records = invalid = 0
    if source == "aws:kinesis":
        quotes = latest_quotes(records)
        user_records, invalid = quotes.user_records, quotes.invalid
        outgoing = [Outgoing((f"TICKER#{ticker}", f"SECTOR#{latest.quote.sector}"), quote_message(latest))
                    for ticker, latest in quotes.latest.items()]
    elif source == "aws:dynamodb":
        candles = written_candles(records)
        user_records, invalid = len(records), candles.invalid
        outgoing = [Outgoing((f"TICKER#{c['ticker_symbol']}", f"SECTOR#{c['sector']}"), candle_message(c))
                    for c in candles.candles]
    elif records:
        logger.error("Records from an unknown event source; nothing pushed", event_source=source)
        invalid = len(records)

    queries_before, errors_before = index.queries, index.errors
    report = fan_out(outgoing, index, pusher, deadline, grace=2 * PUSH_TIMEOUT_SECONDS,
                     remove=lambda gone: remove_connections(_dynamodb, TABLE, gone))
    _record(report, source, user_records, invalid, index.queries - queries_before, index.errors - errors_before,
            (time.monotonic() - started) * 1000)
    return {"batchItemFailures": []}


def _record(report: FanoutReport, source: str | None, user_records: int, invalid: int, queries: int, lookup_errors: int,
            duration_ms: float) -> None:
    # Every metric on every batch (zeros included), so a period's sums compare directly.
    metrics.add_metric("FanoutRecords", MetricUnit.Count, user_records)
    metrics.add_metric("InvalidRecords", MetricUnit.Count, invalid)
    metrics.add_metric("MessagesToPush", MetricUnit.Count, report.messages)
    metrics.add_metric("SubscriberQueries", MetricUnit.Count, queries)
    metrics.add_metric("SubscriberLookupErrors", MetricUnit.Count, lookup_errors)
    metrics.add_metric("TopicsUnanswered", MetricUnit.Count, report.unanswered_topics)
    metrics.add_metric("PushesSent", MetricUnit.Count, report.push.sent)
    metrics.add_metric("PushesFailed", MetricUnit.Count, report.push.failed)
    metrics.add_metric("PushesSkipped", MetricUnit.Count, report.push.skipped)
    metrics.add_metric("ConnectionsGone", MetricUnit.Count, len(report.push.gone))
    metrics.add_metric("GoneItemsRemoved", MetricUnit.Count, report.items_removed)
    metrics.add_metric("FanoutDuration", MetricUnit.Milliseconds, duration_ms)
    summary = {
        "source": source, "user_records": user_records, "invalid": invalid, "messages": report.messages,
        "deliveries": report.deliveries, "sent": report.push.sent, "gone": len(report.push.gone),
        "failed": report.push.failed, "skipped": report.push.skipped, "queries": queries,
        "lookup_errors": lookup_errors, "unanswered_topics": report.unanswered_topics,
        "items_removed": report.items_removed, "duration_ms": round(duration_ms, 1),
    }
    if report.push.skipped or report.unanswered_topics or report.cleanup_failed:
        logger.warning("Batch pushed in part (time budget or lookups)", cleanup_failed=report.cleanup_failed, **summary)
    else:
        logger.info("Batch pushed", **summary)
