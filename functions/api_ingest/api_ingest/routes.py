"""POST /quotes on Powertools' REST resolver (routing, CORS and error handling; no pydantic validation)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

from api_ingest.http import ApiError, cors_config, error_response, json_response
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

    def request_id() -> str | None:
        return app.current_event.request_context.request_id

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

    @app.not_found
    def not_found(_: Any) -> Response:
        return error_response(ApiError(404, "not_found", "no such route"), request_id())

    @app.exception_handler(ApiError)
    def api_error(error: ApiError) -> Response:
        log = logger.warning if error.status >= 500 else logger.info
        log("Request refused", status=error.status, code=error.code, details=error.details)
        return error_response(error, request_id())

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.exception("Unexpected error")
        return error_response(ApiError(500, "internal_error", "internal error"), request_id())

    return app
