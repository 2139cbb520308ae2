"""The number rule over the Quote model's whole domain, against DynamoDB's documented number rules
(checked by tests/support/dynamodb_numbers.py, since moto does not enforce them), the lake's JSON and
the API's JSON."""

from __future__ import annotations

import base64
import json
import math
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from quote_processor.store import exact_sum
from support.dynamodb_numbers import problems
from support.processor import make_record
from support.properties import budget
from tickerstream.numbers import PLACES_MESSAGE, has_allowed_places, plain
from tickerstream.quote import InvalidQuote, parse_quote

MICRO = Decimal("0.000001")


def six_places_by_definition(x: float) -> bool:
    """The rule as the lead wrote it: a whole multiple of 0.000001 once read back as Decimal(repr(x))."""
    return Decimal(repr(x)) % MICRO == 0


six_place_values = st.integers(min_value=-(10**18), max_value=10**18).map(lambda n: n / 10**6)
near_six_places = st.tuples(six_place_values, st.sampled_from([-math.inf, math.inf]), st.integers(1, 3)).map(
    lambda t: math.nextafter(t[0], t[1], steps=t[2])
)
# Everything a JSON number can decode to: any float (NaN, infinities, subnormals), any int, and the
# values near the rule's edge that a plain float strategy would almost never hit.
json_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e13, max_value=1e13),
    st.floats(min_value=-1e-5, max_value=1e-5),
    st.integers(min_value=-(10**14), max_value=10**14),
    st.floats(min_value=-(2.0**33), max_value=2.0**33),
    six_place_values,
    near_six_places,
    st.decimals(places=6, min_value=-(10**12), max_value=10**12, allow_nan=False).map(float),
)
accepted_changes = json_numbers.filter(lambda v: math.isfinite(v) and abs(v) <= 1e12 and has_allowed_places(v))


def test_the_dynamodb_checker_itself():
    assert problems("84.51") == problems("0") == problems("-0.000001") == problems("1000000000000") == []
    assert problems("1e-05") == ["'1e-05' is not plain decimal notation"]
    tiny = "0." + "0" * 130 + "1"
    assert problems(tiny) == [f"{tiny!r} is outside 1E-130 .. 9.99…E+125"]
    assert len(problems("1" * 39)) == 1 and problems("1" * 38 + "0" * 88) == []
    assert problems("1" + "0" * 126) != [] and problems("NaN") != [] and problems("abc") != []


@budget(1500)
@given(
    st.one_of(
        st.floats(min_value=-1e12, max_value=1e12),
        st.floats(min_value=-(2.0**33), max_value=2.0**33),  # both sides of the fast check's limit, 2**31
        # 6-place values where the fast check's margin is thinnest, and their neighbours
        st.integers(2**29 * 10**6, 2**31 * 10**6).map(lambda n: n / 10**6),
        st.tuples(st.integers(2**29 * 10**6, 2**31 * 10**6), st.sampled_from([-1.0, 1.0])).map(
            lambda t: math.nextafter(t[0] / 10**6, math.copysign(math.inf, t[1]))
        ),
        six_place_values.filter(lambda v: abs(v) <= 1e12),
        near_six_places.filter(lambda v: abs(v) <= 1e12),
    )
)
@example(1e-6)
@example(1e-7)
@example(5e-324)
@example(999999999999.9999)
@example(0.1 + 0.2)
@example(2147483647.999999)
@example(2147483648.000001)
def test_the_fast_check_is_the_decimal_definition(x):
    assert has_allowed_places(x) == six_places_by_definition(x)


@budget(1500)
@given(change=json_numbers, price=json_numbers)
@example(change=1e-200, price=5.0)
@example(change=1e-100, price=5e-324)
@example(change=-1e12, price=1e12)
@example(change=0.000001, price=0.000001)
def test_every_number_the_model_accepts_is_storable_as_written(change, price):
    try:
        quote = parse_quote({"ticker_symbol": "ZZT", "sector": "ENERGY", "change": change, "price": price})
    except InvalidQuote as exc:
        assert {e.field for e in exc.errors} <= {"change", "price"} and exc.errors
        for error in exc.errors:
            value = change if error.field == "change" else price
            if error.message == PLACES_MESSAGE:
                assert not six_places_by_definition(value)
        if math.isfinite(change) and abs(change) <= 1e12 and six_places_by_definition(change) and not isinstance(change, bool):
            assert "change" not in {e.field for e in exc.errors}
        return
    for value in (quote.change, quote.price):
        text = plain(value)
        assert problems(text) == []
        assert Decimal(text) == Decimal(repr(value))  # the very number the producer wrote
        assert float(text) == value
        assert six_places_by_definition(value)


@budget(150)
@given(st.lists(st.tuples(accepted_changes, st.integers(min_value=1, max_value=10**6)), min_size=1, max_size=30))
@example([(1e12, 10**6)])
@example([(-1e12, 10**6)])
@example([(999999999999.9999, 500_000), (0.000001, 499_999), (-0.000001, 1)])
def test_a_sector_sum_of_up_to_a_million_accepted_changes_is_storable(changes):
    """|change| <= 1e12 with at most 6 places: a sum of n changes has at most 12 + log10(n) integer
    and 6 fractional digits, so it fits 38 digits for every n <= 1e20, and a non-zero one is at least
    0.000001 >> 1E-130. A million (here) is a hundred batches of 10,000; the table's running sum is a
    sum of the same kind."""
    counted = Counter()
    total_quotes = 0
    for value, times in changes:
        times = min(times, 10**6 - total_quotes)
        if times <= 0:
            break
        counted[value] += times
        total_quotes += times
    total = exact_sum(counted)
    assert total == sum(Decimal(repr(v)) * n for v, n in counted.items())
    assert problems(plain(total)) == []
    assert total % MICRO == 0


@pytest.fixture(scope="module")
def transform():
    from tickerstream_local.functions import load_function

    return load_function("FirehoseTransform", {"POWERTOOLS_METRICS_NAMESPACE": "Test"}).transform_batch


@budget(150)
@given(change=accepted_changes, price=accepted_changes.filter(lambda v: v > 0))
@example(change=0.00001, price=0.000001)
@example(change=-0.0, price=1e12)
def test_the_lakes_json_keeps_every_accepted_value_exactly(transform, change, price):
    data = json.dumps({"ticker_symbol": "ZZT", "sector": "ENERGY", "change": change, "price": price}).encode()
    record = {"recordId": "r", "data": base64.b64encode(data).decode(), "approximateArrivalTimestamp": 1763700000000}
    [output] = transform([record]).records
    assert output["result"] == "Ok"
    line = json.loads(base64.b64decode(output["data"]))
    for name, value in (("change", change), ("price", price)):
        assert line[name] == value and Decimal(repr(line[name])) == Decimal(repr(value))


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.decimals(allow_nan=False, allow_infinity=False, places=6)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
))
def test_dumps_exact_writes_every_decimal_as_the_number_it_is(value):
    from tickerstream.numbers import dumps_exact

    def exact(item):  # what a reader with parse_float=Decimal should get back
        if isinstance(item, float):
            return Decimal(repr(item))
        if isinstance(item, list):
            return [exact(x) for x in item]
        if isinstance(item, dict):
            return {k: exact(v) for k, v in item.items()}
        return item

    decoded = json.loads(dumps_exact(value), parse_float=Decimal)
    assert decoded == exact(value)
