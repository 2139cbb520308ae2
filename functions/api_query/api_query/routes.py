"""GET routes on Powertools' REST resolver (routing, CORS and error handling; no pydantic validation)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from tickerstream.http_api import ApiError, cors_config, install_error_handlers, json_response
from api_query.store import InvalidToken, QuoteReader
from tickerstream.quote import SECTOR_PATTERN, is_valid_ticker

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


def normalize_ticker(raw: str) -> str:
    ticker = unquote(raw).strip().upper()
    if not is_valid_ticker(ticker):
        raise ApiError(400, "invalid_ticker", "ticker must be 1-10 letters, digits, '.' or '-'")
    return ticker


def normalize_sector(raw: str | None) -> str:
    # Sectors are stored upper-case and stripped, exactly as the Quote model normalises them.
    sector = unquote(raw or "").strip().upper()
    if not sector:
        raise ApiError(400, "missing_sector", "the sector query parameter is required")
    if not SECTOR_PATTERN.fullmatch(sector):
        raise ApiError(400, "invalid_sector", "sector must be at most 64 letters, digits, spaces or '_&.-'")
    return sector


# str.isdigit() and int() accept any Unicode digit ('²', '①', '１'); a limit is ASCII digits only.
_ASCII_COUNT = re.compile(r"[0-9]{1,3}")


def page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not _ASCII_COUNT.fullmatch(raw) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise ApiError(400, "invalid_limit", f"limit must be an integer from 1 to {MAX_PAGE_SIZE}")
    return int(raw)


def build_resolver(reader: QuoteReader, allow_origin: str, logger: Logger) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(cors=cors_config(allow_origin))

    @app.get("/health")
    def health() -> Response:
        return json_response(200, {"status": "ok"})

    @app.get("/quotes/<ticker>")
    def latest_quote(ticker: str) -> Response:
        symbol = normalize_ticker(ticker)
        quote = reader.latest_quote(symbol)
        if quote is None:
            raise ApiError(404, "unknown_ticker", f"no quote for {symbol}")
        return json_response(200, quote)

    @app.get("/quotes")
    def sector_quotes() -> Response:
        params = app.current_event.query_string_parameters or {}
        sector = normalize_sector(params.get("sector"))
        limit = page_size(params.get("limit"))
        try:
            quotes, token = reader.sector_quotes(sector, limit, params.get("next_token") or None)
        except InvalidToken as exc:
            raise ApiError(400, "invalid_next_token", str(exc)) from None
        return json_response(200, {"sector": sector, "quotes": quotes, "count": len(quotes), "next_token": token})

    @app.get("/sectors/<sector>")
    def sector_summary(sector: str) -> Response:
        name = normalize_sector(sector)
        summary = reader.sector_summary(name)
        if summary is None:
            raise ApiError(404, "unknown_sector", f"no summary for sector {name}")
        return json_response(200, summary)

    install_error_handlers(app, logger)

    return app
