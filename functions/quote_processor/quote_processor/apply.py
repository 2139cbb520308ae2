"""Apply a batch plan and work out where Lambda must resume.

Tickers are written in packs: one transaction for as many tickers as fit (a Put per ticker, one ADD
per sector the pack touches; see QuoteStore.packs), so a batch of thousands of tickers costs tens of
requests, not thousands. Units of work (one per pack, one per quarantine chunk) are independent; they
run in the order of their first record, up to ``concurrency`` at a time, and after the first failure
no further unit starts. Every unit that did not complete names its first record that is not durable
(a failed or skipped unit: its first record; a partly sent quarantine chunk: its first message not
accepted); the lowest of those is the checkpoint Lambda is given. Every record before it belongs to a
unit that completed (a unit's first record is the lowest of its records), so it is durable. Units that
completed after the checkpoint are replayed on redelivery, which the store's position conditions make
harmless.

Quotes DynamoDB refuses for good (see store.py) are quarantined with reason ``unstorable`` by their
ticker's unit, so a poison quote costs only its own ticker's records of the batch, never other tickers'.

Concurrent units touch the same sector summaries, which DynamoDB answers with TransactionConflict
cancellations (retried by the store): packs, not threads, are what scales the write path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from quote_processor.batch import BatchPlan, Rejected, TickerUpdate
from quote_processor.quarantine import UNSTORABLE, Quarantine, chunk_messages
from quote_processor.store import QuoteStore, WriteNotDurable, WriteResult


@dataclass(slots=True)
class Outcome:
    """What a unit of work did, or (summed) what the batch did."""

    applied: int = 0
    stale: int = 0
    quarantined: int = 0
    unstorable: int = 0  # quotes DynamoDB refused for good, quarantined
    write_requests: int = 0
    failed_index: int | None = None  # batch index of the first record whose effect is not durable
    failure: str | None = None


def apply_plan(
    plan: BatchPlan,
    store: QuoteStore,
    quarantine: Quarantine,
    event_source_arn: str,
    clock: Callable[[], float],
    concurrency: int = 1,
) -> Outcome:
    units: list[tuple[int, Callable[[], Outcome]]] = []

    for pack in store.packs(list(plan.updates.values())):

        def write_pack(pack=pack) -> Outcome:
            results, requests = store.apply_pack(pack, clock())
            done = Outcome(write_requests=requests)
            for update, result in results:
                written = Outcome(applied=result.applied, stale=result.stale, write_requests=result.requests)
                if result.refused:
                    _quarantine_refused(written, update, result, quarantine, event_source_arn)
                _add(done, written)
            return done

        units.append((min(update.first_index for update in pack), write_pack))

    for chunk in chunk_messages(plan.rejects, event_source_arn):
        units.append((chunk[0][0].origin.index, lambda chunk=chunk: _send(quarantine, chunk)))

    units.sort(key=lambda unit: unit[0])
    return _run(units, concurrency)


def _run(units: list[tuple[int, Callable[[], Outcome]]], concurrency: int) -> Outcome:
    """Run units in order, at most `concurrency` at a time; once one fails, start no more."""
    failed = threading.Event()

    def run(first_index: int, work: Callable[[], Outcome]) -> Outcome:
        if failed.is_set():
            return Outcome(failed_index=first_index)  # skipped: fail fast after a failure
        try:
            done = work()
        except WriteNotDurable as exc:
            done = Outcome(write_requests=1, failed_index=first_index, failure=str(exc))
        if done.failed_index is not None:
            failed.set()
        return done

    if concurrency <= 1 or len(units) <= 1:
        results = [run(first_index, work) for first_index, work in units]
    else:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(units)), thread_name_prefix="write") as pool:
            results = list(pool.map(lambda unit: run(*unit), units))

    total = Outcome()
    for done in results:
        _add(total, done)
    return total


def _add(total: Outcome, done: Outcome) -> None:
    """Sum `done` into `total`; the lowest record not durable wins."""
    total.applied += done.applied
    total.stale += done.stale
    total.quarantined += done.quarantined
    total.unstorable += done.unstorable
    total.write_requests += done.write_requests
    if done.failed_index is not None and (total.failed_index is None or done.failed_index < total.failed_index):
        total.failed_index = done.failed_index
        total.failure = done.failure or total.failure


def _send(quarantine: Quarantine, chunk: list[tuple[Rejected, str]]) -> Outcome:
    """Send one chunk; the outcome names its first record not accepted, if any."""
    try:
        first_failed = quarantine.send(chunk)
    except WriteNotDurable as exc:
        return Outcome(write_requests=1, failed_index=chunk[0][0].origin.index, failure=str(exc))
    accepted = sum(1 for r, _ in chunk if first_failed is None or r.origin.index < first_failed)
    failure = None if first_failed is None else "quarantine: some messages were not accepted"
    return Outcome(quarantined=accepted, write_requests=1, failed_index=first_failed, failure=failure)


def _quarantine_refused(
    done: Outcome, update: TickerUpdate, result: WriteResult, quarantine: Quarantine, event_source_arn: str
) -> None:
    """Quarantine a ticker's refused quotes, in stream order; stop at the first chunk not accepted."""
    rejects = [Rejected(update.origin(e), UNSTORABLE, result.refusal or "", update.raw(e)) for e in result.refused]
    for chunk in chunk_messages(rejects, event_source_arn):
        sent = _send(quarantine, chunk)
        done.quarantined += sent.quarantined
        done.unstorable += sent.quarantined
        done.write_requests += sent.write_requests
        if sent.failed_index is not None:
            done.failed_index, done.failure = sent.failed_index, sent.failure
            return
