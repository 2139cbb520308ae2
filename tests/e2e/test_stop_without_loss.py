"""Stopping the local stack loses nothing: what the streams and Firehose buffers hold reaches its end."""

from __future__ import annotations

import contextlib
import io
import time

from e2e.ledger import read_ledger
from tickerstream_cli.demo_quotes import DemoQuotes
from tickerstream_cli.producer import produce
from tickerstream_local.runner import LocalStack

RECORDS = 600


def test_stop_delivers_what_is_buffered_and_in_flight(local_aws):
    with contextlib.redirect_stdout(io.StringIO()):
        stack = LocalStack(api_port=0, aws_endpoint_url=local_aws.endpoint_url, state_file=None).start()
        try:
            hose = stack.firehoses[0]
            hints = stack.deployment.properties("LakeDeliveryStream")["ExtendedS3DestinationConfiguration"]["BufferingHints"]
            report = produce(stack.deployment.client("kinesis"), stack.deployment.physical["QuoteStream"],
                             DemoQuotes(seed=7, invalid_fraction=0.05), count=RECORDS)
            # Let the Firehose read some of it: those records sit in its buffers (hints far from reached).
            deadline = time.monotonic() + 20
            while not hose.stats.records_in and time.monotonic() < deadline:
                time.sleep(0.2)
            buffered = hose.stats.records_in
            assert hose.stats.delivered == 0 and float(hints["IntervalInSeconds"]) >= 60
        finally:
            stopped = stack.stop()
    assert report.sent == RECORDS and buffered > 0
    assert stopped.complete, stopped.unfinished
    assert stopped.drained == ["QuoteProcessor/QuoteStream", "CandleAggregator/QuoteStream",
                               "BoardFanout/QuoteStream", "BoardFanout/CandleStream"]
    assert stopped.flushed == {hose.config.name: RECORDS - report.invalid_sent}
    # The local AWS kept running (the test owns it): everything is where it belongs.
    ledger = read_ledger(stack.deployment)
    assert (ledger.produced, ledger.invalid) == (RECORDS, report.invalid_sent)
    assert ledger.problems() == []


def test_a_stop_that_cannot_drain_in_time_says_what_it_left(local_aws, caplog):
    def failing(event, context):  # QuoteProcessor down: every invocation fails
        time.sleep(0.05)
        raise RuntimeError("down")

    with contextlib.redirect_stdout(io.StringIO()):
        stack = LocalStack(api_port=0, aws_endpoint_url=local_aws.endpoint_url, state_file=None,
                           handlers={"QuoteProcessor": failing}, stop_timeout=2,
                           parameter_overrides={"MaximumRetryAttempts": 10000}).start()
        try:
            produce(stack.deployment.client("kinesis"), stack.deployment.physical["QuoteStream"],
                    DemoQuotes(seed=3), count=50)
        finally:
            started = time.monotonic()
            stopped = stack.stop()
    assert time.monotonic() - started < 2 + 10  # the bound, plus the Firehose flush and moto
    assert not stopped.complete
    # QuoteProcessor's drain took the whole bound; the mappings drained after it are named too
    problem, *others = stopped.unfinished
    assert "QuoteProcessor/QuoteStream: stream not drained within" in problem and "stop bound is 2 s" in problem
    assert any("CandleAggregator/QuoteStream: stream not drained within" in other for other in others)
    assert problem in caplog.text
    # The lake does not depend on QuoteProcessor: its buffers were still delivered.
    assert sum(stopped.flushed.values()) == 50
