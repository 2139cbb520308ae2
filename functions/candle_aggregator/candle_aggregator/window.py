"""One tumbling window of one shard: records → candles per ticker, and the state Lambda carries between
invocations of the window.

Aggregation keeps a ticker's record only if it comes after the last one already aggregated for it
(Lambda processes a record the first time in stream order; a record at or before a ticker's last
position was seen before and is a redelivery), so replays within a window never double a count.

The state is what Lambda hands back on the next invocation of the window, at most 1 MB per shard (past
that Lambda ends the window early). It is kept compact: sectors are interned, and sequence numbers,
which within a shard and window share most of their digits, are stored as base-36 offsets from one
base sequence number. A ticker costs about 100 bytes with 56-digit sequence numbers, so 5,000 tickers
of one shard fit in about half a megabyte (tests/candles/test_state.py measures the worst case).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from candle_aggregator.candles import Candle
from tickerstream.codec import InvalidRecord, decode_base64, decode_quote
from tickerstream.kpl import KPL_MAGIC, deaggregate

STATE_VERSION = 1
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Window:
    start: str  # Lambda's window.start, e.g. 2026-11-21T15:36:00Z
    end: str
    final: bool  # isFinalInvokeForWindow
    terminated_early: bool  # isWindowTerminatedEarly: the window goes on with a fresh state

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Window:
        window = event.get("window") or {}
        return cls(
            iso_seconds(str(window.get("start") or "")),
            iso_seconds(str(window.get("end") or "")),
            bool(event.get("isFinalInvokeForWindow")),
            bool(event.get("isWindowTerminatedEarly")),
        )

    @property
    def closes(self) -> bool:
        """Whether this invocation must write what the state holds."""
        return self.final or self.terminated_early


def iso_seconds(text: str) -> str:
    """Lambda's window bound in the table's form, ``2026-11-21T15:36:00Z`` (whole seconds, UTC, Z),
    whatever fraction of a second or offset the event writes it with."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_seconds(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


@dataclass(slots=True)
class Tally:
    user_records: int = 0
    replayed: int = 0  # at or before their ticker's last aggregated position: seen before
    invalid: Counter[str] = field(default_factory=Counter)  # reason -> records


# In-memory shape of a ticker's candle while aggregating (a list: built and updated once per record):
# [sector, open, high, low, close, count, first_seq, first_sub, last_seq, last_sub]
Working = list[Any]


def aggregate(records: list[dict[str, Any]], working: dict[str, Working]) -> Tally:
    """Add a batch's records, in order, to the working candles; invalid records are only counted
    (QuoteProcessor quarantines them from its own copy of the stream)."""
    tally = Tally()
    for record in records:
        kinesis = record["kinesis"]
        sequence = int(kinesis["sequenceNumber"])
        try:
            data = decode_base64(kinesis["data"])
            if data[:4] == KPL_MAGIC:
                users = [(user.sub_sequence_number, user.data) for user in deaggregate(data)]
            else:
                users = [(0, data)]
        except InvalidRecord as exc:
            tally.user_records += 1
            tally.invalid[exc.reason] += 1
            continue
        for sub, payload in users:
            tally.user_records += 1
            try:
                quote = decode_quote(payload)
            except InvalidRecord as exc:
                tally.invalid[exc.reason] += 1
                continue
            price = quote.price
            candle = working.get(quote.ticker_symbol)
            if candle is None:
                working[quote.ticker_symbol] = [quote.sector, price, price, price, price, 1, sequence, sub, sequence, sub]
                continue
            if sequence < candle[8] or (sequence == candle[8] and sub <= candle[9]):
                tally.replayed += 1
                continue
            if price > candle[2]:
                candle[2] = price
            elif price < candle[3]:
                candle[3] = price
            candle[0] = quote.sector
            candle[4] = price
            candle[5] += 1
            candle[8] = sequence
            candle[9] = sub
    return tally


def candles_of(working: dict[str, Working]) -> list[Candle]:
    return [
        Candle(ticker, w[0], w[1], w[2], w[3], w[4], w[5], (w[6], w[7]), (w[8], w[9]))
        for ticker, w in working.items()
    ]


# -- the state Lambda carries --------------------------------------------------------------------------


def _base36(value: int) -> str:
    if value < 0:
        return "-" + _base36(-value)
    if value < 36:
        return _DIGITS[value]
    out = []
    while value:
        value, digit = divmod(value, 36)
        out.append(_DIGITS[digit])
    return "".join(reversed(out))


def dump_state(working: dict[str, Working], window_start: str) -> dict[str, Any]:
    """The compact, JSON-ready state of a window: {"v", "w", "b", "s": [sectors], "t": {ticker: row}}."""
    if not working:
        return {"v": STATE_VERSION, "w": window_start, "b": "0", "s": [], "t": {}}
    base = min(w[6] for w in working.values())
    sectors: dict[str, int] = {}
    tickers = {}
    for ticker, w in working.items():
        index = sectors.setdefault(w[0], len(sectors))
        tickers[ticker] = [index, w[1], w[2], w[3], w[4], w[5], _base36(w[6] - base), w[7], _base36(w[8] - base), w[9]]
    return {"v": STATE_VERSION, "w": window_start, "b": str(base), "s": list(sectors), "t": tickers}


class StaleState(ValueError):
    """A state that is not this window's (or not ours): the window starts afresh."""


def load_state(state: dict[str, Any] | None, window_start: str) -> dict[str, Working]:
    if not state:
        return {}
    if state.get("v") != STATE_VERSION or state.get("w") != window_start:
        raise StaleState(f"state of window {state.get('w')!r} (version {state.get('v')!r}), not of {window_start!r}")
    base = int(state["b"])
    sectors = state["s"]
    return {
        ticker: [sectors[r[0]], r[1], r[2], r[3], r[4], r[5], base + int(r[6], 36), r[7], base + int(r[8], 36), r[9]]
        for ticker, r in state["t"].items()
    }


def state_bytes(state: dict[str, Any]) -> int:
    """Size of the state as Lambda serialises it (compact JSON)."""
    return len(json.dumps(state, separators=(",", ":")).encode())
