"""Closing a window: write its candles, then alert, then (best effort) the webhook.

Alerts are AT LEAST ONCE per ticker and window: an alert is published only for a stored candle whose
item does not yet record one (``alerted_at``), and recorded right after SNS accepts it. A replayed or
retried window finds the record and publishes nothing; only a failure between SNS accepting and the
record being written (a crash, a throttled UpdateItem) publishes the alert again on the redelivery.
Exactly once would need SNS FIFO topics, which cannot deliver to e-mail; subscribers that must not see
a duplicate drop it by ``alert_id`` (ticker and window start). Losing an alert is the worse failure.

The alert looks at the candle as stored after the write, so a window that went on with a fresh state
(Lambda ended it early) alerts on the merged candle, once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from candle_aggregator.alerts import Alert, AlertPublisher
from candle_aggregator.candles import Candle, crosses
from candle_aggregator.store import CandleStore, WindowKey, WriteNotDurable, _map
from candle_aggregator.webhook import Webhook, WebhookResult
from tickerstream.numbers import dumps_exact


@dataclass(slots=True)
class Closed:
    created: int = 0  # new items
    merged: int = 0  # items extended or replaced by a fuller candle
    already_written: int = 0  # candles the table already covered (replays)
    conflicts: int = 0  # overlapping candles left as stored
    write_requests: int = 0
    alerts_published: int = 0
    alert_requests: int = 0
    webhook: WebhookResult = field(default_factory=WebhookResult)
    failure: str | None = None  # the first transient failure: the window must be redelivered
    conflicted: list[str] = field(default_factory=list)


def close_window(
    candles: list[Candle],
    window: WindowKey,
    store: CandleStore,
    publisher: AlertPublisher,
    webhook: Webhook,
    threshold_percent: Decimal,
    clock: Callable[[], float],
) -> Closed:
    closed = Closed()
    written, requests, failure = store.write_window(candles, window)
    closed.write_requests = requests
    for ticker, w in written.items():
        if w.outcome == "created":
            closed.created += 1
        elif w.outcome in ("append", "prepend", "replace"):
            closed.merged += 1
        elif w.outcome == "stale":
            closed.already_written += 1
        else:
            closed.conflicts += 1
            closed.conflicted.append(ticker)

    # Alerts for what is durable, even if some packs failed: their tickers come again on the retry.
    due = [
        Alert(w.candle, window, threshold_percent)
        for w in written.values()
        if w.outcome != "conflict" and not w.alerted and crosses(w.candle, threshold_percent)
    ]
    due.sort(key=lambda alert: alert.candle.ticker)
    accepted, alert_requests, publish_failure = publisher.publish(due) if due else ([], 0, None)
    closed.alert_requests = alert_requests
    closed.alerts_published = len(accepted)

    now = datetime.fromtimestamp(clock(), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    mark_failures: list[str] = []
    lock = threading.Lock()

    def mark(alert: Alert) -> None:
        try:
            store.mark_alerted(alert.candle.ticker, window.start, alert.direction, now)
        except WriteNotDurable as exc:
            with lock:
                mark_failures.append(str(exc))

    _map(mark, accepted, store.concurrency)
    closed.alert_requests += len(accepted)
    closed.failure = failure or publish_failure or (mark_failures[0] if mark_failures else None)

    # Last, and never able to fail the window: SNS has every alert already.
    closed.webhook = webhook.deliver([alert.body() for alert in accepted], dumps_exact)
    return closed
