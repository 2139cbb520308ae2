"""Apply a batch plan and work out where Lambda must resume.

Units of work (one per ticker, one per quarantine chunk) run one after another in the order of their
first record; after the first failure no further unit runs. Every unit that did not complete names its
first record that is not durable (a failed or skipped unit: its first record; a partly sent quarantine
chunk: its first message not accepted); the lowest of those is the checkpoint Lambda is given. Every
record before it belongs to a unit that completed, so it is durable. Units that completed after the
checkpoint are replayed on redelivery, which the store's position conditions make harmless.

(Writes are not issued concurrently: moto's TransactWriteItems is not thread-safe, so a concurrent
writer could not be exercised by the tests or the local stack.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from quote_processor.batch import BatchPlan
from quote_processor.quarantine import Quarantine, chunk_messages
from quote_processor.store import QuoteStore, WriteNotDurable


@dataclass(slots=True)
class Outcome:
    applied: int = 0
    stale: int = 0
    quarantined: int = 0
    write_requests: int = 0
    failed_index: int | None = None  # batch index of the first record whose effect is not durable
    failure: str | None = None


@dataclass(slots=True)
class _Done:
    """What one unit did: counters, and the first record it left not durable (None = all durable)."""

    applied: int = 0
    stale: int = 0
    quarantined: int = 0
    requests: int = 0
    not_durable_from: int | None = None
    failure: str | None = None


def apply_plan(
    plan: BatchPlan,
    store: QuoteStore,
    quarantine: Quarantine,
    event_source_arn: str,
    clock: Callable[[], float],
) -> Outcome:
    units: list[tuple[int, Callable[[], _Done]]] = []

    for update in plan.updates.values():

        def write_ticker(update=update) -> _Done:
            result = store.apply(update, clock())
            return _Done(applied=result.applied, stale=result.stale, requests=result.requests)

        units.append((update.first_index, write_ticker))

    for chunk in chunk_messages(plan.rejects, event_source_arn):

        def send_chunk(chunk=chunk) -> _Done:
            first_failed = quarantine.send(chunk)
            accepted = sum(1 for r, _ in chunk if first_failed is None or r.origin.index < first_failed)
            failure = None if first_failed is None else "quarantine: some messages were not accepted"
            return _Done(quarantined=accepted, requests=1, not_durable_from=first_failed, failure=failure)

        units.append((chunk[0][0].origin.index, send_chunk))

    units.sort(key=lambda unit: unit[0])
    results: list[_Done] = []
    for first_index, work in units:
        if results and results[-1].not_durable_from is not None:
            results.append(_Done(not_durable_from=first_index))  # skipped: fail fast after a failure
            continue
        try:
            results.append(work())
        except WriteNotDurable as exc:
            results.append(_Done(requests=1, not_durable_from=first_index, failure=str(exc)))

    outcome = Outcome()
    for done in results:
        outcome.applied += done.applied
        outcome.stale += done.stale
        outcome.quarantined += done.quarantined
        outcome.write_requests += done.requests
        if done.not_durable_from is not None and (
            outcome.failed_index is None or done.not_durable_from < outcome.failed_index
        ):
            outcome.failed_index = done.not_durable_from
            outcome.failure = done.failure or outcome.failure
    return outcome
