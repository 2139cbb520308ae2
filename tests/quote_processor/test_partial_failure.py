"""Transient failures fail fast, keep order, and never report success for a record not applied."""

import pytest

from support.processor import FailingClient, make_record, quarantined, quote

# the nth write is the nth ticker's only when each ticker has a transaction of its own
pytestmark = pytest.mark.usefixtures("one_ticker_per_transaction")


def interleaved_batch() -> list[dict]:
    # tickers first appear in the order A, B, C, D; each has records later in the batch too
    order = ["A", "B", "A", "C", "B", "D", "C", "D", "A"]
    return [make_record(quote(t, 10 + i), 100 + i) for i, t in enumerate(order)]


def test_throttled_nth_write_reports_the_first_record_of_that_ticker(quote_processor, lambda_context, table):
    records = interleaved_batch()
    quote_processor.store._client = FailingClient(quote_processor.store._client, "transact_write_items", {3})

    response = quote_processor.handler({"Records": records}, lambda_context)

    # the 3rd write is ticker C, first seen at index 3 (sequence 103)
    assert response == {"batchItemFailures": [{"itemIdentifier": "103"}]}
    assert table.tickers() == {"A", "B"}
    assert float(table.latest("A")["price"]) == 18  # A's last record (index 8) was applied with A


def test_redelivery_from_the_checkpoint_completes_exactly_once(quote_processor, lambda_context, table):
    records = interleaved_batch()
    failing = FailingClient(quote_processor.store._client, "transact_write_items", {3})
    quote_processor.store._client = failing
    response = quote_processor.handler({"Records": records}, lambda_context)
    checkpoint = response["batchItemFailures"][0]["itemIdentifier"]

    # Lambda redelivers from the checkpoint on, including A's and B's already-applied later records
    resume = next(i for i, r in enumerate(records) if r["kinesis"]["sequenceNumber"] == checkpoint)
    assert quote_processor.handler({"Records": records[resume:]}, lambda_context) == {"batchItemFailures": []}

    assert table.tickers() == {"A", "B", "C", "D"}
    assert int(table.summary("TECHNOLOGY")["quote_count"]) == len(records)
    assert {t: float(table.latest(t)["price"]) for t in "ABCD"} == {"A": 18, "B": 14, "C": 16, "D": 17}


def test_first_write_failing_reports_the_first_record(quote_processor, lambda_context, table):
    records = interleaved_batch()
    quote_processor.store._client = FailingClient(quote_processor.store._client, "transact_write_items", {1}, "InternalServerError")
    assert quote_processor.handler({"Records": records}, lambda_context) == {"batchItemFailures": [{"itemIdentifier": "100"}]}
    assert table.tickers() == set()


def test_quarantine_failure_checkpoints_at_the_invalid_record(deployment, quote_processor, lambda_context, table):
    records = [make_record(quote("A", 1), 100), make_record(b"not json", 101), make_record(quote("B", 2), 102)]
    quote_processor.quarantine._client = FailingClient(quote_processor.quarantine._client, "send_message_batch", {1}, "ServiceUnavailable")

    response = quote_processor.handler({"Records": records}, lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "101"}]}
    assert table.tickers() == {"A"}  # B comes after the failed quarantine: not attempted
    assert quarantined(deployment) == []
