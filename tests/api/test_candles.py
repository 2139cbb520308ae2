"""GET /quotes/{ticker}/candles (ApiQuery) on the moto deployment: a ticker's closed candles in [from, to)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import boto3
import pytest
from api.helpers import body_of, load_event

START = dt.datetime(2025, 11, 21, 5, 0, tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def put_candle(table: str, ticker: str, start: dt.datetime, *, open_: str = "100.5", close: str = "101",
               high: str = "101.25", low: str = "99.999999", count: int = 3, seconds: int = 60) -> None:
    """An item exactly as the Candles contract describes CandleAggregator's writes."""
    end = start + dt.timedelta(seconds=seconds)
    boto3.client("dynamodb").put_item(TableName=table, Item={
        "ticker": {"S": ticker}, "window_start": {"S": iso(start)}, "window_end": {"S": iso(end)},
        "sector": {"S": "TECHNOLOGY"}, "open": {"N": open_}, "high": {"N": high}, "low": {"N": low},
        "close": {"N": close}, "count": {"N": str(count)},
        "first_sequence_number": {"S": "49654545165112456784571549023486612048960102839364386818"},
        "first_sub_sequence_number": {"N": "0"},
        "last_sequence_number": {"S": "49654545165112456784571549023486612048960102839364386819"},
        "last_sub_sequence_number": {"N": "0"},
        "expires_at": {"N": str(int(end.timestamp()) + 30 * 86400)},
    })


@pytest.fixture
def candles_table(deployment):
    table = deployment.ctx.refs["CandlesTable"]
    for minute in range(0, 90):  # 05:00 .. 06:29, one candle a minute
        put_candle(table, "AAPL", START + dt.timedelta(minutes=minute), close=f"{100 + minute}.25")
    put_candle(table, "MSFT", START, close="410.123456")
    return table


def candles(api_query, context, ticker: str = "AAPL", **query: str):
    event = load_event("api_query/get-candles.json")
    event["path"] = f"/quotes/{ticker}/candles"
    event["pathParameters"] = {"ticker": ticker}
    event["queryStringParameters"] = query or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    return api_query.handler(event, context)


def test_the_sample_event_answers_an_hour_of_candles(api_query, candles_table, context):
    response = candles(api_query, context, **load_event("api_query/get-candles.json")["queryStringParameters"])
    assert response["statusCode"] == 200
    body = body_of(response)
    assert (body["ticker_symbol"], body["from"], body["to"], body["count"]) == (
        "AAPL", "2025-11-21T05:00:00Z", "2025-11-21T06:00:00Z", 60)
    assert [c["window_start"] for c in body["candles"]] == [iso(START + dt.timedelta(minutes=m)) for m in range(60)]
    assert body["candles"][0] == {"window_start": "2025-11-21T05:00:00Z", "window_end": "2025-11-21T05:01:00Z",
                                  "sector": "TECHNOLOGY", "open": 100.5, "high": 101.25, "low": 99.999999,
                                  "close": 100.25, "count": 3}
    assert body["next_token"] is None


def test_from_is_inclusive_to_exclusive_and_offsets_are_read(api_query, candles_table, context):
    body = body_of(candles(api_query, context, **{"from": "2025-11-21T06:10:00+01:00", "to": "2025-11-21T05:13:00Z"}))
    assert [c["window_start"] for c in body["candles"]] == ["2025-11-21T05:10:00Z", "2025-11-21T05:11:00Z",
                                                           "2025-11-21T05:12:00Z"]
    # a from inside a window's second does not take that window; a fractional to keeps the window it cuts
    body = body_of(candles(api_query, context, **{"from": "2025-11-21t05:10:00.5z", "to": "2025-11-21T05:12:00.000000001Z"}))
    assert [c["window_start"] for c in body["candles"]] == ["2025-11-21T05:11:00Z", "2025-11-21T05:12:00Z"]


def test_numbers_are_written_exactly(api_query, candles_table, context):
    body = json.loads(candles(api_query, context, "MSFT", **{"from": iso(START), "to": iso(START + dt.timedelta(minutes=1))})["body"],
                      parse_float=Decimal)
    [candle] = body["candles"]
    assert candle["close"] == Decimal("410.123456") and candle["low"] == Decimal("99.999999")


def test_an_unknown_ticker_or_an_empty_range_has_no_candles(api_query, candles_table, context):
    for ticker, start in (("ZZZZ", START), ("AAPL", START + dt.timedelta(days=1))):
        response = candles(api_query, context, ticker, **{"from": iso(start), "to": iso(start + dt.timedelta(hours=1))})
        assert response["statusCode"] == 200
        body = body_of(response)
        assert (body["candles"], body["count"], body["next_token"]) == ([], 0, None)


def test_pages_follow_next_token_to_the_end(api_query, candles_table, context):
    window = {"from": iso(START), "to": iso(START + dt.timedelta(hours=2))}
    seen, token, pages = [], None, 0
    while True:
        body = body_of(candles(api_query, context, limit="25", **window, **({"next_token": token} if token else {})))
        assert len(body["candles"]) <= 25
        seen += [c["window_start"] for c in body["candles"]]
        pages += 1
        token = body["next_token"]
        if token is None:
            break
        assert "AAPL" not in token and "2025" not in token
    assert seen == [iso(START + dt.timedelta(minutes=m)) for m in range(90)]
    assert pages == 4  # 25 + 25 + 25 + 15: the last page is never empty


def test_a_page_of_the_default_range_continues_that_range(api_query, candles_table, context, monkeypatch):
    from api_query import routes

    now = START + dt.timedelta(minutes=30)
    api_query.app = routes.build_resolver(api_query.reader, "*", api_query.logger, api_query.candles,
                                          now=lambda: now)
    first = body_of(candles(api_query, context, limit="20"))
    assert (first["from"], first["to"], first["count"]) == ("2025-11-21T04:30:00Z", "2025-11-21T05:30:00Z", 20)
    now = START + dt.timedelta(hours=5)  # later pages are asked for later: the range stays the first page's
    second = body_of(candles(api_query, context, limit="20", next_token=first["next_token"]))
    assert [c["window_start"] for c in second["candles"]] == [iso(START + dt.timedelta(minutes=m)) for m in range(20, 30)]
    assert second["next_token"] is None


BAD_REQUESTS = [
    ({"from": "2025-11-21 05:00:00Z"}, 400, "invalid_time"),           # a space is not ISO-8601's T
    ({"from": "2025-11-21T05:00:00"}, 400, "invalid_time"),            # no offset: no instant
    ({"from": "2025-11-21"}, 400, "invalid_time"),
    ({"from": "2025-11-21T05:00Z"}, 400, "invalid_time"),              # seconds are required
    ({"from": "2025-11-21T23:59:60Z"}, 400, "invalid_time"),           # no leap seconds
    ({"from": "0001-01-01T00:00:00+01:00"}, 400, "invalid_time"),      # before year 1
    ({"from": "yesterday"}, 400, "invalid_time"),
    ({"to": "2025-13-01T00:00:00Z"}, 400, "invalid_time"),
    ({"to": "２０２５-11-21T05:00:00Z"}, 400, "invalid_time"),           # non-ASCII digits
    ({"from": "2025-11-21T06:00:00Z", "to": "2025-11-21T05:00:00Z"}, 400, "invalid_range"),
    ({"from": "2025-11-21T05:00:00Z", "to": "2025-11-21T05:00:00Z"}, 400, "invalid_range"),
    ({"from": "2025-11-20T05:00:00Z", "to": "2025-11-21T05:00:01Z"}, 400, "range_too_wide"),
    ({"from": "2025-11-20T05:00:00Z"}, 400, "range_too_wide"),         # to defaults to now
    ({"from": "2025-11-21T05:00:00Z", "to": "2025-11-21T06:00:00Z", "limit": "101"}, 400, "invalid_limit"),
    ({"from": "2025-11-21T05:00:00Z", "to": "2025-11-21T06:00:00Z", "next_token": "!!"}, 400, "invalid_next_token"),
    ({"from": "2025-11-21T05:00:00Z", "window": "60"}, 400, "unknown_parameter"),
]


def test_bad_requests_are_400_in_the_error_shape(api_query, candles_table, context):
    for query, status, code in BAD_REQUESTS:
        response = candles(api_query, context, **query)
        assert response["statusCode"] == status, query
        error = body_of(response)["error"]
        assert error["code"] == code and error["message"] and error["request_id"], (query, error)


def test_a_token_of_another_ticker_or_range_is_400(api_query, candles_table, context):
    window = {"from": iso(START), "to": iso(START + dt.timedelta(hours=2))}
    token = body_of(candles(api_query, context, limit="5", **window))["next_token"]
    assert token
    other_ticker = candles(api_query, context, "MSFT", next_token=token, **window)
    other_range = candles(api_query, context, next_token=token, **{**window, "to": iso(START + dt.timedelta(hours=1))})
    for response in (other_ticker, other_range):
        assert response["statusCode"] == 400 and body_of(response)["error"]["code"] == "invalid_next_token"
    assert candles(api_query, context, next_token=token, **window)["statusCode"] == 200


def test_a_range_of_exactly_the_bound_is_accepted(api_query, candles_table, context):
    response = candles(api_query, context, **{"from": iso(START), "to": iso(START + dt.timedelta(hours=24)), "limit": "100"})
    assert response["statusCode"] == 200 and body_of(response)["count"] == 90


def test_the_ticker_is_validated_as_for_the_latest_quote(api_query, candles_table, context):
    for symbol in ("BAD$SYM", "WAYTOOLONGSYMBOL", "ＡＡＰＬ", "A%20B"):
        response = candles(api_query, context, symbol, **{"from": iso(START), "to": iso(START + dt.timedelta(hours=1))})
        assert response["statusCode"] == 400 and body_of(response)["error"]["code"] == "invalid_ticker", symbol


def test_lower_case_symbols_name_the_stored_ticker(api_query, candles_table, context):
    body = body_of(candles(api_query, context, "msft", **{"from": iso(START), "to": iso(START + dt.timedelta(hours=1))}))
    assert body["ticker_symbol"] == "MSFT" and body["count"] == 1


def test_a_table_failure_is_500_without_details(api_query, candles_table, context, monkeypatch):
    def broken(**_):
        raise RuntimeError("boom: arn:aws:dynamodb:…")

    monkeypatch.setattr(api_query.candles._client, "query", broken)
    response = candles(api_query, context, **{"from": iso(START), "to": iso(START + dt.timedelta(hours=1))})
    assert response["statusCode"] == 500 and body_of(response)["error"]["message"] == "internal error"


def test_no_query_string_gets_a_5xx(api_query, candles_table, context):
    """Property: whatever from, to, limit and next_token API Gateway hands over, a 200 or a 400 in the error
    shape, never a 5xx."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    instants = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
                            timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=14)),
                                                       dt.timezone(dt.timedelta(hours=-12))]))
    times = instants.map(lambda moment: moment.isoformat()) | st.text(max_size=40) | st.sampled_from(
        ["9999-12-31T23:59:59.5Z", "9999-12-31T23:59:59.999999999-12:00", "1000-01-01T00:00:00+14:00"])
    names = st.sampled_from(["from", "to", "limit", "next_token"])
    values = times | st.sampled_from(["1", "100", "0", ""]) | st.text(alphabet="ABCDEFabcdef0123456789_-", max_size=60)

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(query=st.dictionaries(names, values, max_size=4), ticker=st.sampled_from(["AAPL", "msft", "$", ""]))
    def check(query, ticker):
        response = candles(api_query, context, ticker or "AAPL", **query)
        assert response["statusCode"] in (200, 400), (query, response)
        if response["statusCode"] == 400:
            assert set(body_of(response)["error"]) >= {"code", "message", "request_id"}

    check()


def test_over_the_local_api_a_read_token_reads_and_others_are_refused(local_api):
    """template.yaml's API served locally: the route, its authorizer and scope, and a real answer."""
    from api.local_api import call

    assert local_api.route_scopes("GET", "/quotes/{ticker}/candles") == ["tickerstream/quotes.read"]
    table = local_api.deployment.physical["CandlesTable"]
    local_api.deployment.client("dynamodb").put_item(TableName=table, Item={
        "ticker": {"S": "AAPL"}, "window_start": {"S": "2026-11-21T15:36:00Z"}, "window_end": {"S": "2026-11-21T15:37:00Z"},
        "sector": {"S": "TECHNOLOGY"}, "open": {"N": "189.5"}, "high": {"N": "190.25"}, "low": {"N": "189.1"},
        "close": {"N": "190"}, "count": {"N": "42"}, "expires_at": {"N": "1798472220"},
    })
    url = f"{local_api.url}/quotes/aapl/candles?from=2026-11-21T15:00:00Z&to=2026-11-21T16:00:00Z"
    read = local_api.token("tickerstream/quotes.read")
    status, _, body = call(url, headers={"Authorization": f"Bearer {read}"})
    assert status == 200, body
    page = json.loads(body)
    assert page["count"] == 1 and page["candles"][0]["close"] == 190 and page["candles"][0]["high"] == 190.25
    # A token without the route's scope is refused by the authorizer before the function runs. This API
    # answers that with 401 (UNAUTHORIZED), as docs/api.md "401 vs 403" states for every scoped route.
    write = local_api.token("tickerstream/quotes.write")
    for authorization in (f"Bearer {write}", None):
        status, _, body = call(url, headers={"Authorization": authorization} if authorization else {})
        assert status == 401, (authorization is None, body)
        assert json.loads(body)["error"]["code"] == "unauthorized"
    status, _, body = call(url.replace("from=2026-11-21T15", "from=2026-11-20T15"), headers={"Authorization": read})
    assert status == 400 and json.loads(body)["error"]["code"] == "range_too_wide"
