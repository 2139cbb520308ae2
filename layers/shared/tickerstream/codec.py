"""Wire codecs for quotes: Kinesis record data ⇄ Quote, and where a record sits in its shard."""

from __future__ import annotations

import binascii
import json

from tickerstream.quote import InvalidQuote, Quote, parse_quote

_loads = json.JSONDecoder().decode

# A demo quote is under 100 bytes; anything past this is not a quote, and quarantining it early keeps
# a hostile producer from making every consumer parse megabytes of JSON.
MAX_QUOTE_BYTES = 4096


class InvalidRecord(ValueError):
    """A stream record that cannot become a Quote. ``reason`` is a stable machine-readable code."""

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def decode_base64(text: str) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidRecord("invalid_base64", str(exc)) from None


def decode_quote(data: bytes) -> Quote:
    """Bytes of one user record → Quote, or InvalidRecord naming why not."""
    if len(data) > MAX_QUOTE_BYTES:
        raise InvalidRecord("oversized", f"{len(data)} bytes, at most {MAX_QUOTE_BYTES} allowed")
    try:
        payload = _loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidRecord("invalid_utf8", str(exc)) from None
    except ValueError as exc:
        raise InvalidRecord("invalid_json", str(exc)) from None
    if type(payload) is not dict:
        raise InvalidRecord("not_an_object", f"expected a JSON object, got {type(payload).__name__}")
    try:
        return parse_quote(payload)
    except InvalidQuote as exc:
        raise InvalidRecord("invalid_quote", str(exc)) from None


def encode_quote(quote: Quote) -> bytes:
    return json.dumps(quote.as_dict(), separators=(",", ":")).encode()


# Kinesis sequence numbers are decimal strings of up to 129 digits: too long for a DynamoDB number,
# so positions are zero-padded strings whose byte order equals numeric order.
_SEQUENCE_WIDTH = 129
_SUB_SEQUENCE_WIDTH = 10


def position_key(sequence_number: str, sub_sequence_number: int = 0) -> str:
    """Sortable key for a user record's place in the stream (KPL sub-records share a sequence number)."""
    return f"{sequence_number.zfill(_SEQUENCE_WIDTH)}.{sub_sequence_number:0{_SUB_SEQUENCE_WIDTH}d}"
