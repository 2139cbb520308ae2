"""FilterCriteria patterns as Lambda evaluates them, on Kinesis records (data parsed as JSON) and on
DynamoDB stream records (the record itself)."""

from __future__ import annotations

import base64
import json

import pytest

from tickerstream_local.esm_filters import matches_any, parse_filters


def kinesis(data: bytes, key: str = "QXZ") -> dict:
    return {"kinesis": {"partitionKey": key, "sequenceNumber": "1", "data": base64.b64encode(data).decode(),
                        "approximateArrivalTimestamp": 1.0}, "eventSource": "aws:kinesis"}


QUOTE = json.dumps({"ticker_symbol": "QXZ", "sector": "HEALTHCARE", "price": 84.51}).encode()


@pytest.mark.parametrize(("pattern", "expected"), [
    ({"data": {"sector": ["HEALTHCARE"]}}, True),
    ({"data": {"sector": ["ENERGY"]}}, False),
    ({"data": {"ticker_symbol": [{"prefix": "QX"}]}}, True),
    ({"data": {"price": [{"numeric": [">", 80, "<=", 90]}]}}, True),
    ({"data": {"price": [{"numeric": [">", 90]}]}}, False),
    ({"data": {"change": [{"exists": False}]}}, True),
    ({"data": {"change": [{"exists": True}]}}, False),
    ({"data": {"sector": [{"anything-but": ["ENERGY"]}]}}, True),
    ({"partitionKey": ["QXZ"]}, True),
])
def test_kinesis_patterns_match_the_records_json_data_and_metadata(pattern, expected):
    assert matches_any(kinesis(QUOTE), [pattern]) is expected


def test_a_record_whose_data_is_not_json_matches_no_data_pattern():
    assert matches_any(kinesis(b"\xff not json"), [{"data": {"sector": ["HEALTHCARE"]}}]) is False
    assert matches_any(kinesis(b"\xff not json"), [{"partitionKey": ["QXZ"]}]) is True


def test_any_filter_matching_is_enough_and_no_filters_match_everything():
    removal = {"eventName": "REMOVE", "dynamodb": {"Keys": {"ticker": {"S": "QXZ"}}}}
    written = parse_filters({"Filters": [{"Pattern": '{"eventName": ["INSERT", "MODIFY"]}'}]})
    assert matches_any(removal, written) is False
    assert matches_any({**removal, "eventName": "MODIFY"}, written) is True
    assert matches_any(removal, []) is True
