"""Price alerts: one SNS message per ticker and window that moved more than the threshold.

A move is ``(close - open) / open × 100`` over the window's candle (candles.move_percent); a window
alerts when its absolute value is MORE than AlertThresholdPercent (exactly at the threshold: no alert;
a flat window or a single quote moves 0 %). Each message carries the attributes ``ticker``, ``sector``
and ``direction`` (up | down) so subscriptions can filter, and ``alert_id`` (ticker and window start)
so a subscriber can drop the rare duplicate (delivery is at least once: see flush.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from candle_aggregator.candles import Candle, direction, move_percent
from candle_aggregator.store import WindowKey, WriteNotDurable
from tickerstream.numbers import dumps_exact

MAX_PUBLISH_BATCH = 10  # SNS PublishBatch entries per request


@dataclass(frozen=True, slots=True)
class Alert:
    candle: Candle
    window: WindowKey
    threshold_percent: Decimal

    @property
    def direction(self) -> str:
        return direction(self.candle)

    @property
    def alert_id(self) -> str:
        return f"{self.candle.ticker}#{self.window.start}"

    def body(self) -> dict[str, Any]:
        c = self.candle
        return {
            "alert_id": self.alert_id,
            "ticker": c.ticker,
            "sector": c.sector,
            "direction": self.direction,
            "move_percent": round(move_percent(c), 4),
            "threshold_percent": self.threshold_percent,
            "window_start": self.window.start,
            "window_end": self.window.end,
            "open": Decimal(repr(c.open)),
            "high": Decimal(repr(c.high)),
            "low": Decimal(repr(c.low)),
            "close": Decimal(repr(c.close)),
            "count": c.count,
        }

    def subject(self) -> str:
        move = round(move_percent(self.candle), 2)
        return f"{self.candle.ticker} {self.direction} {abs(move)}% in the window from {self.window.start}"


class AlertPublisher:
    def __init__(self, client: Any, topic_arn: str):
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, alerts: list[Alert]) -> tuple[list[Alert], int, str | None]:
        """Publish, 10 per request: (alerts SNS accepted, requests, the first failure or None)."""
        accepted: list[Alert] = []
        requests = 0
        for start in range(0, len(alerts), MAX_PUBLISH_BATCH):
            chunk = alerts[start : start + MAX_PUBLISH_BATCH]
            entries = [
                {
                    "Id": str(number),
                    "Message": dumps_exact(alert.body()),
                    "Subject": alert.subject()[:100],
                    "MessageAttributes": {
                        "ticker": {"DataType": "String", "StringValue": alert.candle.ticker},
                        "sector": {"DataType": "String", "StringValue": alert.candle.sector},
                        "direction": {"DataType": "String", "StringValue": alert.direction},
                    },
                }
                for number, alert in enumerate(chunk)
            ]
            requests += 1
            try:
                response = self._client.publish_batch(TopicArn=self._topic_arn, PublishBatchRequestEntries=entries)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                return accepted, requests, f"{error.get('Code')}: {error.get('Message')}"
            except BotoCoreError as exc:
                return accepted, requests, f"{type(exc).__name__}: {exc}"
            ok = {int(entry["Id"]) for entry in response.get("Successful") or []}
            accepted += [alert for number, alert in enumerate(chunk) if number in ok]
            failed = response.get("Failed") or []
            if failed:
                return accepted, requests, f"{failed[0].get('Code')}: {failed[0].get('Message')}"
        return accepted, requests, None


def parse_message(message: str) -> dict[str, Any]:
    """An alert message read back (tests and the demo)."""
    return json.loads(message)


__all__ = ["Alert", "AlertPublisher", "WriteNotDurable", "parse_message"]
