"""Candles: what one ticker did in one window, built in stream order, and how two partial candles of the
same ticker and window combine.

A candle covers a contiguous run of its ticker's records in stream order, from ``first`` to ``last``
(a position is ``(sequence number as int, sub-sequence number)``; KPL sub-records share a sequence
number). Open is the price at ``first``, close the price at ``last``, whatever the arrival times say.

Nothing here talks to AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

Position = tuple[int, int]


@dataclass(slots=True)
class Candle:
    ticker: str
    sector: str  # of the latest quote
    open: float
    high: float
    low: float
    close: float
    count: int
    first: Position
    last: Position


class Merge(Enum):
    """What a candle computed now means for the one already stored under the same ticker and window."""

    STALE = "stale"  # already covered: a replay, a retried final invoke, a re-bisected half
    APPEND = "append"  # strictly after what is stored (the window went on with a fresh state)
    PREPEND = "prepend"  # strictly before what is stored (an out-of-order redelivery of the start)
    REPLACE = "replace"  # covers what is stored and more (recomputed from a fuller state)
    CONFLICT = "conflict"  # overlaps without either covering the other: the count cannot be known


def merge_kind(stored: Candle, new: Candle) -> Merge:
    if stored.first <= new.first and new.last <= stored.last:
        return Merge.STALE
    if new.first > stored.last:
        return Merge.APPEND
    if new.last < stored.first:
        return Merge.PREPEND
    if new.first <= stored.first and stored.last <= new.last:
        return Merge.REPLACE
    return Merge.CONFLICT


def merged(stored: Candle, new: Candle, kind: Merge) -> Candle:
    """The candle covering both; only for APPEND, PREPEND and REPLACE."""
    if kind is Merge.REPLACE:
        return new
    if kind is Merge.APPEND:
        earlier, later = stored, new
    elif kind is Merge.PREPEND:
        earlier, later = new, stored
    else:
        raise ValueError(f"cannot merge candles that {kind.value}")
    return Candle(
        stored.ticker,
        later.sector,
        earlier.open,
        max(earlier.high, later.high),
        min(earlier.low, later.low),
        later.close,
        earlier.count + later.count,
        earlier.first,
        later.last,
    )


def move_percent(candle: Candle) -> Decimal:
    """(close - open) / open × 100, exactly from the decimals producers sent (prices are > 0)."""
    opening = Decimal(repr(candle.open))
    return (Decimal(repr(candle.close)) - opening) * 100 / opening


def crosses(candle: Candle, threshold_percent: Decimal) -> bool:
    """Whether the candle moved MORE than the threshold: |close - open| / open × 100 > threshold.

    Compared without a division, so a move of exactly the threshold never alerts (100 → 105 at 5 %)."""
    opening = Decimal(repr(candle.open))
    return abs(Decimal(repr(candle.close)) - opening) * 100 > threshold_percent * opening


def direction(candle: Candle) -> str:
    return "up" if candle.close > candle.open else "down"
