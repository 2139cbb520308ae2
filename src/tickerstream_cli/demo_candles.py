"""`make demo`'s view of candles and alerts: CandleAggregator's closed windows, the alerts it published
(recorded on the candles) and what the local webhook receiver got."""

from __future__ import annotations

from typing import Any

# Short windows, so that candles close while the demo runs (the template's default is 60 s).
DEMO_CANDLE_WINDOW_SECONDS = 3


def candle_items(deployment: Any) -> list[dict[str, str]]:
    if "CandlesTable" not in deployment.physical:
        return []
    dynamodb = deployment.client("dynamodb")
    items = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=deployment.physical["CandlesTable"]):
        items += [{k: next(iter(v.values())) for k, v in item.items()} for item in page["Items"]]
    return items


def start_webhook(deployment: Any) -> Any:
    """A local receiver the alerts webhook secret points at (as an operator's put-secret-value would)."""
    from tickerstream_local.provision_analytics import point_secret_at
    from tickerstream_local.webhook_receiver import WebhookReceiver

    if "AlertWebhookSecret" not in deployment.ctx.refs:
        return None
    receiver = WebhookReceiver().start()
    point_secret_at(deployment, "AlertWebhookSecret", receiver.url)
    return receiver


def candle_rows(deployment: Any, receiver: Any) -> list[tuple[str, str]]:
    items = candle_items(deployment)
    if not items and "CandlesTable" not in deployment.physical:
        return []
    windows = {item["window_start"] for item in items}
    alerted = sorted((i for i in items if "alerted_at" in i), key=lambda i: (i["window_start"], i["ticker"]))
    rows = [
        ("CandleAggregator: candles closed", f"{len(items):,} in {len(windows)} windows"),
        ("CandleAggregator: alerts to SNS", f"{len(alerted):,}"),
    ]
    if receiver is not None:
        rows.append(("  alerts at the local webhook", f"{len(receiver.alerts):,}"))
    latest = max(windows, default=None)
    if latest:
        closed = sorted((i for i in items if i["window_start"] == latest), key=lambda i: i["ticker"])[:4]
        text = ", ".join(f"{i['ticker']} {i['open']}→{i['close']} ({i['count']})" for i in closed)
        rows.append((f"  latest closed window {latest[11:]}", text))
    for item in alerted[-3:]:
        move = (float(item["close"]) - float(item["open"])) / float(item["open"]) * 100
        rows.append((f"  alert {item['window_start'][11:]}", f"{item['ticker']} {item['alert_direction']} {abs(move):.1f}%"))
    return rows
