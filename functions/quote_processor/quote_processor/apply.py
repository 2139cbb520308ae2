"""Apply a batch plan and work out where Lambda must resume.

Units of work (one per ticker, one per quarantine chunk) run one after another in the order of their
first record; after the first failure no further unit runs. Every unit that did not complete names its
first record that is not durable (a failed or skipped unit: its first record; a partly sent quarantine
chunk: its first message not accepted); the lowest of those is the checkpoint Lambda is given. Every
record before it belongs to a unit that completed, so it is durable. Units that completed after the
checkpoint are replayed on redelivery, which the store's position conditions make harmless.

Quotes DynamoDB refuses for good (see store.py) are quarantined with reason ``unstorable`` by their
ticker's unit, so a poison quote costs only its own ticker's records of the batch, never other tickers'.

(Writes are not issued concurrently: moto's TransactWriteItems is not thread-safe, so a concurrent
writer could not be exercised by the tests or the local stack.)
"""

from __future__ import annotations

from collections.abc import Callable
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
) -> Outcome:
    units: list[tuple[int, Callable[[], Outcome]]] = []

    for update in plan.updates.values():

        def write_ticker(update=update) -> Outcome:
            result = store.apply(update, clock())
            done = Outcome(applied=result.applied, stale=result.stale, write_requests=result.requests)
            if result.refused:
                _quarantine_refused(done, update, result, quarantine, event_source_arn)
            return done

        units.append((update.first_index, write_ticker))

    for chunk in chunk_messages(plan.rejects, event_source_arn):
        units.append((chunk[0][0].origin.index, lambda chunk=chunk: _send(quarantine, chunk)))

    units.sort(key=lambda unit: unit[0])
    results: list[Outcome] = []
    for first_index, work in units:
        if results and results[-1].failed_index is not None:
            results.append(Outcome(failed_index=first_index))  # skipped: fail fast after a failure
            continue
        try:
            results.append(work())
        except WriteNotDurable as exc:
            results.append(Outcome(write_requests=1, failed_index=first_index, failure=str(exc)))

    total = Outcome()
    for done in results:
        total.applied += done.applied
        total.stale += done.stale
        total.quarantined += done.quarantined
        total.unstorable += done.unstorable
        total.write_requests += done.write_requests
        if done.failed_index is not None and (total.failed_index is None or done.failed_index < total.failed_index):
            total.failed_index = done.failed_index
            total.failure = done.failure or total.failure
    return total


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
