"""Reads of the Quotes table (GetItem on the table, Query on the BySector index) - nothing else."""

from __future__ import annotations

import base64
import binascii
import json
import re
from decimal import Decimal
from typing import Any

from tickerstream.keys import BY_SECTOR_INDEX, sector_index_key, sector_summary_key, ticker_key
from tickerstream.quote import is_valid_ticker

# Attributes a client sees of a latest-quote item (keys and stream positions stay internal).
QUOTE_FIELDS = ("ticker_symbol", "sector", "price", "change", "updated_at", "arrival_time", "shard_id",
                "sequence_number")


class InvalidToken(ValueError):
    """A next_token this API did not issue for this query."""


def _value(attribute: dict[str, Any]) -> Any:
    if "S" in attribute:
        return attribute["S"]
    if "N" in attribute:
        text = attribute["N"]
        # Exact, as stored: the response encoder writes Decimals digit for digit (numbers.dumps_exact).
        return int(text) if text.lstrip("-").isdigit() else Decimal(text)
    if "BOOL" in attribute:
        return attribute["BOOL"]
    return None


def _quote(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _value(item[name]) for name in QUOTE_FIELDS if name in item}


def encode_token(sector: str, ticker: str) -> str:
    raw = json.dumps({"s": sector, "t": ticker}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# A token names a sector (<= 64 characters) and a ticker (<= 10): anything longer was not issued here.
MAX_TOKEN_LENGTH = 200
_TOKEN_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


def decode_token(token: str, sector: str) -> str:
    """The ticker a page ended at; the token must come from a query of the same sector."""
    if len(token) > MAX_TOKEN_LENGTH or not _TOKEN_ALPHABET.fullmatch(token):
        raise InvalidToken("next_token is not valid")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidToken("next_token is not valid") from None
    if not isinstance(payload, dict) or payload.get("s") != sector:
        raise InvalidToken("next_token belongs to another query")
    ticker = payload.get("t")
    if not isinstance(ticker, str) or not is_valid_ticker(ticker):
        raise InvalidToken("next_token is not valid")
    return ticker


class QuoteReader:
    def __init__(self, client: Any, table_name: str):
        self._client = client
        self._table = table_name

    def latest_quote(self, ticker: str) -> dict[str, Any] | None:
        pk, sk = ticker_key(ticker)
        item = self._client.get_item(TableName=self._table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
        return _quote(item) if item else None

    def sector_summary(self, sector: str) -> dict[str, Any] | None:
        pk, sk = sector_summary_key(sector)
        item = self._client.get_item(TableName=self._table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
        if not item:
            return None
        count = int(_value(item.get("quote_count", {"N": "0"})) or 0)
        change_sum = _value(item.get("change_sum", {"N": "0"})) or 0
        advances = int(_value(item.get("advances", {"N": "0"})) or 0)
        declines = int(_value(item.get("declines", {"N": "0"})) or 0)
        return {
            "sector": _value(item["sector"]) if "sector" in item else sector,
            "quote_count": count,
            "change_sum": change_sum,
            "average_change": round(change_sum / count, 6) if count else None,
            "advances": advances,
            "declines": declines,
            "unchanged": max(0, count - advances - declines),
            "updated_at": _value(item["updated_at"]) if "updated_at" in item else None,
        }

    def sector_quotes(self, sector: str, limit: int, next_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a sector's latest quotes, ordered by symbol, and the token of the next page."""
        gsi1pk = sector_index_key(sector)
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_SECTOR_INDEX,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": gsi1pk}},
            "Limit": limit,
        }
        if next_token is not None:
            after = decode_token(next_token, sector)
            pk, sk = ticker_key(after)
            request["ExclusiveStartKey"] = {
                "gsi1pk": {"S": gsi1pk}, "gsi1sk": {"S": after}, "pk": {"S": pk}, "sk": {"S": sk},
            }
        response = self._client.query(**request)
        quotes = [_quote(item) for item in response.get("Items") or []]
        last = response.get("LastEvaluatedKey")
        token = encode_token(sector, last["gsi1sk"]["S"]) if last and quotes else None
        return quotes, token
