"""CandlesTable access: conditional writes that make a window's candles durable once, whatever replays.

The rule (docs/analytics.md, "Writing a closed window"): an item (ticker, window_start) covers a
contiguous run of the ticker's records from ``first_*`` to ``last_*`` in stream order. A candle computed
now is written
- if nothing is stored: PutItem ``attribute_not_exists`` (in the usual case, 100 tickers per
  TransactWriteItems, so thousands of tickers cost tens of requests);
- if what is stored covers it already (a replay, a retried or re-bisected final invoke): not at all;
- if it is strictly after / strictly before what is stored (the window went on with a fresh state):
  the union, put only if the stored item is still the one read (its positions and count);
- if it covers what is stored and more: it replaces it, under the same condition;
- if the two overlap otherwise: nothing is written (the union's count cannot be known) and the
  conflict is counted and logged.
``alerted_at`` of a stored item is kept by every rewrite, so a window alerts at most once per item.

Transient failures (throttling, 5xx, timeouts, denied) raise WriteNotDurable; Lambda redelivers.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from candle_aggregator.candles import Candle, Merge, merge_kind, merged
from tickerstream.numbers import plain

MAX_TRANSACTION_ITEMS = 100
MAX_MERGE_ROUNDS = 3
TRANSACTION_CONFLICT_RETRIES = 4


class WriteNotDurable(Exception):
    """A write that did not happen; the window's records must be redelivered."""


@dataclass(frozen=True, slots=True)
class WindowKey:
    start: str
    end: str
    expires_at: int  # TTL, epoch seconds


@dataclass(slots=True)
class Written:
    """What the table holds for one ticker after the write, and how it got there."""

    candle: Candle  # the stored candle (after the write)
    outcome: str  # "created" or one of Merge's values
    alerted: bool  # the stored item already records a published alert
    requests: int = 0


def candle_item(candle: Candle, window: WindowKey) -> dict[str, Any]:
    return {
        "ticker": {"S": candle.ticker},
        "window_start": {"S": window.start},
        "window_end": {"S": window.end},
        "sector": {"S": candle.sector},
        "open": {"N": plain(candle.open)},
        "high": {"N": plain(candle.high)},
        "low": {"N": plain(candle.low)},
        "close": {"N": plain(candle.close)},
        "count": {"N": str(candle.count)},
        "first_sequence_number": {"S": str(candle.first[0])},
        "first_sub_sequence_number": {"N": str(candle.first[1])},
        "last_sequence_number": {"S": str(candle.last[0])},
        "last_sub_sequence_number": {"N": str(candle.last[1])},
        "expires_at": {"N": str(window.expires_at)},
    }


def _number(text: str) -> float | int:
    value = float(text)
    return int(text) if value.is_integer() and "." not in text else value


def candle_of(item: dict[str, Any]) -> Candle:
    return Candle(
        item["ticker"]["S"],
        item["sector"]["S"],
        _number(item["open"]["N"]),
        _number(item["high"]["N"]),
        _number(item["low"]["N"]),
        _number(item["close"]["N"]),
        int(item["count"]["N"]),
        (int(item["first_sequence_number"]["S"]), int(item["first_sub_sequence_number"]["N"])),
        (int(item["last_sequence_number"]["S"]), int(item["last_sub_sequence_number"]["N"])),
    )


def _describe(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'Unknown')}: {error.get('Message', '')}"


class CandleStore:
    def __init__(self, client: Any, table_name: str, concurrency: int = 1):
        self._client = client
        self._table = table_name
        self.concurrency = max(1, concurrency)

    # -- a window's candles --------------------------------------------------------------------------
    def write_window(self, candles: list[Candle], window: WindowKey) -> tuple[dict[str, Written], int, str | None]:
        """Write every candle of a closing window: (what each ticker's item now holds, requests, the
        first failure or None). Packs run up to ``concurrency`` at a time; once one fails no further
        pack starts, and the tickers not written are absent from the result."""
        packs = [candles[i : i + MAX_TRANSACTION_ITEMS] for i in range(0, len(candles), MAX_TRANSACTION_ITEMS)]
        failed = threading.Event()
        failures: list[str] = []
        results: dict[str, Written] = {}
        counted = [0]
        lock = threading.Lock()

        def run(pack: list[Candle]) -> None:
            if failed.is_set():
                return
            try:
                done, requests = self._write_pack(pack, window)
            except WriteNotDurable as exc:
                failed.set()
                with lock:
                    failures.append(str(exc))
                    counted[0] += 1
                return
            with lock:
                results.update(done)
                counted[0] += requests

        _map(run, packs, self.concurrency)
        return results, counted[0], failures[0] if failures else None

    def _write_pack(self, pack: list[Candle], window: WindowKey) -> tuple[dict[str, Written], int]:
        """Usual case: none of the pack's tickers has an item yet, so one transaction creates them all.
        Tickers whose condition fails (already written: a replay, an early-terminated window going on)
        go through ``write_one``; the rest are sent again."""
        if len(pack) == 1:
            written = self.write_one(pack[0], window, fresh=True)
            return {pack[0].ticker: written}, written.requests
        pending, results, requests = list(pack), {}, 0
        while pending:
            requests += 1
            items = [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": candle_item(candle, window),
                        "ConditionExpression": "attribute_not_exists(ticker)",
                    }
                }
                for candle in pending
            ]
            try:
                self._transact(items)
            except ClientError as exc:
                reasons = exc.response.get("CancellationReasons") or []
                clashed = [c for c, r in zip(pending, reasons, strict=False) if r.get("Code") == "ConditionalCheckFailed"]
                if not clashed or any(r.get("Code") not in (None, "None", "ConditionalCheckFailed") for r in reasons):
                    raise WriteNotDurable(_describe(exc)) from exc
                for candle in clashed:
                    written = self.write_one(candle, window)
                    results[candle.ticker] = written
                    requests += written.requests
                done = {c.ticker for c in clashed}
                pending = [c for c in pending if c.ticker not in done]
                continue
            except BotoCoreError as exc:
                raise WriteNotDurable(f"{type(exc).__name__}: {exc}") from exc
            results.update({c.ticker: Written(c, "created", False) for c in pending})
            break
        return results, requests

    def _transact(self, items: list[dict[str, Any]]) -> None:
        """TransactWriteItems, sent again after a short random pause while it is cancelled only by
        conflicts with other requests on the same items (nothing of a cancelled transaction is applied)."""
        for attempt in range(TRANSACTION_CONFLICT_RETRIES + 1):
            try:
                self._client.transact_write_items(TransactItems=items)
                return
            except ClientError as exc:
                codes = {r.get("Code") for r in exc.response.get("CancellationReasons") or []} - {None, "None"}
                if codes != {"TransactionConflict"} or attempt == TRANSACTION_CONFLICT_RETRIES:
                    raise
                time.sleep(random.uniform(0, 0.01 * 2**attempt))

    # -- one ticker, against what is stored ----------------------------------------------------------
    def write_one(self, candle: Candle, window: WindowKey, fresh: bool = False) -> Written:
        """Write one ticker's candle against what is stored; ``fresh``: try creating it first (the usual
        case of a window's first close), reading the stored item only if there is one."""
        requests = 0
        if fresh:
            requests += 1
            if self._put(candle_item(candle, window), "attribute_not_exists(ticker)", {}):
                return Written(candle, "created", False, requests)
        for _ in range(MAX_MERGE_ROUNDS):
            stored_item = self._get(candle.ticker, window.start)
            requests += 1
            if stored_item is None:
                requests += 1
                if self._put(candle_item(candle, window), "attribute_not_exists(ticker)", {}):
                    return Written(candle, "created", False, requests)
                continue
            stored = candle_of(stored_item)
            alerted = "alerted_at" in stored_item
            kind = merge_kind(stored, candle)
            if kind in (Merge.STALE, Merge.CONFLICT):
                return Written(stored, kind.value, alerted, requests)
            union = merged(stored, candle, kind)
            item = candle_item(union, window)
            for kept in ("alerted_at", "alert_direction"):
                if kept in stored_item:
                    item[kept] = stored_item[kept]
            condition = (
                "first_sequence_number = :fs AND first_sub_sequence_number = :fss AND "
                "last_sequence_number = :ls AND last_sub_sequence_number = :lss AND #count = :n"
            )
            values = {
                ":fs": stored_item["first_sequence_number"],
                ":fss": stored_item["first_sub_sequence_number"],
                ":ls": stored_item["last_sequence_number"],
                ":lss": stored_item["last_sub_sequence_number"],
                ":n": stored_item["count"],
            }
            requests += 1
            if self._put(item, condition, values, {"#count": "count"}):
                return Written(union, kind.value, alerted, requests)
        raise WriteNotDurable(f"{candle.ticker}: candle kept changing under concurrent writers")

    def mark_alerted(self, ticker: str, window_start: str, direction: str, now_iso: str) -> bool:
        """Record that the window's alert was published; False if another delivery recorded it first."""
        return self._conditionally(
            self._client.update_item,
            TableName=self._table,
            Key={"ticker": {"S": ticker}, "window_start": {"S": window_start}},
            UpdateExpression="SET alerted_at = :t, alert_direction = :d",
            ConditionExpression="attribute_exists(ticker) AND attribute_not_exists(alerted_at)",
            ExpressionAttributeValues={":t": {"S": now_iso}, ":d": {"S": direction}},
        )

    def _get(self, ticker: str, window_start: str) -> dict[str, Any] | None:
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key={"ticker": {"S": ticker}, "window_start": {"S": window_start}},
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise WriteNotDurable(f"reading {ticker}'s candle: {_describe(exc)}") from exc
        except BotoCoreError as exc:
            raise WriteNotDurable(f"reading {ticker}'s candle: {type(exc).__name__}") from exc
        return response.get("Item")

    def _put(self, item: dict[str, Any], condition: str, values: dict[str, Any], names: dict[str, str] | None = None) -> bool:
        request: dict[str, Any] = {"TableName": self._table, "Item": item, "ConditionExpression": condition}
        if values:
            request["ExpressionAttributeValues"] = values
        if names:
            request["ExpressionAttributeNames"] = names
        return self._conditionally(self._client.put_item, **request)

    @staticmethod
    def _conditionally(call: Callable[..., Any], **request: Any) -> bool:
        """A conditional write: True if made, False if its condition failed; any other failure is not durable."""
        try:
            call(**request)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise WriteNotDurable(_describe(exc)) from exc
        except BotoCoreError as exc:
            raise WriteNotDurable(f"{type(exc).__name__}: {exc}") from exc


def _map(work: Callable[[Any], None], units: list[Any], concurrency: int) -> None:
    if concurrency <= 1 or len(units) <= 1:
        for unit in units:
            work(unit)
        return
    with ThreadPoolExecutor(max_workers=min(concurrency, len(units)), thread_name_prefix="candles") as pool:
        list(pool.map(work, units))
