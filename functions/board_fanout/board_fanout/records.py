"""Stream records -> what to push. Pure decoding; nothing here talks to AWS.

Kinesis: every user record (KPL aggregates included) is decoded with the layer's codecs; only the
latest valid quote of each ticker survives, by stream position (sequence number, then sub-sequence).
CandlesTable's stream: each written item's NEW_IMAGE becomes a candle.
Invalid records are counted (QuoteProcessor quarantines them; here they only cost their push).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from tickerstream.codec import InvalidRecord, decode_base64, decode_quote, position_key
from tickerstream.kpl import KPL_MAGIC, deaggregate
from tickerstream.quote import Quote, is_valid_ticker


class Latest(NamedTuple):
    quote: Quote
    sequence: str
    sub_sequence: int
    arrived_at: str  # ISO-8601 UTC, from approximateArrivalTimestamp

    @property
    def position(self) -> str:
        return position_key(self.sequence, self.sub_sequence)


@dataclass
class QuoteBatch:
    latest: dict[str, Latest] = field(default_factory=dict)
    user_records: int = 0
    invalid: int = 0


def iso_z(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def latest_quotes(records: list[dict[str, Any]]) -> QuoteBatch:
    batch = QuoteBatch()
    for record in records:
        kinesis = record.get("kinesis") or {}
        sequence = str(kinesis.get("sequenceNumber", ""))
        arrived_at = iso_z(float(kinesis.get("approximateArrivalTimestamp") or 0.0))
        try:
            data = decode_base64(kinesis.get("data", ""))
            users = deaggregate(data) if data[:4] == KPL_MAGIC else None
        except InvalidRecord:
            batch.user_records += 1
            batch.invalid += 1
            continue
        for sub_sequence, payload in ([(u.sub_sequence_number, u.data) for u in users] if users is not None else [(0, data)]):
            batch.user_records += 1
            try:
                quote = decode_quote(payload)
            except InvalidRecord:
                batch.invalid += 1
                continue
            candidate = Latest(quote, sequence, sub_sequence, arrived_at)
            held = batch.latest.get(quote.ticker_symbol)
            if held is None or candidate.position > held.position:
                batch.latest[quote.ticker_symbol] = candidate
    return batch


@dataclass
class CandleBatch:
    candles: list[dict[str, Any]] = field(default_factory=list)
    invalid: int = 0


CANDLE_NUMBERS = ("open", "high", "low", "close")


def written_candles(records: list[dict[str, Any]]) -> CandleBatch:
    """INSERT and MODIFY images of CandlesTable (the mapping's filter passes only those; REMOVEs are skipped here too)."""
    batch = CandleBatch()
    for record in records:
        if record.get("eventName") not in ("INSERT", "MODIFY"):
            continue
        image = (record.get("dynamodb") or {}).get("NewImage")
        try:
            batch.candles.append(_candle(image))
        except (KeyError, TypeError, ValueError, InvalidOperation):
            batch.invalid += 1
    return batch


def _candle(image: Any) -> dict[str, Any]:
    ticker = image["ticker"]["S"]
    if not is_valid_ticker(ticker):
        raise ValueError(f"not a ticker: {ticker!r}")
    candle: dict[str, Any] = {
        "ticker_symbol": ticker, "sector": image["sector"]["S"],
        "window_start": image["window_start"]["S"], "window_end": image["window_end"]["S"],
    }
    for name in CANDLE_NUMBERS:
        candle[name] = _number(image[name]["N"])
    candle["count"] = int(image["count"]["N"])
    return candle


def _number(text: str) -> int | float:
    value = Decimal(text)
    if not value.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    return int(value) if value == value.to_integral_value() and "." not in text else float(value)
