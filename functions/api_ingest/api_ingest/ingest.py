"""Turn a POST /quotes request into validated quotes, and put them on the stream.

Nothing is written unless every quote of the request is valid: a 400 lists every invalid item (index,
field, message) so a client can fix its whole batch in one round trip.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tickerstream.http_api import ApiError
from tickerstream.codec import encode_quote
from tickerstream.kinesis_put import MAX_RECORDS_PER_REQUEST, PutResult, put_records
from tickerstream.quote import InvalidQuote, Quote, parse_quote

MAX_QUOTES = MAX_RECORDS_PER_REQUEST  # one PutRecords call's worth
# 500 quotes of the demo's ~90 bytes are ~45 KiB; 1 MiB leaves room for pretty-printed JSON while keeping
# a hostile body from costing the function more than a few milliseconds to parse.
MAX_BODY_BYTES = 1024 * 1024


def _media_type(content_type: str | None) -> tuple[str, dict[str, str]]:
    media_type, _, rest = (content_type or "").partition(";")
    params = {}
    for part in rest.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            params[name.strip().lower()] = value.strip().strip('"').lower()
    return media_type.strip().lower(), params


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which duplicate wins; a body that means two things is refused instead.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"duplicate key {json.dumps(duplicate)}")
    return obj


def read_body(body: str | None, is_base64: bool, content_type: str | None) -> Any:
    """The decoded JSON of the request, or ApiError 415/413/400.

    JSON here is RFC 8259's: UTF-8, no NaN/Infinity, and (our rule) no duplicate keys.
    """
    media_type, params = _media_type(content_type)
    if not _is_json(media_type):
        raise ApiError(415, "unsupported_media_type", "send the quotes as JSON (Content-Type: application/json)")
    if params.get("charset", "utf-8") not in ("utf-8", "utf8"):
        raise ApiError(415, "unsupported_media_type", "JSON must be sent as UTF-8 (charset=utf-8 or none)")
    raw: bytes
    if body is None:
        raw = b""
    elif is_base64:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "invalid_body", "the body is not valid base64") from None
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"the body is {len(raw)} bytes; at most {MAX_BODY_BYTES} are accepted")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise ApiError(400, "invalid_json", "the body is empty")
    try:
        return json.loads(text, parse_constant=_no_constants, object_pairs_hook=_object_without_duplicates)
    except RecursionError:
        raise ApiError(400, "invalid_json", "the body is nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None


def quotes_of(payload: Any) -> list[Quote]:
    """Every quote of a one-quote body or a {"quotes": [...]} body, or ApiError listing every problem."""
    if isinstance(payload, dict) and "quotes" in payload:
        items = payload["quotes"]
        if not isinstance(items, list):
            raise ApiError(400, "invalid_body", '"quotes" must be an array of quote objects')
        if not items:
            raise ApiError(400, "invalid_body", '"quotes" must hold at least one quote')
        if len(items) > MAX_QUOTES:
            raise ApiError(413, "too_many_quotes", f"{len(items)} quotes; at most {MAX_QUOTES} per request")
    elif isinstance(payload, dict):
        items = [payload]
    else:
        raise ApiError(400, "invalid_body", 'send one quote object or {"quotes": [quote, ...]}')

    quotes: list[Quote] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            quotes.append(parse_quote(item))
        except InvalidQuote as exc:
            problems.extend({"index": index, **error.as_dict()} for error in exc.errors)
    if problems:
        invalid = len({problem["index"] for problem in problems})
        raise ApiError(400, "invalid_quotes", f"{invalid} of {len(items)} quotes are invalid; nothing was written",
                       details=problems)
    return quotes


@dataclass(frozen=True, slots=True)
class Accepted:
    quotes: list[Quote]
    results: list[PutResult]

    def body(self) -> dict[str, Any]:
        return {
            "accepted": sum(result.ok for result in self.results),
            "records": [
                {
                    "index": result.index,
                    "ticker_symbol": self.quotes[result.index].ticker_symbol,
                    "shard_id": result.shard_id,
                    "sequence_number": result.sequence_number,
                }
                for result in self.results
            ],
        }


def publish(
    quotes: list[Quote],
    client: Any,
    stream_name: str,
    sleep: Callable[[float], None],
    max_attempts: int = 4,
) -> Accepted:
    """Put every quote on the stream (partition key = ticker), or ApiError 503/500 saying which were not."""
    records = [(quote.ticker_symbol, encode_quote(quote)) for quote in quotes]
    results = put_records(client, stream_name, records, max_attempts=max_attempts, sleep=sleep)
    failures = [result for result in results if not result.ok]
    if not failures:
        return Accepted(quotes, results)
    details = [
        {"index": r.index, "ticker_symbol": quotes[r.index].ticker_symbol, "error_code": r.error_code}
        for r in failures
    ]
    accepted = len(results) - len(failures)
    message = f"{len(failures)} of {len(results)} quotes were not written ({accepted} were); resend only those listed"
    if all(result.retryable for result in failures):
        raise ApiError(503, "stream_unavailable", message, details=details, headers={"Retry-After": "1"})
    raise ApiError(500, "stream_error", message, details=details)
