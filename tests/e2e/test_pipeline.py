"""The whole template on the local stack: thousands of quotes in, every view of them reconciled exactly."""

import contextlib
import io

import pytest

from tickerstream_cli.demo import reconcile
from tickerstream_cli.demo_quotes import DemoQuotes
from tickerstream_cli.producer import produce
from tickerstream_local.runner import LocalStack

RECORDS = 5_200
INVALID_FRACTION = 0.03


@pytest.fixture(scope="module")
def run():
    with contextlib.redirect_stdout(io.StringIO()), LocalStack(api_port=0, moto_port=0, state_file=None) as stack:
        report = produce(
            stack.deployment.client("kinesis"), stack.deployment.physical["QuoteStream"],
            DemoQuotes(seed=2026, invalid_fraction=INVALID_FRACTION), count=RECORDS,
        )
        stack.drain()
        yield stack, report, reconcile(report, stack)


def test_every_record_was_sent(run):
    _, report, _ = run
    assert (report.sent, report.failed) == (RECORDS, 0)
    assert report.invalid_sent > RECORDS * INVALID_FRACTION / 2


def test_every_view_reconciles_exactly(run):
    _, _, result = run
    names = {name for name, _, _ in result.checks}
    # table, quarantine, lake and API are all part of the check: none silently skipped
    assert {
        "produced = applied + quarantined",
        "every valid quote applied exactly once",
        "every invalid record quarantined",
        "table: latest price per ticker = last produced",
        "lake records = valid records",
        "no record twice in the lake",
        "invalid records under errors/",
        "API: latest price per ticker = last produced",
    } <= names
    failed = [(name, detail) for name, passed, detail in result.checks if not passed]
    assert failed == []


def test_the_mapping_moved_past_every_record_once(run):
    stack, report, _ = run
    stats = [m.stats for m in stack.mappings if m.event_name == "QuoteStream"]
    # each mapping on the quote stream (QuoteProcessor, CandleAggregator, BoardFanout)
    assert len(stats) == 3 and [s.records_checkpointed for s in stats] == [report.sent] * len(stats)
    assert sum(s.records_discarded for s in stats) == 0
    assert sum(s.partial_failures + s.function_errors for s in stats) == 0
