"""POST /quotes on Powertools' REST resolver (routing, CORS and error handling; no pydantic validation)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

from tickerstream.http_api import ApiError, cors_config, install_error_handlers, json_response
from api_ingest.ingest import publish, quotes_of, read_body


def build_resolver(
    client: Any,
    stream_name: str,
    allow_origin: str,
    logger: Logger,
    metrics: Metrics,
    sleep: Callable[[float], None] = time.sleep,
) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(cors=cors_config(allow_origin))

    @app.post("/quotes")
    def post_quotes() -> Response:
        event = app.current_event
        payload = read_body(event.body, event.is_base64_encoded, event.headers.get("content-type"))
        try:
            quotes = quotes_of(payload)
        except ApiError as error:
            if error.code == "invalid_quotes":
                metrics.add_metric("QuotesRejected", MetricUnit.Count, len({d["index"] for d in error.details or []}))
            raise
        accepted = publish(quotes, client, stream_name, sleep)
        metrics.add_metric("QuotesAccepted", MetricUnit.Count, len(quotes))
        logger.info("Quotes accepted", quotes=len(quotes), tickers=len({q.ticker_symbol for q in quotes}))
        return json_response(202, accepted.body())

    install_error_handlers(app, logger)

    return app
