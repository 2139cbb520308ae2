"""GET /quotes/{ticker}/candles: the time range a request asks for, its page token, and the Candles reads.

A candle is one ticker's closed window (CandleAggregator writes it; see the Candles contract in
template.yaml): the route returns the candles whose `window_start` lies in [from, to). Times are
RFC 3339 date-times, i.e. ISO-8601 with seconds and a UTC offset (`2026-11-21T15:36:00Z`, `…+01:00`); the range is at most MAX_RANGE, and
without `from`/`to` it is the DEFAULT_RANGE before now.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tickerstream.http_api import ApiError
from tickerstream.quote import is_valid_ticker

MAX_RANGE = dt.timedelta(hours=24)
DEFAULT_RANGE = dt.timedelta(hours=1)
# window_start / window_end as stored (Lambda's window.start): sorts as it reads, year 1000-9999.
STORED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
CANDLE_FIELDS = ("window_start", "window_end", "sector", "open", "high", "low", "close", "count")
# RFC 3339's date-time (ISO-8601 with seconds and an offset; a time without an offset names no instant),
# in ASCII digits only (fromisoformat takes other scripts' digits).
_ISO_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
MAX_TOKEN_LENGTH = 200
_TOKEN_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
_STORED = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def parse_instant(name: str, raw: str) -> dt.datetime:
    invalid = ApiError(400, "invalid_time",
                       f"{name} must be an ISO-8601 time with seconds and a UTC offset, e.g. 2026-11-21T15:36:00Z")
    if not _ISO_INSTANT.fullmatch(raw):
        raise invalid
    try:
        moment = dt.datetime.fromisoformat(raw.upper())
    except ValueError:  # month 13, second 60 (no leap seconds: no window starts there) …
        raise invalid from None
    fraction = raw[20:].split("+")[0].split("-")[0].rstrip("Zz") if raw[19:20] == "." else ""
    try:
        if fraction[6:].strip("0"):  # past microseconds: round up, so `window_start < to` keeps its meaning
            moment += dt.timedelta(microseconds=1)
        moment = moment.astimezone(dt.UTC)
    except OverflowError:
        raise invalid from None
    if not 1000 <= moment.year <= 9999:
        raise invalid
    return moment


def stored(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(STORED_FORMAT)


@dataclass(frozen=True)
class CandleRange:
    """[start, end) in whole seconds, as the window_start texts to read (first and last, inclusive)."""

    start: dt.datetime
    end: dt.datetime

    @property
    def first(self) -> str:
        return stored(self.start)

    @property
    def last(self) -> str:  # window starts are whole seconds: < end is <= end - 1 s
        return stored(self.end - dt.timedelta(seconds=1))


def _whole_second_ceiling(moment: dt.datetime) -> dt.datetime:
    floor = moment.replace(microsecond=0)
    return floor if floor == moment else floor + dt.timedelta(seconds=1)


def candle_range(raw_from: str | None, raw_to: str | None, now: dt.datetime) -> CandleRange:
    end = parse_instant("to", raw_to) if raw_to is not None else now
    start = parse_instant("from", raw_from) if raw_from is not None else end - DEFAULT_RANGE
    if start >= end:
        raise ApiError(400, "invalid_range", "from must be before to")
    if end - start > MAX_RANGE:
        hours = int(MAX_RANGE.total_seconds() // 3600)
        raise ApiError(400, "range_too_wide", f"from and to may be at most {hours} hours apart")
    try:
        start, end = _whole_second_ceiling(start), _whole_second_ceiling(end)
    except OverflowError:  # the last second of year 9999
        raise ApiError(400, "invalid_time", "to must be before 9999-12-31T23:59:59Z") from None
    if start >= end:  # both inside the same second: no window can start there
        end = start
    return CandleRange(start, end)


def encode_token(ticker: str, window: CandleRange, after: str) -> str:
    raw = json.dumps({"t": ticker, "f": window.first, "l": window.last, "a": after}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _token_payload(token: str) -> dict[str, str]:
    if len(token) > MAX_TOKEN_LENGTH or not _TOKEN_ALPHABET.fullmatch(token):
        raise ApiError(400, "invalid_next_token", "next_token is not valid")
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise ApiError(400, "invalid_next_token", "next_token is not valid") from None
    if not isinstance(payload, dict) or not all(isinstance(payload.get(k), str) for k in "tfla"):
        raise ApiError(400, "invalid_next_token", "next_token is not valid")
    if not all(_STORED.fullmatch(payload[k]) for k in "fla"):
        raise ApiError(400, "invalid_next_token", "next_token is not valid")
    return payload


def token_range(token: str) -> CandleRange:
    """The range a token was issued for: a next page without from/to continues it."""
    payload = _token_payload(token)
    try:
        start = dt.datetime.strptime(payload["f"], STORED_FORMAT).replace(tzinfo=dt.UTC)
        end = dt.datetime.strptime(payload["l"], STORED_FORMAT).replace(tzinfo=dt.UTC) + dt.timedelta(seconds=1)
    except (ValueError, OverflowError):
        raise ApiError(400, "invalid_next_token", "next_token is not valid") from None
    if not dt.timedelta(0) < end - start <= MAX_RANGE:
        raise ApiError(400, "invalid_next_token", "next_token is not valid")
    return CandleRange(start, end)


def decode_token(token: str, ticker: str, window: CandleRange) -> str:
    """The window_start a page ended at; the token must come from the same ticker and range."""
    payload = _token_payload(token)
    if (payload["t"], payload["f"], payload["l"]) != (ticker, window.first, window.last):
        raise ApiError(400, "invalid_next_token", "next_token belongs to another query (ticker, from or to)")
    after = payload["a"]
    if not window.first <= after <= window.last or not is_valid_ticker(ticker):
        raise ApiError(400, "invalid_next_token", "next_token is not valid")
    return after


def _number(attribute: dict[str, Any]) -> int | Decimal:
    text = attribute["N"]
    # Exact, as stored: the response encoder writes Decimals digit for digit (numbers.dumps_exact).
    return int(text) if text.lstrip("-").isdigit() else Decimal(text)


def _candle(item: dict[str, Any]) -> dict[str, Any]:
    candle: dict[str, Any] = {}
    for name in CANDLE_FIELDS:
        attribute = item.get(name)
        if attribute is not None:
            candle[name] = attribute["S"] if "S" in attribute else _number(attribute)
    return candle


class CandleReader:
    """Query on CandlesTable (ticker = :t AND window_start BETWEEN :first AND :last) - nothing else."""

    def __init__(self, client: Any, table_name: str):
        self._client = client
        self._table = table_name

    def candles(self, ticker: str, window: CandleRange, limit: int,
                after: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the ticker's candles in `window`, oldest first, and the window_start it ended at
        when more follow."""
        if window.start >= window.end:
            return [], None
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "ticker = :t AND window_start BETWEEN :first AND :last",
            "ExpressionAttributeValues": {":t": {"S": ticker}, ":first": {"S": window.first},
                                          ":last": {"S": window.last}},
            # One more than a page: a next_token only when another candle really follows.
            "Limit": limit + 1,
        }
        if after is not None:
            request["ExclusiveStartKey"] = {"ticker": {"S": ticker}, "window_start": {"S": after}}
        response = self._client.query(**request)
        items = response.get("Items") or []
        page = [_candle(item) for item in items[:limit]]
        # DynamoDB also stops at 1 MB of items read, with LastEvaluatedKey: then more may follow too.
        more = len(items) > limit or "LastEvaluatedKey" in response
        return page, (page[-1]["window_start"] if more and page else None)

