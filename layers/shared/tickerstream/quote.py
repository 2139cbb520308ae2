"""The Quote model: the one definition of a valid stock quote, shared by every function.

A quote looks like the Kinesis Data Firehose console's demo data:
``{"ticker_symbol": "QXZ", "sector": "HEALTHCARE", "change": -0.05, "price": 84.51}``.
The upper-case key variant used by the Firehose documentation (``TICKER_SYMBOL`` …) is accepted too.
``change`` and ``price`` follow the number rule (tickerstream.numbers): finite, |x| <= 1e12, at most 6
decimal places, so every value a quote can carry, and every sum of them, is storable in DynamoDB.

Validation is plain Python rather than pydantic: it runs once per stream record on the hot path and
pydantic's import alone would cost more than the whole per-batch budget of a cold start.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from tickerstream.numbers import FAST_LIMIT, MAX_ABS_NUMBER, PLACES_MESSAGE, has_allowed_places

TICKER_PATTERN = re.compile(r"[A-Z0-9.\-]{1,10}")
SECTOR_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9 _&.\-]{0,63}")
# A sector already in normal form (upper case, no surrounding spaces): the fast path's check.
_NORMAL_SECTOR = re.compile(r"[A-Z0-9](?:[A-Z0-9 _&.\-]{0,62}[A-Z0-9_&.\-])?")
FIELDS = ("ticker_symbol", "sector", "change", "price")
_UPPER_KEYS = {name: name.upper() for name in FIELDS}


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class InvalidQuote(ValueError):
    """A payload that is not a valid quote; ``errors`` lists every offending field."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


class Quote(NamedTuple):
    """A valid quote. A NamedTuple rather than a frozen dataclass: it is built once per stream
    record, and a tuple is several times cheaper to construct."""

    ticker_symbol: str
    sector: str
    change: float
    price: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "ticker_symbol": self.ticker_symbol,
            "sector": self.sector,
            "change": self.change,
            "price": self.price,
        }


def _field(payload: dict[str, Any], name: str) -> Any:
    value = payload.get(name)
    if value is None:
        value = payload.get(_UPPER_KEYS[name])
    return value


def _number(value: Any, name: str, errors: list[FieldError]) -> float | int | None:
    # bool is an int subclass; a quote with "price": true is a bug upstream, not a price of 1.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.append(FieldError(name, "must be a number" if value is not None else "is required"))
        return None
    if isinstance(value, int):
        if abs(value) > MAX_ABS_NUMBER:
            errors.append(FieldError(name, f"must be within ±{MAX_ABS_NUMBER:g}"))
            return None
        return value
    if not math.isfinite(value):
        errors.append(FieldError(name, "must be a finite number"))
        return None
    if abs(value) > MAX_ABS_NUMBER:
        errors.append(FieldError(name, f"must be within ±{MAX_ABS_NUMBER:g}"))
        return None
    if not has_allowed_places(value):
        errors.append(FieldError(name, PLACES_MESSAGE))
        return None
    return value


_ticker_match = TICKER_PATTERN.fullmatch
_sector_match = _NORMAL_SECTOR.fullmatch


def parse_quote(payload: Any) -> Quote:
    """Validate a decoded JSON value and return the Quote it describes, or raise InvalidQuote."""
    # Fast path for the usual, well-formed record; anything unusual goes through the full checks,
    # which also produce the error messages. NaN fails every comparison, so it falls through too.
    if type(payload) is dict:
        ticker = payload.get("ticker_symbol")
        sector = payload.get("sector")
        change = payload.get("change")
        price = payload.get("price")
        change_type, price_type = type(change), type(price)
        if (
            type(ticker) is str
            and type(sector) is str
            and (change_type is float or change_type is int)
            and (price_type is float or price_type is int)
            # has_allowed_places' fast check, inlined; larger values take the full checks
            and -FAST_LIMIT < change < FAST_LIMIT
            and 0 < price < FAST_LIMIT
            and change == round(change * 1e6) / 1e6
            and price == round(price * 1e6) / 1e6
            and _ticker_match(ticker)
            and _sector_match(sector)
        ):
            return Quote(ticker, sector, change, price)
    return _parse_quote_checked(payload)


def _parse_quote_checked(payload: Any) -> Quote:
    if not isinstance(payload, dict):
        raise InvalidQuote([FieldError("$", "must be a JSON object")])
    errors: list[FieldError] = []

    ticker = _field(payload, "ticker_symbol")
    if not isinstance(ticker, str):
        errors.append(FieldError("ticker_symbol", "is required" if ticker is None else "must be a string"))
    elif not TICKER_PATTERN.fullmatch(ticker):
        errors.append(
            FieldError("ticker_symbol", "must be 1-10 upper-case letters, digits, '.' or '-'")
        )

    sector = _field(payload, "sector")
    if not isinstance(sector, str):
        errors.append(FieldError("sector", "is required" if sector is None else "must be a string"))
    else:
        sector = sector.strip().upper()
        if not sector:
            errors.append(FieldError("sector", "must not be empty"))
        elif not SECTOR_PATTERN.fullmatch(sector):
            errors.append(
                FieldError("sector", "must be at most 64 letters, digits, spaces or '_&.-'")
            )

    change = _number(_field(payload, "change"), "change", errors)
    price = _number(_field(payload, "price"), "price", errors)
    if price is not None and price <= 0:
        errors.append(FieldError("price", "must be greater than 0"))

    if errors:
        raise InvalidQuote(errors)
    return Quote(ticker, sector, change, price)  # type: ignore[arg-type]


def is_valid_ticker(symbol: str) -> bool:
    return TICKER_PATTERN.fullmatch(symbol) is not None
