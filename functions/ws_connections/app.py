"""WsConnections handler: one function for every route of the board's WebSocket API, by routeKey.

$connect stores the connection (who, from the authorizer's context) and picks the subprotocol;
$disconnect removes its items; subscribe/unsubscribe change what it receives and answer with what it
now has; $default answers pings and explains what is allowed. Bad messages get an error reply.
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

from ws_connections import messages, routes
from ws_connections.messages import BadMessage
from ws_connections.store import ConnectionStore, Contention

logger = Logger()
metrics = Metrics()

settings = routes.Settings(
    known_sectors=frozenset(s.strip().upper() for s in os.environ.get("BOARD_SECTORS", "").split(",") if s.strip()),
    max_subscriptions=int(os.environ.get("BOARD_MAX_SUBSCRIPTIONS", "50")),
    ttl_seconds=int(os.environ.get("CONNECTION_TTL_SECONDS", "7500")),
)
store = ConnectionStore(
    boto3.client("dynamodb", config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=3)),
    os.environ["CONNECTIONS_TABLE"],
)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event.get("requestContext") or {}
    route, connection_id = request.get("routeKey"), request.get("connectionId", "")
    if route == "$connect":
        offered = _offered(event)
        response = routes.connect(store, connection_id, request.get("authorizer") or {}, offered, time.time(), settings)
        metrics.add_metric("ConnectionsOpened", MetricUnit.Count, 1 if response["statusCode"] == 200 else 0)
        return response
    if route == "$disconnect":
        metrics.add_metric("ConnectionsClosed", MetricUnit.Count, 1)
        return routes.disconnect(store, connection_id)
    try:
        message = messages.decode(event.get("body"))
        if route == "subscribe":
            response = routes.subscribe(store, connection_id, message, settings)
        elif route == "unsubscribe":
            response = routes.unsubscribe(store, connection_id, message, settings)
        elif message.get("action") == "ping":
            response = routes.reply(200, messages.pong())
        else:
            raise BadMessage(messages.unknown_action(message))
    except BadMessage as refusal:
        metrics.add_metric("MessagesRefused", MetricUnit.Count, 1)
        logger.info("Message refused", reason=str(refusal), route=route, connection_id=connection_id)
        return routes.reply(400, messages.error(str(refusal)))
    except Contention:
        metrics.add_metric("MessagesRefused", MetricUnit.Count, 1)
        logger.warning("Subscriptions changed concurrently; asked the client to send again", connection_id=connection_id)
        return routes.reply(409, messages.error("Your subscriptions changed while this message was applied; send it again."))
    metrics.add_metric("MessagesAnswered", MetricUnit.Count, 1)
    return response


def _offered(event: dict[str, Any]) -> list[str]:
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "sec-websocket-protocol" and isinstance(value, str):
            return [entry.strip() for entry in value.split(",") if entry.strip()]
    return []
