"""DynamoDB access for QuoteProcessor: conditional, idempotent writes of one ticker's batch.

Every failure a write can meet is one of two kinds:
- refused (permanent): DynamoDB will never accept these quotes as they are - ``ValidationException``
  (a number it cannot store, an item too large …), ``ItemCollectionSizeLimitExceededException``,
  ``SerializationException``, or a cancelled transaction whose reasons include ``ValidationError`` or
  ``ItemCollectionSizeLimitExceeded``. The quotes come back in ``WriteResult.refused`` for quarantine,
  so they cannot hold up anything else.
- not durable (transient): everything else - throttling, ``ProvisionedThroughputExceededException``,
  ``RequestLimitExceeded``, ``InternalServerError``, other 5xx, ``TransactionConflict``, timeouts,
  connection errors, missing permissions or table, anything unknown. ``WriteNotDurable`` is raised and
  Lambda redelivers the records from the checkpoint.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from quote_processor.batch import Entry, Origin, TickerUpdate
from tickerstream.keys import sector_index_key, sector_summary_key, ticker_key
from tickerstream.numbers import EXACT, plain
from tickerstream.quote import Quote

# Errors that no retry can fix, and that only the quotes being written can have caused.
PERMANENT_ERROR_CODES = frozenset(
    {"ValidationException", "ItemCollectionSizeLimitExceededException", "SerializationException"}
)
PERMANENT_CANCELLATION_REASONS = frozenset({"ValidationError", "ItemCollectionSizeLimitExceeded"})
# TransactWriteItems takes at most 100 actions: the ticker's Put plus one summary ADD per sector.
MAX_TRANSACTION_ITEMS = 100


class WriteNotDurable(Exception):
    """A write that did not happen (throttled, 5xx, timeout, denied …): its records must be redelivered."""


class WriteRefused(Exception):
    """A write DynamoDB will never accept as it is: its quotes must be quarantined, not retried."""


@dataclass(slots=True)
class WriteResult:
    applied: int  # quotes whose effect this call made durable
    stale: int  # quotes already applied by an earlier delivery (replays, retries)
    requests: int  # write requests sent
    refused: list[Entry] = field(default_factory=list)  # quotes DynamoDB refused for good
    refusal: str | None = None  # DynamoDB's words for why


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds")


def _ticker_item(origin: Origin, quote: Quote, now: str) -> dict[str, Any]:
    pk, sk = ticker_key(quote.ticker_symbol)
    return {
        "pk": {"S": pk},
        "sk": {"S": sk},
        "gsi1pk": {"S": sector_index_key(quote.sector)},
        "gsi1sk": {"S": quote.ticker_symbol},
        "ticker_symbol": {"S": quote.ticker_symbol},
        "sector": {"S": quote.sector},
        "price": {"N": plain(quote.price)},
        "change": {"N": plain(quote.change)},
        "position": {"S": origin.position},
        "shard_id": {"S": origin.shard_id},
        "sequence_number": {"S": origin.sequence_number},
        "sub_sequence_number": {"N": str(origin.sub_sequence_number)},
        "arrival_time": {"S": _iso(origin.arrival)},
        "updated_at": {"S": now},
    }


def exact_sum(counted: Counter[float]) -> Decimal:
    """The sum of the decimal values producers sent (``Decimal(repr(x))``), free of binary float drift;
    each distinct value is converted once (quotes repeat the same few changes). By the number rule the
    sum is exact; EXACT raises rather than round if it were not."""
    total = Decimal(0)
    for value, times in counted.items():
        total = EXACT.add(total, EXACT.multiply(Decimal(repr(value)), times))
    return total


def _summary_updates(table: str, entries: list[Entry], now: str) -> list[dict[str, Any]]:
    """One ADD per sector touched: counts are additive, so they may only ever be applied once."""
    changes_by_sector: dict[str, list[float]] = {}
    for entry in entries:
        quote = entry.quote
        changes_by_sector.setdefault(quote.sector, []).append(quote.change)
    totals = {}
    for sector, changes in changes_by_sector.items():
        counted = Counter(changes)
        change_sum = exact_sum(counted)
        advances = sum(times for value, times in counted.items() if value > 0)
        declines = sum(times for value, times in counted.items() if value < 0)
        totals[sector] = (len(changes), change_sum, advances, declines)
    updates = []
    for sector, (count, change_sum, advances, declines) in totals.items():
        pk, sk = sector_summary_key(sector)
        updates.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
                    "UpdateExpression": (
                        "ADD quote_count :n, change_sum :c, advances :a, declines :d "
                        "SET sector = :s, updated_at = :t"
                    ),
                    "ExpressionAttributeValues": {
                        ":n": {"N": str(count)},
                        ":c": {"N": plain(change_sum)},
                        ":a": {"N": str(advances)},
                        ":d": {"N": str(declines)},
                        ":s": {"S": sector},
                        ":t": {"S": now},
                    },
                }
            }
        )
    return updates


class QuoteStore:
    """Latest quote per ticker (moves forward only) and per-sector summaries, in one table."""

    # A concurrent writer can move a ticker between our read and our write; a few rounds settle it.
    MAX_CONFLICT_ROUNDS = 3
    # Transactions touching a sector summary another transaction holds are cancelled (TransactionConflict);
    # nothing of a cancelled transaction is applied, so it is sent again after a short random pause.
    TRANSACTION_CONFLICT_RETRIES = 4

    def __init__(self, client: Any, table_name: str, max_pack_tickers: int = MAX_TRANSACTION_ITEMS):
        self._client = client
        self._table = table_name
        self.max_pack_tickers = max_pack_tickers  # 1: one transaction per ticker

    def packs(self, updates: list[TickerUpdate]) -> list[list[TickerUpdate]]:
        """Group tickers into packs one transaction can write: a Put per ticker plus one ADD per sector
        the pack touches, at most MAX_TRANSACTION_ITEMS actions. Tickers go in sector by sector (in the
        order given within a sector), so a pack touches one or two sector summaries rather than all of
        them: more tickers per transaction, fewer writes to the hot summary items, and fewer
        TransactionConflicts between packs written at the same time."""
        packs: list[list[TickerUpdate]] = []
        current: list[TickerUpdate] = []
        sectors: set[str] = set()
        for update in sorted(updates, key=lambda update: update.entries[0].quote.sector):
            own = {entry.quote.sector for entry in update.entries}
            merged = sectors | own
            if current and (len(current) + 1 + len(merged) > MAX_TRANSACTION_ITEMS or len(current) == self.max_pack_tickers):
                packs.append(current)
                current, sectors, merged = [], set(), own
            current.append(update)
            sectors = merged
            if len(own) + 1 > MAX_TRANSACTION_ITEMS:  # a ticker past one transaction's sectors goes alone
                packs.append(current)
                current, sectors = [], set()
        if current:
            packs.append(current)
        return packs

    def apply_pack(self, pack: list[TickerUpdate], now: float) -> tuple[list[tuple[TickerUpdate, WriteResult]], int]:
        """Write several tickers' batches in one transaction (usual case: none of them applied yet), and
        return each ticker's result with the pack transactions sent. Tickers whose position condition
        fails (a redelivery) are written alone by ``apply``; so is every ticker of a pack DynamoDB refuses,
        which finds the ticker at fault. Raises WriteNotDurable if the pack's transaction does not happen
        (then nothing of it is known durable)."""
        if len(pack) == 1:
            return [(pack[0], self.apply(pack[0], now))], 0
        stamp = _iso(now)
        pending, results, requests = list(pack), [], 0
        while pending:
            puts = [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": _ticker_item(update.origin(update.entries[-1]), update.entries[-1].quote, stamp),
                        "ConditionExpression": "attribute_not_exists(pk) OR #pos < :bound",
                        "ExpressionAttributeNames": {"#pos": "position"},
                        "ExpressionAttributeValues": {":bound": {"S": update.position(update.entries[0])}},
                    }
                }
                for update in pending
            ]
            entries = [entry for update in pending for entry in update.entries]
            requests += 1
            try:
                self._transact([*puts, *_summary_updates(self._table, entries, stamp)])
            except ClientError as exc:
                reasons = exc.response.get("CancellationReasons") or []
                replayed = [u for u, r in zip(pending, reasons, strict=False) if r.get("Code") == "ConditionalCheckFailed"]
                if replayed and all(r.get("Code") in (None, "None", "ConditionalCheckFailed") for r in reasons):
                    results.extend((update, self.apply(update, now)) for update in replayed)
                    done = {update.ticker for update in replayed}
                    pending = [update for update in pending if update.ticker not in done]
                    continue
                if is_permanent(exc):
                    results.extend((update, self.apply(update, now)) for update in pending)
                    break
                raise WriteNotDurable(_describe(exc)) from exc
            except BotoCoreError as exc:
                raise WriteNotDurable(f"{type(exc).__name__}: {exc}") from exc
            results.extend((update, WriteResult(len(update.entries), 0, 0)) for update in pending)
            break
        return results, requests

    def _transact(self, items: list[dict[str, Any]]) -> None:
        """TransactWriteItems, sent again (a few times, after a random pause) while it is cancelled only
        by conflicts with other transactions."""
        for attempt in range(self.TRANSACTION_CONFLICT_RETRIES + 1):
            try:
                self._client.transact_write_items(TransactItems=items)
                return
            except ClientError as exc:
                codes = {r.get("Code") for r in exc.response.get("CancellationReasons") or []} - {None, "None"}
                if codes != {"TransactionConflict"} or attempt == self.TRANSACTION_CONFLICT_RETRIES:
                    raise
                time.sleep(random.uniform(0, 0.01 * 2**attempt))

    def apply(self, update: TickerUpdate, now: float) -> WriteResult:
        """Make every quote of ``update`` durable exactly once, or report it refused; or raise
        WriteNotDurable (nothing is known about what did not complete: the caller redelivers)."""
        stamp = _iso(now)
        total = WriteResult(0, 0, 0)
        for segment in _segments(update.entries):
            try:
                applied, stale, requests = self._apply_segment(update, segment, stamp)
            except _Refused as refused:
                total.refused.extend(refused.entries)
                total.refusal = refused.detail
                total.stale += len(segment) - len(refused.entries)
                total.requests += refused.requests
                continue
            total.applied += applied
            total.stale += stale
            total.requests += requests
        return total

    def _apply_segment(self, update: TickerUpdate, segment: list[Entry], stamp: str) -> tuple[int, int, int]:
        pending = segment
        # Usual case: nothing of this batch is applied yet, so the stored position is before our first.
        condition, bound = "attribute_not_exists(pk) OR #pos < :bound", update.position(pending[0])
        for round_number in range(1, self.MAX_CONFLICT_ROUNDS + 1):
            try:
                if self._write(update, pending, condition, bound, stamp):
                    return len(pending), len(segment) - len(pending), round_number
            except WriteRefused as exc:
                raise _Refused(str(exc), pending, round_number) from exc
            # A redelivery overlapping what an earlier invocation applied: keep only what is newer.
            stored = self._stored_position(update.ticker)
            if stored is None:
                pending, condition, bound = segment, "attribute_not_exists(pk)", None
                continue
            pending = [entry for entry in segment if update.position(entry) > stored]
            if not pending:
                return 0, len(segment), round_number
            condition, bound = "#pos = :bound", stored
        raise WriteNotDurable(f"{update.ticker}: position kept moving under concurrent writers")

    def _write(self, update: TickerUpdate, entries: list[Entry], condition: str, bound: str | None, now: str) -> bool:
        latest = entries[-1]
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": _ticker_item(update.origin(latest), latest.quote, now),
            "ConditionExpression": condition,
        }
        if bound is not None:
            put["ExpressionAttributeNames"] = {"#pos": "position"}
            put["ExpressionAttributeValues"] = {":bound": {"S": bound}}
        items = [{"Put": put}, *_summary_updates(self._table, entries, now)]
        try:
            self._transact(items)
            return True
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                return False
            if is_permanent(exc):
                raise WriteRefused(_describe(exc)) from exc
            raise WriteNotDurable(_describe(exc)) from exc
        except BotoCoreError as exc:
            raise WriteNotDurable(f"{type(exc).__name__}: {exc}") from exc

    def _stored_position(self, ticker: str) -> str | None:
        pk, sk = ticker_key(ticker)
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                ProjectionExpression="#pos",
                ExpressionAttributeNames={"#pos": "position"},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise WriteNotDurable(f"reading {ticker}'s position: {exc}") from exc
        item = response.get("Item")
        return item["position"]["S"] if item and "position" in item else None


class _Refused(Exception):
    def __init__(self, detail: str, entries: list[Entry], requests: int):
        super().__init__(detail)
        self.detail, self.entries, self.requests = detail, entries, requests


def _segments(entries: list[Entry]) -> list[list[Entry]]:
    """Split a ticker's entries, in order, so that no transaction touches more sectors than it may."""
    limit = MAX_TRANSACTION_ITEMS - 1
    if len(entries) <= limit or len({entry.quote.sector for entry in entries}) <= limit:
        return [entries]
    segments: list[list[Entry]] = [[]]
    sectors: set[str] = set()
    for entry in entries:
        if entry.quote.sector not in sectors and len(sectors) == limit:
            segments.append([])
            sectors = set()
        sectors.add(entry.quote.sector)
        segments[-1].append(entry)
    return segments


def is_permanent(exc: ClientError) -> bool:
    """Whether DynamoDB refused the request for good (see the module docstring); unknown means no."""
    code = exc.response.get("Error", {}).get("Code")
    if code == "TransactionCanceledException":
        reasons = exc.response.get("CancellationReasons") or []
        return any(reason.get("Code") in PERMANENT_CANCELLATION_REASONS for reason in reasons)
    return code in PERMANENT_ERROR_CODES


def _describe(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    reasons = [
        f"{r.get('Code')}: {r['Message']}" if r.get("Message") else str(r.get("Code"))
        for r in exc.response.get("CancellationReasons") or []
        if r.get("Code") not in (None, "None")
    ]
    suffix = f" ({'; '.join(reasons)})" if reasons else ""
    return f"{error.get('Code', 'Unknown')}: {error.get('Message', '')}{suffix}"
