"""GET routes on Powertools' REST resolver (routing, CORS and error handling; no pydantic validation).

API Gateway hands `pathParameters` and query parameters over percent-decoded, while a REST API's `path`
(which the resolver routes on) stays encoded: parameters are read from the decoded fields, once
(decoding again would let `%2541` become `A`). Only ASCII spellings are accepted: `str.upper()`,
`str.isdigit()` and `int()` all take non-ASCII characters ('ß' -> 'SS', '²', '１').
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from tickerstream.http_api import ApiError, cors_config, install_error_handlers, json_response
from api_query.candles import CandleReader, candle_range, decode_token, encode_token, stored, token_range
from api_query.store import InvalidToken, QuoteReader

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
# The spellings a client may use; the stored forms are the Quote model's (upper case).
TICKER_PARAMETER = re.compile(r"[A-Za-z0-9.\-]{1,10}")
SECTOR_PARAMETER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _&.\-]{0,63}")
_ASCII_COUNT = re.compile(r"[0-9]{1,3}")
SECTOR_QUERY_PARAMETERS = frozenset({"sector", "limit", "next_token"})
CANDLE_QUERY_PARAMETERS = frozenset({"from", "to", "limit", "next_token"})


def normalize_ticker(raw: str) -> str:
    if not TICKER_PARAMETER.fullmatch(raw):
        raise ApiError(400, "invalid_ticker", "ticker must be 1-10 ASCII letters, digits, '.' or '-'")
    return raw.upper()


def normalize_sector(raw: str | None) -> str:
    if raw is None:
        raise ApiError(400, "missing_sector", "the sector query parameter is required")
    if not SECTOR_PARAMETER.fullmatch(raw):
        raise ApiError(400, "invalid_sector",
                       "sector must be 1-64 ASCII letters, digits, spaces or '_&.-', starting with a letter or digit")
    # Sectors are stored upper-case without trailing spaces, as the Quote model normalises them.
    return raw.upper().rstrip(" ")


def page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not _ASCII_COUNT.fullmatch(raw) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise ApiError(400, "invalid_limit", f"limit must be an integer from 1 to {MAX_PAGE_SIZE}")
    return int(raw)


def single_values(multi: Mapping[str, Sequence[str]] | None, allowed: frozenset[str]) -> dict[str, str]:
    """Each query parameter's one value; unknown or repeated parameters are refused, not guessed at."""
    values: dict[str, str] = {}
    for name, given in (multi or {}).items():
        if name not in allowed:
            raise ApiError(400, "unknown_parameter",
                           f"unknown query parameter {name!r}; known: {', '.join(sorted(allowed))}")
        if len(given) != 1:
            raise ApiError(400, "repeated_parameter", f"query parameter {name!r} may be given only once")
        values[name] = given[0]
    return values


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def build_resolver(reader: QuoteReader, allow_origin: str, logger: Logger, candles: CandleReader | None = None,
                   now: Callable[[], dt.datetime] = utc_now) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(cors=cors_config(allow_origin))

    def query(allowed: frozenset[str] = frozenset()) -> dict[str, str]:
        event = app.current_event
        multi = event.multi_value_query_string_parameters
        if multi is None and event.query_string_parameters:
            multi = {name: [value] for name, value in event.query_string_parameters.items()}
        return single_values(multi, allowed)

    def path_parameter(name: str) -> str:
        return (app.current_event.path_parameters or {}).get(name) or ""

    @app.get("/health")
    def health() -> Response:
        return json_response(200, {"status": "ok"})

    @app.get("/quotes/<ticker>")
    def latest_quote(ticker: str) -> Response:  # noqa: ARG001 - the encoded path's spelling
        query()
        symbol = normalize_ticker(path_parameter("ticker"))
        quote = reader.latest_quote(symbol)
        if quote is None:
            raise ApiError(404, "unknown_ticker", f"no quote for {symbol}")
        return json_response(200, quote)

    @app.get("/quotes/<ticker>/candles")
    def ticker_candles(ticker: str) -> Response:  # noqa: ARG001 - the encoded path's spelling
        params = query(CANDLE_QUERY_PARAMETERS)
        symbol = normalize_ticker(path_parameter("ticker"))
        token = params.get("next_token")
        if token is not None and "from" not in params and "to" not in params:
            window = token_range(token)  # a page of a default range continues that range, not a newer one
        else:
            window = candle_range(params.get("from"), params.get("to"), now())
        limit = page_size(params.get("limit"))
        after = decode_token(token, symbol, window) if token is not None else None
        if candles is None:
            raise ApiError(500, "internal_error", "internal error")
        page, last = candles.candles(symbol, window, limit, after)
        return json_response(200, {
            "ticker_symbol": symbol, "from": stored(window.start), "to": stored(window.end), "candles": page,
            "count": len(page), "next_token": encode_token(symbol, window, last) if last else None,
        })

    @app.get("/quotes")
    def sector_quotes() -> Response:
        params = query(SECTOR_QUERY_PARAMETERS)
        sector = normalize_sector(params.get("sector"))
        limit = page_size(params.get("limit"))
        try:
            quotes, token = reader.sector_quotes(sector, limit, params.get("next_token"))
        except InvalidToken as exc:
            raise ApiError(400, "invalid_next_token", str(exc)) from None
        return json_response(200, {"sector": sector, "quotes": quotes, "count": len(quotes), "next_token": token})

    @app.get("/sectors/<sector>")
    def sector_summary(sector: str) -> Response:  # noqa: ARG001 - the encoded path's spelling
        query()
        name = normalize_sector(path_parameter("sector"))
        summary = reader.sector_summary(name)
        if summary is None:
            raise ApiError(404, "unknown_sector", f"no summary for sector {name}")
        return json_response(200, summary)

    install_error_handlers(app, logger)

    return app
