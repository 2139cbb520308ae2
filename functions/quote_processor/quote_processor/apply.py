"""Apply a batch plan in stream order and work out where Lambda must resume.

Units of work (one per ticker, one per quarantine chunk) run in the order of their first record. The
first unit that fails stops the batch: every record before that unit's first record is durable, so
that record is the checkpoint Lambda is given. Units after it are replayed on redelivery, which the
store's position conditions make harmless.
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


def apply_plan(
    plan: BatchPlan,
    store: QuoteStore,
    quarantine: Quarantine,
    event_source_arn: str,
    clock: Callable[[], float],
) -> Outcome:
    outcome = Outcome()
    units: list[tuple[int, Callable[[], int | None]]] = []

    for update in plan.updates.values():

        def write_ticker(update=update) -> None:
            result = store.apply(update, clock())
            outcome.applied += result.applied
            outcome.stale += result.stale
            outcome.write_requests += result.requests

        units.append((update.first_index, write_ticker))

    for chunk in chunk_messages(plan.rejects, event_source_arn):

        def send_chunk(chunk=chunk) -> int | None:
            outcome.write_requests += 1
            first_failed = quarantine.send(chunk)
            accepted = [r for r, _ in chunk if first_failed is None or r.origin.index < first_failed]
            outcome.quarantined += len(accepted)
            return first_failed

        units.append((chunk[0][0].origin.index, send_chunk))

    units.sort(key=lambda unit: unit[0])
    for position, (first_index, run) in enumerate(units):
        try:
            first_failed = run()
        except WriteNotDurable as exc:
            outcome.failed_index, outcome.failure = first_index, str(exc)
            break
        if first_failed is not None:
            # Units not yet run start later than this one did, but maybe before the failed message.
            not_run = units[position + 1][0] if position + 1 < len(units) else first_failed
            outcome.failed_index = min(first_failed, not_run)
            outcome.failure = "quarantine: some messages were not accepted"
            break
    return outcome
