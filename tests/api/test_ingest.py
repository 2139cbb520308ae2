"""POST /quotes (ApiIngest) on the moto deployment: validation, limits, PutRecords, errors, identity in logs."""

from __future__ import annotations

import copy
import io
import json

import boto3
import pytest
from api.helpers import capture_logs, body_of, load_event, log_lines

from tickerstream_local.functions import load_function


def stream_records(deployment) -> list[dict]:
    kinesis = boto3.client("kinesis")
    name = deployment.ctx.refs["QuoteStream"]
    out = []
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        out += kinesis.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    return out


def post(body, content_type="application/json"):
    event = load_event("api_ingest/post-one-quote.json")
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    if content_type is None:
        event["headers"].pop("Content-Type")
    else:
        event["headers"]["Content-Type"] = content_type
    return event


def quote(i: int) -> dict:
    return {"ticker_symbol": f"T{i}", "sector": "TECHNOLOGY", "change": 0.5, "price": 10 + i}


def test_one_quote_is_written_to_the_stream(api_ingest, deployment, context):
    response = api_ingest.handler(load_event("api_ingest/post-one-quote.json"), context)
    assert response["statusCode"] == 202
    body = body_of(response)
    assert body["accepted"] == 1
    [record] = body["records"]
    [written] = stream_records(deployment)
    assert record["sequence_number"] == written["SequenceNumber"] and record["ticker_symbol"] == "AAPL"
    assert written["PartitionKey"] == "AAPL"
    assert json.loads(written["Data"]) == {"ticker_symbol": "AAPL", "sector": "TECHNOLOGY", "change": 1.25, "price": 189.5}


def test_a_batch_is_written_with_one_sequence_number_per_quote(api_ingest, deployment, context):
    response = api_ingest.handler(load_event("api_ingest/post-batch.json"), context)
    assert response["statusCode"] == 202
    body = body_of(response)
    assert body["accepted"] == 3
    assert [r["ticker_symbol"] for r in body["records"]] == ["QXZ", "NFLX", "WMT"]
    # moto numbers each shard from 1: a record is identified by shard and sequence number
    assert len({(r["shard_id"], r["sequence_number"]) for r in body["records"]}) == 3
    assert all(r["sequence_number"] for r in body["records"])
    assert sorted(r["PartitionKey"] for r in stream_records(deployment)) == ["NFLX", "QXZ", "WMT"]


def test_invalid_quotes_are_all_listed_and_nothing_is_written(api_ingest, deployment, context):
    event = load_event("api_ingest/post-invalid-quotes.json")
    response = api_ingest.handler(event, context)
    assert response["statusCode"] == 400
    error = body_of(response)["error"]
    assert error["code"] == "invalid_quotes"
    assert error["request_id"] == event["requestContext"]["requestId"]
    assert {(d["index"], d["field"]) for d in error["details"]} == {
        (1, "ticker_symbol"), (1, "sector"), (1, "change"), (1, "price"),
        (2, "ticker_symbol"), (2, "price"),
    }
    assert all(d["message"] for d in error["details"])
    assert stream_records(deployment) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", "invalid_json"),
        ("", "invalid_json"),
        ([quote(1)], "invalid_body"),
        ({"quotes": []}, "invalid_body"),
        ({"quotes": {"ticker_symbol": "A"}}, "invalid_body"),
        ("42", "invalid_body"),
    ],
)
def test_malformed_bodies_are_refused_with_400(api_ingest, context, body, code):
    response = api_ingest.handler(post(body), context)
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["code"] == code


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_types_get_415(api_ingest, deployment, context, content_type):
    response = api_ingest.handler(post({"quotes": [quote(1)]}, content_type), context)
    assert response["statusCode"] == 415
    assert body_of(response)["error"]["code"] == "unsupported_media_type"
    assert stream_records(deployment) == []


def test_json_with_a_charset_is_accepted(api_ingest, context):
    assert api_ingest.handler(post(quote(1), "application/json; charset=utf-8"), context)["statusCode"] == 202


def test_more_than_500_quotes_get_413_and_500_are_accepted(api_ingest, deployment, context):
    response = api_ingest.handler(post({"quotes": [quote(i) for i in range(501)]}), context)
    assert response["statusCode"] == 413
    assert body_of(response)["error"]["code"] == "too_many_quotes"
    assert stream_records(deployment) == []

    response = api_ingest.handler(post({"quotes": [quote(i) for i in range(500)]}), context)
    assert response["statusCode"] == 202 and body_of(response)["accepted"] == 500


def test_a_body_over_1_mib_gets_413(api_ingest, context):
    padded = json.dumps({"quotes": [quote(1)], "padding": "x" * (1024 * 1024)})
    response = api_ingest.handler(post(padded), context)
    assert response["statusCode"] == 413
    assert body_of(response)["error"]["code"] == "body_too_large"


def test_the_caller_and_request_id_are_in_the_logs(api_ingest, context):
    stream = capture_logs(api_ingest)
    event = load_event("api_ingest/post-one-quote.json")
    api_ingest.handler(event, context)
    lines = [line for line in log_lines(stream.getvalue()) if line.get("message") == "Quotes accepted"]
    assert lines, "no 'Quotes accepted' log line"
    claims = event["requestContext"]["authorizer"]["claims"]
    assert lines[0]["caller"] == claims["client_id"] and lines[0]["caller_type"] == "machine"
    assert lines[0]["correlation_id"] == event["requestContext"]["requestId"]


def test_responses_carry_cors_headers(api_ingest, context):
    event = load_event("api_ingest/post-one-quote.json")
    event["headers"]["Origin"] = "https://dashboard.example.com"
    event["multiValueHeaders"]["Origin"] = ["https://dashboard.example.com"]
    response = api_ingest.handler(event, context)
    headers = {k.lower(): v for k, v in (response.get("multiValueHeaders") or {}).items()}
    headers.update({k.lower(): [v] for k, v in (response.get("headers") or {}).items()})
    assert headers["access-control-allow-origin"] == ["*"]


class ThrottlingKinesis:
    """Throttles every entry of the first `throttled_calls` PutRecords calls."""

    def __init__(self, throttled_calls: int):
        self.throttled_calls = throttled_calls
        self.calls = 0

    def put_records(self, Records, **_):  # noqa: N803
        self.calls += 1
        if self.calls <= self.throttled_calls:
            return {"FailedRecordCount": len(Records), "Records": [
                {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"} for _ in Records]}
        return {"FailedRecordCount": 0, "Records": [
            {"ShardId": "shardId-000000000000", "SequenceNumber": str(100 + i)} for i, _ in enumerate(Records)]}


def ingest_with(client, deployment):
    from aws_lambda_powertools import Logger, Metrics

    load_function("ApiIngest", deployment.function_environment("ApiIngest"))  # puts api_ingest on sys.path
    from api_ingest.routes import build_resolver

    return build_resolver(client, "stream", "*", Logger(), Metrics(), sleep=lambda _: None)


def test_throttled_entries_are_retried_then_accepted(deployment, context):
    client = ThrottlingKinesis(throttled_calls=2)
    app = ingest_with(client, deployment)
    response = app.resolve(load_event("api_ingest/post-batch.json"), context)
    assert response["statusCode"] == 202 and body_of(response)["accepted"] == 3
    assert client.calls == 3


def test_persistent_throttling_gives_503_naming_every_unwritten_quote(deployment, context):
    app = ingest_with(ThrottlingKinesis(throttled_calls=99), deployment)
    response = app.resolve(load_event("api_ingest/post-batch.json"), context)
    assert response["statusCode"] == 503
    headers = {**(response.get("headers") or {}), **{k: v[0] for k, v in (response.get("multiValueHeaders") or {}).items()}}
    assert headers.get("Retry-After") == "1"
    error = body_of(response)["error"]
    assert error["code"] == "stream_unavailable"
    assert [(d["index"], d["ticker_symbol"]) for d in error["details"]] == [(0, "QXZ"), (1, "NFLX"), (2, "WMT")]


def test_the_event_files_are_valid_api_gateway_events():
    for name in ("post-one-quote", "post-batch", "post-invalid-quotes", "post-not-json"):
        event = load_event(f"api_ingest/{name}.json")
        assert event["httpMethod"] == "POST" and event["resource"] == "/quotes"
        assert "client_id" in event["requestContext"]["authorizer"]["claims"]
    assert copy.deepcopy(load_event("api_ingest/post-not-json.json"))["headers"]["Content-Type"] != "application/json"


def test_deeply_nested_json_is_a_400_not_a_500(api_ingest, deployment, context):
    nested = "[" * 100_000 + "]" * 100_000
    for body in (nested, '{"quotes": ' + nested + "}", '{"a":' * 50_000 + "1" + "}" * 50_000):
        response = api_ingest.handler(post(body), context)
        assert response["statusCode"] == 400, body[:20]
        assert body_of(response)["error"]["code"] == "invalid_json"
    assert stream_records(deployment) == []


BODY_REFUSALS = [
    # (body or raw bytes, content type, status, code, field with a problem or None)
    ('{"ticker_symbol":"A","sector":"B","change":1e400,"price":1}', "application/json", 400, "invalid_quotes", "change"),
    ('{"ticker_symbol":"A","sector":"B","change":0,"price":-0}', "application/json", 400, "invalid_quotes", "price"),
    ('{"ticker_symbol":"A","sector":"B","change":0,"price":-0.0}', "application/json", 400, "invalid_quotes", "price"),
    ('{"ticker_symbol":"A","sector":"B","change":0,"price":"1"}', "application/json", 400, "invalid_quotes", "price"),
    ('{"ticker_symbol":"A","sector":"B","change":0,"price":true}', "application/json", 400, "invalid_quotes", "price"),
    ('{"ticker_symbol":"A","sector":"B","change":NaN,"price":1}', "application/json", 400, "invalid_json", None),
    ('{"ticker_symbol":"A","sector":"B","change":-Infinity,"price":1}', "application/json", 400, "invalid_json", None),
    ('{"ticker_symbol":"A","sector":"B","change":0,"price":1' + "0" * 5000 + "}", "application/json", 400, "invalid_json", None),
    ('{"ticker_symbol":"A","sector":"B","change":0,"price":1,"price":-1}', "application/json", 400, "invalid_json", None),
    ('{"quotes":[],"quotes":[{"ticker_symbol":"A","sector":"B","change":0,"price":1}]}', "application/json", 400, "invalid_json", None),
    ('{"ticker_symbol":"\\ud800","sector":"B","change":0,"price":1}', "application/json", 400, "invalid_quotes", "ticker_symbol"),
    ('\ufeff{"ticker_symbol":"A","sector":"B","change":0,"price":1}', "application/json", 400, "invalid_json", None),
    ('{"ticker_symbol":"A","sector":"B","change":0,"price":1}', "application/json; charset=latin-1", 415, "unsupported_media_type", None),
    ('{"ticker_symbol":"A","sector":"B","change":0,"price":1}', "application/json, text/plain", 415, "unsupported_media_type", None),
    ('{"ticker_symbol":"A","sector":"B","change":0,"price":1}', "application/jsonx", 415, "unsupported_media_type", None),
    ('{"ticker_symbol":"A","sector":"B","change":0,"price":1}', "multipart/form-data; boundary=x", 415, "unsupported_media_type", None),
    ("null", "application/json", 400, "invalid_body", None),
    ('"AAPL"', "application/json", 400, "invalid_body", None),
    ('{"quotes": null}', "application/json", 400, "invalid_body", None),
    ('{"quotes": [1, "x", null]}', "application/json", 400, "invalid_quotes", "$"),
    (" \n\t ", "application/json", 400, "invalid_json", None),
]


def test_hostile_bodies_are_4xx_and_nothing_is_written(api_ingest, deployment, context):
    for body, content_type, status, code, field in BODY_REFUSALS:
        response = api_ingest.handler(post(body, content_type), context)
        assert response["statusCode"] == status, (body[:60], content_type, body_of(response))
        error = body_of(response)["error"]
        assert error["code"] == code, (body[:60], error)
        if field:
            assert field in {d["field"] for d in error["details"]}, (body[:60], error)
    assert stream_records(deployment) == []


def test_bytes_that_are_not_utf8_json_are_400(api_ingest, deployment, context):
    import base64

    quote_json = '{"ticker_symbol":"A","sector":"B","change":0,"price":1}'
    for raw in (b"\xff\xfe{}", quote_json.encode("utf-16"), quote_json.encode("utf-32"), b'{"ticker_symbol":"\xe9"}'):
        event = post("", "application/json")
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
        response = api_ingest.handler(event, context)
        assert response["statusCode"] == 400 and body_of(response)["error"]["code"] == "invalid_json", raw
    event = post("", "application/json")
    event["body"], event["isBase64Encoded"] = "not base64!", True
    assert body_of(api_ingest.handler(event, context))["error"]["code"] == "invalid_body"
    assert stream_records(deployment) == []


def test_json_spellings_that_are_fine(api_ingest, context):
    quote_json = '{"ticker_symbol":"A","sector":"  tech  ","change":-0,"price":1.0000000}'
    for content_type in ("application/json", "APPLICATION/JSON", "application/json;charset=UTF-8",
                         'application/json; charset="utf-8"', "application/vnd.api+json"):
        response = api_ingest.handler(post(quote_json, content_type), context)
        assert response["statusCode"] == 202, (content_type, body_of(response))


def test_no_body_gets_a_5xx(api_ingest, context):
    """Property: any JSON value, any bytes, any content type: a 202 or a 4xx in the error shape."""
    import base64

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    numbers = st.floats(allow_nan=False) | st.integers() | st.sampled_from([1e-7, 5e-324, 1e12, -0.0, 10**30])
    leaves = st.none() | st.booleans() | numbers | st.text(max_size=12)
    json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                               | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=30)
    quoteish = st.fixed_dictionaries({"ticker_symbol": st.text(max_size=12) | st.just("AAPL"),
                                      "sector": st.text(max_size=12) | st.just("TECH"),
                                      "change": numbers | leaves, "price": numbers | leaves})
    bodies = (json_values.map(json.dumps) | quoteish.map(json.dumps)
              | st.lists(quoteish, max_size=3).map(lambda q: json.dumps({"quotes": q})) | st.binary(max_size=64))
    content_types = st.sampled_from(["application/json", "application/json; charset=utf-16", "text/plain", "",
                                     "application/problem+json"]) | st.text(max_size=20)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies, content_type=content_types)
    def check(body, content_type):
        event = post("", content_type)
        if isinstance(body, bytes):
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        else:
            event["body"] = body
        response = api_ingest.handler(event, context)
        assert response["statusCode"] in (202, 400, 413, 415), response
        if response["statusCode"] != 202:
            assert set(body_of(response)["error"]) >= {"code", "message", "request_id"}

    check()
