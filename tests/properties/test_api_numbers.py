"""A quote's numbers, written by QuoteProcessor to DynamoDB (moto) and read back through ApiQuery's
GET /quotes/{ticker}, come back as the very number the producer sent."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from support.processor import make_record
from support.properties import budget
from tickerstream.numbers import has_allowed_places
from tickerstream_local.template import REPO_ROOT

SEQUENCE = itertools.count(1000)  # each example's quote is newer than the last one stored

values = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.integers(min_value=-(10**18), max_value=10**18).map(lambda n: n / 10**6),
    st.decimals(places=6, min_value=-(10**12), max_value=10**12, allow_nan=False).map(float),
).filter(has_allowed_places)


@pytest.fixture
def api_query(deployment):
    from tickerstream_local.functions import load_function

    return load_function("ApiQuery", deployment.function_environment("ApiQuery"))


@budget(40)
@given(change=values, price=values.filter(lambda v: v > 0))
@example(change=0.00001, price=0.000001)
@example(change=-1e12, price=999999999999.99)
@example(change=53, price=53)
def test_the_api_gives_back_the_number_the_producer_sent(quote_processor, api_query, lambda_context, change, price):
    quote = {"ticker_symbol": "NUM", "sector": "TECH", "change": change, "price": price}
    assert quote_processor.handler({"Records": [make_record(quote, next(SEQUENCE))]}, lambda_context) == {"batchItemFailures": []}

    event = json.loads((REPO_ROOT / "events/api_query/get-quote.json").read_text())
    event.update(path="/quotes/NUM", pathParameters={"ticker": "NUM"})
    response = api_query.handler(event, lambda_context)
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    for name, sent in (("change", change), ("price", price)):
        assert body[name] == sent
        assert Decimal(repr(body[name])) == Decimal(repr(sent))
