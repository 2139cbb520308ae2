import json
import math

import pytest

from tickerstream.codec import InvalidRecord, decode_base64, decode_quote, encode_quote, position_key
from tickerstream.quote import InvalidQuote, Quote, parse_quote
from tickerstream_cli.demo_quotes import seed_quotes


def test_every_seed_record_is_a_valid_quote():
    quotes = [parse_quote(record) for record in seed_quotes()]
    assert len(quotes) == 70
    assert Quote("SAC", "ENERGY", 0.15, 53) in quotes  # the seed has an integer price


def test_upper_case_keys_of_the_firehose_documentation_are_accepted():
    assert parse_quote({"TICKER_SYMBOL": "QXZ", "SECTOR": "HEALTHCARE", "CHANGE": -0.05, "PRICE": 84.51}) == Quote(
        "QXZ", "HEALTHCARE", -0.05, 84.51
    )


def test_sector_is_normalised_and_extra_fields_ignored():
    quote = parse_quote({"ticker_symbol": "BRK.B", "sector": "  financial ", "change": 0, "price": 1, "extra": 1})
    assert quote == Quote("BRK.B", "FINANCIAL", 0, 1)


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"sector": "X", "change": 0, "price": 1}, "ticker_symbol", "is required"),
        ({"ticker_symbol": "aapl", "sector": "X", "change": 0, "price": 1}, "ticker_symbol", "upper-case"),
        ({"ticker_symbol": "ABCDEFGHIJK", "sector": "X", "change": 0, "price": 1}, "ticker_symbol", "1-10"),
        ({"ticker_symbol": 7, "sector": "X", "change": 0, "price": 1}, "ticker_symbol", "must be a string"),
        ({"ticker_symbol": "A", "sector": "   ", "change": 0, "price": 1}, "sector", "must not be empty"),
        ({"ticker_symbol": "A", "sector": "X", "change": "1", "price": 1}, "change", "must be a number"),
        ({"ticker_symbol": "A", "sector": "X", "change": math.nan, "price": 1}, "change", "finite"),
        ({"ticker_symbol": "A", "sector": "X", "change": 0, "price": math.inf}, "price", "finite"),
        ({"ticker_symbol": "A", "sector": "X", "change": 0, "price": 0}, "price", "greater than 0"),
        ({"ticker_symbol": "A", "sector": "X", "change": 0, "price": -84.5}, "price", "greater than 0"),
        ({"ticker_symbol": "A", "sector": "X", "change": 0, "price": True}, "price", "must be a number"),
        ({"ticker_symbol": "A", "sector": "X", "change": 0, "price": 10**40}, "price", "within"),
    ],
)
def test_each_schema_violation_names_its_field(payload, field, message):
    with pytest.raises(InvalidQuote) as caught:
        parse_quote(payload)
    assert [e.field for e in caught.value.errors] == [field]
    assert message in caught.value.errors[0].message


def test_all_errors_are_reported_at_once():
    with pytest.raises(InvalidQuote) as caught:
        parse_quote({"ticker_symbol": "a", "sector": "", "change": None, "price": -1})
    assert [e.field for e in caught.value.errors] == ["ticker_symbol", "sector", "change", "price"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"ticker_symbol": ', "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b'"AAPL"', "not_an_object"),
        (b"\xff\xfe{}", "invalid_utf8"),
        (b'{"ticker_symbol": "A", "sector": "X", "change": 0, "price": -1}', "invalid_quote"),
        (b'{"ticker_symbol": "A", "sector": "X", "change": NaN, "price": 1}', "invalid_quote"),
        (json.dumps({"pad": "x" * 5000}).encode(), "oversized"),
    ],
)
def test_decode_quote_reasons(data, reason):
    with pytest.raises(InvalidRecord) as caught:
        decode_quote(data)
    assert caught.value.reason == reason


def test_decode_base64_is_strict():
    assert decode_base64("eyJ9") == b'{"}'
    with pytest.raises(InvalidRecord) as caught:
        decode_base64("not base64!")
    assert caught.value.reason == "invalid_base64"


def test_encode_then_decode_round_trips():
    quote = Quote("QXZ", "HEALTHCARE", -0.05, 84.51)
    assert decode_quote(encode_quote(quote)) == quote


def test_positions_order_numerically_across_lengths_and_sub_sequences():
    positions = [position_key("9"), position_key("10"), position_key("10", 1), position_key("49654545165112456784571549023486612048960102839364386818")]
    assert positions == sorted(positions)
    assert position_key("10", 2) > position_key("10", 1)
