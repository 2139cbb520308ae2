"""The number rule (at most 6 decimal places as written) and plain decimal notation towards DynamoDB."""

import base64
import json
from decimal import Decimal

import pytest

from support.processor import load_event, make_record, quarantined, quote
from tickerstream.quote import InvalidQuote, parse_quote


@pytest.mark.parametrize(
    ("field", "value"),
    [("change", 1e-200), ("price", 5e-324), ("change", 1e-100), ("change", 1e-7), ("price", 84.5100001), ("change", -0.0000005), ("change", 0.1 + 0.2)],
)
def test_a_value_needing_more_than_six_decimal_places_is_refused_with_its_field(field, value):
    payload = {"ticker_symbol": "ZZT", "sector": "ENERGY", "change": 0.5, "price": 5.0, field: value}
    with pytest.raises(InvalidQuote) as caught:
        parse_quote(payload)
    assert [e.as_dict() for e in caught.value.errors] == [{"field": field, "message": "must have at most 6 decimal places"}]


@pytest.mark.parametrize("value", [0.000001, -0.000001, 0.00001, 84.51, 999999999999.999, 1e12, -1e12, 53, 0, -0.0])
def test_values_with_at_most_six_places_are_valid(value):
    price = abs(value) or 1
    assert parse_quote({"ticker_symbol": "A", "sector": "X", "change": value, "price": price}).change == value


def test_both_fields_are_reported_at_once():
    with pytest.raises(InvalidQuote) as caught:
        parse_quote({"ticker_symbol": "A", "sector": "X", "change": 1e-7, "price": 2e-9})
    assert [e.field for e in caught.value.errors] == ["change", "price"]


def test_the_reported_unstorable_quote_is_quarantined_and_the_batch_lands(deployment, quote_processor, lambda_context, table):
    records = [
        make_record(quote("AAA", 10.0), 100),
        make_record({"ticker_symbol": "ZZT", "sector": "ENERGY", "change": 1e-200, "price": 5.0}, 101),
        make_record(quote("BBB", 20.0), 102),
    ]
    assert quote_processor.handler({"Records": records}, lambda_context) == {"batchItemFailures": []}
    assert table.tickers() == {"AAA", "BBB"}
    [message] = quarantined(deployment)
    assert (message["reason"], message["sequence_number"]) == ("invalid_quote", "101")
    assert "change: must have at most 6 decimal places" in message["detail"]


def test_small_values_are_written_in_plain_decimal_notation(quote_processor, lambda_context, table):
    # repr(0.00001) is '1e-05': moto (the local stack) refuses it in the summary's ADD
    records = [make_record(quote("TINY", 0.00005, change=0.00001, sector="PENNY"), 100)]
    assert quote_processor.handler({"Records": records}, lambda_context) == {"batchItemFailures": []}
    item = table.latest("TINY")
    assert (item["price"], item["change"]) == ("0.00005", "0.00001")
    assert Decimal(table.summary("PENNY")["change_sum"]) == Decimal("0.00001")


def test_the_numbers_sample_event(deployment, quote_processor, lambda_context, table):
    """events/quote_processor/numbers.json: values past 6 places are quarantined naming their field;
    the smallest and largest valid ones land, written in plain notation DynamoDB accepts."""
    from support.dynamodb_numbers import problems

    event = load_event("numbers.json")
    assert quote_processor.handler(event, lambda_context) == {"batchItemFailures": []}

    details = {json.loads(base64.b64decode(m["data_base64"]))["ticker_symbol"]: (m["reason"], m["detail"]) for m in quarantined(deployment)}
    assert details == {
        "ZZT": ("invalid_quote", "change: must have at most 6 decimal places"),
        "ZZU": ("invalid_quote", "price: must have at most 6 decimal places"),
        "ZZV": ("invalid_quote", "change: must have at most 6 decimal places"),
    }
    assert table.tickers() == {"NFLX", "PNY", "BIG"}
    assert (table.latest("PNY")["price"], table.latest("BIG")["change"]) == ("0.00005", "-1000000000000.0")
    summary = table.summary("PENNY")
    assert Decimal(summary["change_sum"]) == Decimal("-999999999999.99999")
    stored = [table.latest(t)[f] for t in ("NFLX", "PNY", "BIG") for f in ("price", "change")] + [summary["change_sum"]]
    assert all(problems(text) == [] for text in stored)
