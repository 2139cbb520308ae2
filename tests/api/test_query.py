"""GET routes (ApiQuery) on the moto deployment: latest quote, sector pages, sector summary, health."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import boto3
import pytest
from api.helpers import capture_logs, body_of, load_event, log_lines

from tickerstream.keys import sector_index_key, sector_summary_key, ticker_key

TECH = ["AAPL", "AMZN", "GOOG", "MSFT", "NFLX"]


def put_ticker(table: str, symbol: str, sector: str, price: str, change: str) -> None:
    pk, sk = ticker_key(symbol)
    boto3.client("dynamodb").put_item(TableName=table, Item={
        "pk": {"S": pk}, "sk": {"S": sk},
        "gsi1pk": {"S": sector_index_key(sector)}, "gsi1sk": {"S": symbol},
        "ticker_symbol": {"S": symbol}, "sector": {"S": sector},
        "price": {"N": price}, "change": {"N": change},
        "position": {"S": "0" * 129 + ".0000000000"}, "shard_id": {"S": "shardId-000000000000"},
        "sequence_number": {"S": "49654545165112456784571549023486612048960102839364386818"},
        "sub_sequence_number": {"N": "0"},
        "arrival_time": {"S": "2025-11-21T05:00:00.000+00:00"}, "updated_at": {"S": "2025-11-21T05:00:01.000+00:00"},
    })


@pytest.fixture
def seeded(deployment):
    table = deployment.ctx.refs["QuotesTable"]
    for i, symbol in enumerate(TECH):
        put_ticker(table, symbol, "TECHNOLOGY", f"{100 + i}.5", "0.25")
    put_ticker(table, "XOM", "ENERGY", "53", "-1.5")
    pk, sk = sector_summary_key("TECHNOLOGY")
    boto3.client("dynamodb").put_item(TableName=table, Item={
        "pk": {"S": pk}, "sk": {"S": sk}, "sector": {"S": "TECHNOLOGY"},
        "quote_count": {"N": "8"}, "change_sum": {"N": "2.5"}, "advances": {"N": "5"}, "declines": {"N": "2"},
        "updated_at": {"S": "2025-11-21T05:00:01.000+00:00"},
    })
    return table


def get(path_event: str, **changes):
    event = load_event(path_event)
    for key, value in changes.items():
        event[key] = value
    return event


def test_latest_quote(api_query, seeded, context):
    response = api_query.handler(load_event("api_query/get-quote.json"), context)
    assert response["statusCode"] == 200
    assert body_of(response) == {
        "ticker_symbol": "AAPL", "sector": "TECHNOLOGY", "price": 100.5, "change": 0.25,
        "updated_at": "2025-11-21T05:00:01.000+00:00", "arrival_time": "2025-11-21T05:00:00.000+00:00",
        "shard_id": "shardId-000000000000", "sequence_number": "49654545165112456784571549023486612048960102839364386818",
    }


def test_integer_prices_stay_integers_and_symbols_are_case_insensitive(api_query, seeded, context):
    event = get("api_query/get-quote.json", path="/quotes/xom", pathParameters={"ticker": "xom"})
    body = body_of(api_query.handler(event, context))
    assert body["ticker_symbol"] == "XOM" and body["price"] == 53 and isinstance(body["price"], int)


def test_unknown_ticker_is_404_with_the_error_shape(api_query, seeded, context):
    event = load_event("api_query/get-quote-unknown.json")
    response = api_query.handler(event, context)
    assert response["statusCode"] == 404
    assert body_of(response) == {"error": {"code": "unknown_ticker", "message": "no quote for ZZZZ",
                                           "request_id": event["requestContext"]["requestId"]}}


@pytest.mark.parametrize("symbol", ["BAD$SYM", "WAYTOOLONGSYMBOL", "A%20B"])
def test_malformed_symbol_is_400(api_query, seeded, context, symbol):
    event = get("api_query/get-quote-malformed.json", path=f"/quotes/{symbol}", pathParameters={"ticker": symbol})
    response = api_query.handler(event, context)
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["code"] == "invalid_ticker"


def list_page(api_query, context, **query):
    event = get("api_query/list-sector-quotes.json", queryStringParameters=query,
                multiValueQueryStringParameters={k: [v] for k, v in query.items()})
    return api_query.handler(event, context)


def test_sector_quotes_are_paged_with_an_opaque_token(api_query, seeded, context):
    seen, token, pages = [], None, 0
    while True:
        query = {"sector": "technology", "limit": "2", **({"next_token": token} if token else {})}
        response = list_page(api_query, context, **query)
        assert response["statusCode"] == 200
        body = body_of(response)
        assert body["sector"] == "TECHNOLOGY" and len(body["quotes"]) <= 2
        seen += [q["ticker_symbol"] for q in body["quotes"]]
        pages += 1
        token = body["next_token"]
        if token is None:
            break
        assert "AAPL" not in token and "TICKER#" not in token  # opaque, not a raw key
    assert seen == TECH and pages == 3


def test_a_token_of_another_sector_or_a_forged_one_is_400(api_query, seeded, context):
    first = body_of(list_page(api_query, context, sector="TECHNOLOGY", limit="1"))
    assert first["next_token"]
    other = list_page(api_query, context, sector="ENERGY", next_token=first["next_token"])
    assert other["statusCode"] == 400 and body_of(other)["error"]["code"] == "invalid_next_token"
    forged = list_page(api_query, context, sector="TECHNOLOGY", next_token="not-a-token!")
    assert forged["statusCode"] == 400


@pytest.mark.parametrize(("query", "code"), [
    ({}, "missing_sector"),
    ({"sector": "BAD/SECTOR"}, "invalid_sector"),
    ({"sector": "TECHNOLOGY", "limit": "0"}, "invalid_limit"),
    ({"sector": "TECHNOLOGY", "limit": "101"}, "invalid_limit"),
    ({"sector": "TECHNOLOGY", "limit": "ten"}, "invalid_limit"),
])
def test_sector_query_validation(api_query, seeded, context, query, code):
    response = list_page(api_query, context, **query)
    assert response["statusCode"] == 400 and body_of(response)["error"]["code"] == code


def test_unknown_sector_lists_nothing(api_query, seeded, context):
    body = body_of(list_page(api_query, context, sector="SHIPPING"))
    assert body["quotes"] == [] and body["next_token"] is None


def test_sector_summary(api_query, seeded, context):
    response = api_query.handler(load_event("api_query/get-sector-summary.json"), context)
    assert response["statusCode"] == 200
    assert body_of(response) == {"sector": "TECHNOLOGY", "quote_count": 8, "change_sum": 2.5, "average_change": 0.3125,
                                 "advances": 5, "declines": 2, "unchanged": 1,
                                 "updated_at": "2025-11-21T05:00:01.000+00:00"}
    event = get("api_query/get-sector-summary.json", path="/sectors/ENERGY", pathParameters={"sector": "ENERGY"})
    assert api_query.handler(event, context)["statusCode"] == 404


def test_a_sector_sum_past_a_floats_digits_comes_back_digit_for_digit(api_query, seeded, context):
    table = seeded
    pk, sk = sector_summary_key("TECHNOLOGY")
    exact = "999999999999.990001"  # 18 significant digits: a float would answer 999999999999.99
    boto3.client("dynamodb").update_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}},
                                         UpdateExpression="SET change_sum = :c", ExpressionAttributeValues={":c": {"N": exact}})
    response = api_query.handler(load_event("api_query/get-sector-summary.json"), context)
    assert response["statusCode"] == 200
    summary = json.loads(response["body"], parse_float=Decimal)
    assert summary["change_sum"] == Decimal(exact)
    assert summary["average_change"] == Decimal("124999999999.998750")  # the sum over 8 quotes, to 6 places


def test_health_needs_no_claims(api_query, context):
    event = load_event("api_query/health.json")
    assert "authorizer" not in event["requestContext"]
    response = api_query.handler(event, context)
    assert response["statusCode"] == 200 and body_of(response) == {"status": "ok"}


def test_unknown_route_is_404_in_the_error_shape(api_query, context):
    event = get("api_query/health.json", path="/nope", resource="/nope")
    response = api_query.handler(event, context)
    assert response["statusCode"] == 404 and body_of(response)["error"]["code"] == "not_found"


def test_a_user_caller_is_logged_by_username(api_query, seeded, context):
    stream = capture_logs(api_query)
    event = load_event("api_query/get-quote-unknown.json")
    event["requestContext"]["authorizer"] = load_event("api_query/get-quote.json")["requestContext"]["authorizer"]
    api_query.handler(event, context)
    [line] = [line for line in log_lines(stream.getvalue()) if line.get("message") == "Request refused"]
    claims = event["requestContext"]["authorizer"]["claims"]
    assert (line["caller_type"], line["caller"]) == ("user", claims["username"])
    assert line["correlation_id"] == event["requestContext"]["requestId"] and line["status"] == 404


def test_dynamodb_failures_become_500_without_details(api_query, seeded, context, monkeypatch):
    def broken(**_):
        raise RuntimeError("boom: table arn:aws:dynamodb:…")

    monkeypatch.setattr(api_query.reader._client, "get_item", broken)
    response = api_query.handler(load_event("api_query/get-quote.json"), context)
    assert response["statusCode"] == 500
    assert body_of(response)["error"]["message"] == "internal error"


def test_limit_accepts_only_ascii_digits(api_query, seeded, context):
    for limit in ["²", "①", "１", "٣", "1０", " 5", "5 ", "+5", "-0", "0x10", "1e1", "1.0", "25 "]:
        response = list_page(api_query, context, sector="TECHNOLOGY", limit=limit)
        assert response["statusCode"] == 400, limit
        assert body_of(response)["error"]["code"] == "invalid_limit"
    assert body_of(list_page(api_query, context, sector="TECHNOLOGY", limit="005"))["count"] == 5


def multi_page(api_query, context, pairs):
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    event = get("api_query/list-sector-quotes.json", queryStringParameters={k: v[-1] for k, v in multi.items()} or None,
                multiValueQueryStringParameters=multi or None)
    return api_query.handler(event, context)


QUERY_REFUSALS = [
    ([("sector", "TECHNOLOGY"), ("limit", "2"), ("limit", "3")], "repeated_parameter"),
    ([("sector", "TECHNOLOGY"), ("sector", "ENERGY")], "repeated_parameter"),
    ([("sector", "TECHNOLOGY"), ("limt", "2")], "unknown_parameter"),
    ([("sector", "TECHNOLOGY"), ("", "x")], "unknown_parameter"),
    ([("sector", "")], "invalid_sector"),
    ([("sector", " TECH")], "invalid_sector"),
    ([("sector", "ß")], "invalid_sector"),          # 'ß'.upper() == 'SS': non-ASCII is refused, not folded
    ([("sector", "ＴＥＣＨ")], "invalid_sector"),
    ([("sector", "TECH%2541")], "invalid_sector"),  # decoded once by API Gateway; never twice
    ([("sector", "A" * 65)], "invalid_sector"),
    ([("sector", "TECHNOLOGY"), ("limit", "")], "invalid_limit"),
]


def test_query_strings_are_read_strictly(api_query, seeded, context):
    for pairs, code in QUERY_REFUSALS:
        response = multi_page(api_query, context, pairs)
        assert response["statusCode"] == 400, pairs
        assert body_of(response)["error"]["code"] == code, pairs


def test_trailing_spaces_and_lower_case_sectors_name_the_stored_sector(api_query, seeded, context):
    body = body_of(multi_page(api_query, context, [("sector", "technology  ")]))
    assert body["sector"] == "TECHNOLOGY" and len(body["quotes"]) == 5


MALFORMED_TOKENS = [
    "", "!!!!", "=" * 8, "a" * 201, "ｔｏｋｅｎ", "eyJzIjoiVEVDSE5PTE9HWSJ9",  # {"s":"TECHNOLOGY"}: no ticker
    "WzFd",  # [1]
    "eyJzIjoiVEVDSE5PTE9HWSIsInQiOiIkJCQifQ",  # {"s":"TECHNOLOGY","t":"$$$"}
    "_w",  # b"\xff": not UTF-8
]


def test_malformed_next_tokens_are_400(api_query, seeded, context):
    for token in MALFORMED_TOKENS:
        response = list_page(api_query, context, sector="TECHNOLOGY", next_token=token)
        assert response["statusCode"] == 400, token
        assert body_of(response)["error"]["code"] == "invalid_next_token"


def test_a_deeply_nested_token_is_400_not_500(api_query, seeded, context):
    import base64

    from api_query.store import decode_token, InvalidToken

    deep = base64.urlsafe_b64encode(b"[" * 100_000).decode().rstrip("=")
    with pytest.raises(InvalidToken):
        decode_token(deep, "TECHNOLOGY")
    # what the API answers for the longest token it reads, nested as deep as it goes
    nested = base64.urlsafe_b64encode(b"[" * 150).decode().rstrip("=")
    assert list_page(api_query, context, sector="TECHNOLOGY", next_token=nested)["statusCode"] == 400


def test_path_parameters_are_read_decoded_once_and_ascii_only(api_query, seeded, context):
    from urllib.parse import quote

    for raw in ("€", "A B", "AAPL%2520", "ＡＡＰＬ", "ǅ", "ı"):  # 'ı'.upper() == 'I'
        event = get("api_query/get-quote.json", path=f"/quotes/{quote(raw)}", pathParameters={"ticker": raw})
        response = api_query.handler(event, context)
        assert response["statusCode"] == 400, raw
        assert body_of(response)["error"]["code"] == "invalid_ticker"
    for raw in ("ß", "ＴＥＣＨ", " TECH"):
        event = get("api_query/get-sector-summary.json", path=f"/sectors/{quote(raw)}", pathParameters={"sector": raw})
        assert body_of(api_query.handler(event, context))["error"]["code"] == "invalid_sector", raw


def test_an_encoded_path_still_reads_the_decoded_parameter(api_query, seeded, context):
    event = get("api_query/get-sector-summary.json", path="/sectors/TECH%20NOLOGY",
                pathParameters={"sector": "TECHNOLOGY"})
    assert body_of(api_query.handler(event, context))["sector"] == "TECHNOLOGY"


def test_routes_without_query_parameters_refuse_them(api_query, seeded, context):
    for event_name in ("get-quote.json", "get-sector-summary.json"):
        event = get(f"api_query/{event_name}", queryStringParameters={"x": "1"}, multiValueQueryStringParameters={"x": ["1"]})
        response = api_query.handler(event, context)
        assert response["statusCode"] == 400 and body_of(response)["error"]["code"] == "unknown_parameter"


def test_no_query_string_or_path_parameter_gets_a_5xx(api_query, seeded, context):
    """Property: whatever API Gateway hands over (any text, repeated or unknown names), a 200/400/404 in the
    error shape; never a 5xx."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    text = st.text(max_size=30) | st.sampled_from(["TECHNOLOGY", "technology ", "²", "１", "25", "0", "101", ""])
    names = st.sampled_from(["sector", "limit", "next_token"]) | st.text(max_size=8)
    multi = st.dictionaries(names, st.lists(text, min_size=1, max_size=3), max_size=4)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(multi=multi, ticker=text, sector=text)
    def check(multi, ticker, sector):
        events = [
            get("api_query/list-sector-quotes.json", queryStringParameters={k: v[-1] for k, v in multi.items()} or None,
                multiValueQueryStringParameters=multi or None),
            get("api_query/get-quote.json", pathParameters={"ticker": ticker}, queryStringParameters=None,
                multiValueQueryStringParameters=None),
            get("api_query/get-sector-summary.json", pathParameters={"sector": sector}),
        ]
        for event in events:
            response = api_query.handler(event, context)
            assert response["statusCode"] in (200, 400, 404), (event["path"], response)
            if response["statusCode"] != 200:
                assert set(body_of(response)["error"]) >= {"code", "message", "request_id"}

    check()
