"""Every failure a DynamoDB write can meet is refused (quarantine the ticker's quotes, go on) or
transient (checkpoint, redeliver); no ticker's poison ever keeps another ticker's quotes out."""

import base64
import json
from decimal import Decimal

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from support.processor import ClientWithFaults, client_error, make_record, quarantined, quote, touches_ticker

PERMANENT = [
    client_error("TransactWriteItems", "ValidationException"),
    client_error("TransactWriteItems", "ItemCollectionSizeLimitExceededException"),
    client_error("TransactWriteItems", "SerializationException"),
    client_error("TransactWriteItems", "TransactionCanceledException", ["None", "ValidationError"]),
    client_error("TransactWriteItems", "TransactionCanceledException", ["ItemCollectionSizeLimitExceeded", "None"]),
]
TRANSIENT = [
    client_error("TransactWriteItems", "ThrottlingException"),
    client_error("TransactWriteItems", "ProvisionedThroughputExceededException"),
    client_error("TransactWriteItems", "RequestLimitExceeded"),
    client_error("TransactWriteItems", "InternalServerError", status=500),
    client_error("TransactWriteItems", "ServiceUnavailable", status=503),
    client_error("TransactWriteItems", "TransactionCanceledException", ["TransactionConflict", "None"]),
    client_error("TransactWriteItems", "TransactionCanceledException", ["None", "ThrottlingError"]),
    client_error("TransactWriteItems", "TransactionInProgressException"),
    client_error("TransactWriteItems", "AccessDeniedException"),
    client_error("TransactWriteItems", "ResourceNotFoundException"),
    client_error("TransactWriteItems", "SomeErrorNobodyHasSeenYet"),
    ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
    EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
    ConnectionClosedError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
]


def name_of(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if response is None:
        return type(exc).__name__
    return response["Error"]["Code"] + "".join(f"-{r['Code']}" for r in response.get("CancellationReasons", []))


def batch() -> list[dict]:
    # B is the poison ticker; A and C around and between its records
    order = ["A", "B", "C", "B", "A", "C"]
    return [make_record(quote(t, 10 + i, change=0.25), 100 + i) for i, t in enumerate(order)]


def fail_writes_of(ticker: str, exc: Exception):
    return lambda operation, kwargs: exc if operation == "transact_write_items" and touches_ticker(kwargs, ticker) else None


@pytest.mark.parametrize("error", PERMANENT, ids=name_of)
def test_a_refused_write_quarantines_its_tickers_quotes_and_the_batch_goes_on(error, deployment, quote_processor, lambda_context, table):
    records = batch()
    quote_processor.store._client = ClientWithFaults(quote_processor.store._client, fail_writes_of("B", error))

    assert quote_processor.handler({"Records": records}, lambda_context) == {"batchItemFailures": []}

    assert table.tickers() == {"A", "C"}
    assert {t: float(table.latest(t)["price"]) for t in "AC"} == {"A": 14, "C": 15}
    summary = table.summary("TECHNOLOGY")
    assert (int(summary["quote_count"]), Decimal(summary["change_sum"])) == (4, Decimal("1.00"))
    messages = quarantined(deployment)
    assert sorted(m["sequence_number"] for m in messages) == ["101", "103"]
    for message in messages:
        assert message["reason"] == "unstorable"
        assert message["_attributes"]["reason"]["StringValue"] == "unstorable"
        assert error.response["Error"]["Code"] in message["detail"]
        assert json.loads(base64.b64decode(message["data_base64"]))["ticker_symbol"] == "B"


@pytest.mark.usefixtures("one_ticker_per_transaction")
@pytest.mark.parametrize("error", TRANSIENT, ids=name_of)
def test_a_transient_failure_checkpoints_at_the_tickers_first_record_and_redelivery_completes(error, deployment, quote_processor, lambda_context, table):
    records = batch()
    real = quote_processor.store._client
    quote_processor.store._client = ClientWithFaults(real, fail_writes_of("B", error))

    assert quote_processor.handler({"Records": records}, lambda_context) == {"batchItemFailures": [{"itemIdentifier": "101"}]}
    assert table.tickers() == {"A"}
    assert quarantined(deployment) == []

    quote_processor.store._client = real  # the fault clears; Lambda redelivers from the checkpoint
    assert quote_processor.handler({"Records": records[1:]}, lambda_context) == {"batchItemFailures": []}
    assert table.tickers() == {"A", "B", "C"}
    assert int(table.summary("TECHNOLOGY")["quote_count"]) == len(records)


@pytest.mark.usefixtures("one_ticker_per_transaction")
def test_a_refused_write_whose_quarantine_fails_checkpoints_at_that_ticker(deployment, quote_processor, lambda_context, table):
    records = batch()
    quote_processor.store._client = ClientWithFaults(quote_processor.store._client, fail_writes_of("B", PERMANENT[0]))
    quote_processor.quarantine._client = ClientWithFaults(
        quote_processor.quarantine._client, lambda operation, kwargs: client_error("SendMessageBatch", "ServiceUnavailable", status=503)
    )
    assert quote_processor.handler({"Records": records}, lambda_context) == {"batchItemFailures": [{"itemIdentifier": "101"}]}
    assert table.tickers() == {"A"}  # C comes after B: not attempted


def test_a_refused_quote_inside_a_kpl_aggregate_is_quarantined_as_its_own_bytes(deployment, quote_processor, lambda_context, table):
    aggregator = RecordAggregator()
    users = [json.dumps(quote(t, p)).encode() for t, p in (("A", 1), ("B", 2), ("C", 3))]
    for data in users:
        aggregator.add_user_record("agg", data)
    _, _, aggregate = aggregator.clear_and_get().get_contents()
    records = [make_record(aggregate, 100)]
    quote_processor.store._client = ClientWithFaults(quote_processor.store._client, fail_writes_of("B", PERMANENT[0]))

    assert quote_processor.handler({"Records": records}, lambda_context) == {"batchItemFailures": []}
    [message] = quarantined(deployment)
    assert (message["reason"], message["sub_sequence_number"]) == ("unstorable", 1)
    assert base64.b64decode(message["data_base64"]) == users[1]
    assert table.tickers() == {"A", "C"}


def test_a_ticker_spanning_more_sectors_than_a_transaction_takes_is_written_in_segments(quote_processor, lambda_context, table):
    # TransactWriteItems takes at most 100 actions (one Put, one ADD per sector)
    records = [make_record(quote("HOP", 1 + i, change=0.5, sector=f"S{i:03d}"), 100 + i) for i in range(150)]
    assert quote_processor.handler({"Records": records}, lambda_context) == {"batchItemFailures": []}
    assert float(table.latest("HOP")["price"]) == 150
    assert all(int(table.summary(f"S{i:03d}")["quote_count"]) == 1 for i in range(150))
