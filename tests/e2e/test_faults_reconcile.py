"""The whole template on the local stack under injected faults: every record still ends up exactly once.

Faults hit the functions' own AWS calls while the stack runs (tickerstream_local.faults): bursts of
throttled writes (ProvisionedThroughputExceededException, ThrottlingException), 500s before and after
the write took effect, a quarantine send failing, and QuoteProcessor crashing mid-batch after some
writes. Then the consumer falls far behind (its mapping paused while thousands of records pile up)
and catches up. The stack is stopped (drained, flushed) and the views are reconciled with the stream.
The faults are transient, so whatever QuoteProcessor does with permanent errors, all must hold.
"""

from __future__ import annotations

import contextlib
import io
import time

import pytest

from e2e.ledger import read_ledger
from tickerstream_cli.demo_quotes import DemoQuotes
from tickerstream_cli.producer import produce
from tickerstream_local.faults import FaultPlan, crash, server_error, throttled
from tickerstream_local.runner import LocalStack

WHILE_RUNNING = 1_500
WHILE_PAUSED = 3_000
INVALID_FRACTION = 0.03
WRITE = "dynamodb:TransactWriteItems"


def fault_plan() -> FaultPlan:
    return FaultPlan([
        # Tickers are written in packs (up to 100 actions a transaction): a run makes tens of write
        # calls, not thousands, so the bursts are spaced in calls accordingly.
        throttled(WRITE, after=5, count=3, every=40),  # a whole call fails (it makes 3 attempts)
        throttled(WRITE, code="ThrottlingException", after=15, count=2, every=40),  # botocore's retry lands
        server_error(WRITE, after=10, count=3, every=40),
        server_error(WRITE, committed=True, after=2, count=1, every=40),  # written, answer lost
        # QuoteProcessor dies after the batch's earlier writes (its writes: CandleAggregator's go to CandlesTable)
        crash(WRITE, after=8, count=1, every=40, touching="-QuotesTable"),
        server_error("dynamodb:GetItem", count=3, every=60),  # reading the position after a conflict
        server_error("sqs:SendMessageBatch", after=2, count=3, every=30),  # quarantining
    ])


@pytest.fixture(scope="module")
def run():
    from tickerstream_local.server import MotoServer

    plan = fault_plan()
    quotes = iter(DemoQuotes(seed=8, invalid_fraction=INVALID_FRACTION))
    started = time.monotonic()
    # the functions log to stdout, as in Lambda: kept out of the test's output
    with MotoServer(port=0, separate_process=True) as aws, contextlib.redirect_stdout(io.StringIO()):
        stack = LocalStack(api_port=0, aws_endpoint_url=aws.endpoint_url, state_file=None, faults=plan,
                           stop_timeout=80).start()
        try:
            kinesis, stream = stack.deployment.client("kinesis"), stack.deployment.physical["QuoteStream"]
            mapping = stack.mapping("QuoteProcessor")
            first = produce(kinesis, stream, quotes, count=WHILE_RUNNING)
            stack.drain()
            mapping.pause()
            behind_from = mapping.stats.records_checkpointed
            second = produce(kinesis, stream, quotes, count=WHILE_PAUSED)
            time.sleep(1.5)  # a paused mapping invokes nothing, however much piles up
            checkpointed_while_paused = mapping.stats.records_checkpointed - behind_from
            mapping.resume()
        finally:
            stopped = stack.stop()  # the caught-up work is drained and flushed by the stop
        ledger = read_ledger(stack.deployment)
    return {"plan": plan, "sent": first.sent + second.sent, "checkpointed_while_paused": checkpointed_while_paused,
            "stats": mapping.stats, "stopped": stopped, "ledger": ledger, "seconds": time.monotonic() - started}


def test_every_fault_kind_was_met(run):
    injected = run["plan"].injected
    assert {label.split(" (")[0] for label in injected} >= {
        f"{WRITE} ProvisionedThroughputExceededException", f"{WRITE} ThrottlingException",
        f"{WRITE} InternalServerError", f"{WRITE} crash", "sqs:SendMessageBatch InternalServerError",
    }
    assert f"{WRITE} InternalServerError (after commit)" in injected
    stats = run["stats"]
    assert stats.partial_failures > 0 and stats.function_errors > 0 and stats.bisections > 0


def test_the_paused_consumer_fell_behind_then_caught_up(run):
    assert run["checkpointed_while_paused"] == 0
    assert run["stopped"].complete, run["stopped"].unfinished
    assert run["stats"].records_discarded == 0


def test_views_reconcile_with_what_was_produced(run):
    ledger = run["ledger"]
    assert ledger.produced == run["sent"] == WHILE_RUNNING + WHILE_PAUSED
    assert ledger.invalid > 0
    assert ledger.problems() == []
    print(ledger.problems(), f"\nproduced {ledger.produced} = applied {ledger.applied} + quarantined {ledger.quarantined} "
          f"({ledger.quarantine_messages} messages); "
          f"lake lines {ledger.lake_lines}, lake errors {ledger.lake_error_lines}; "
          f"faults injected {run['plan'].total} {dict(run['plan'].injected)}; {run['seconds']:.1f} s; "
          f"calls {[(f.label, f.calls) for f in run['plan'].faults]}; {run['stats']}")
