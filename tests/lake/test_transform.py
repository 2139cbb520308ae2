"""FirehoseTransform: event shapes, invalid kinds, the seed's demo records, partition keys, NDJSON framing."""

from __future__ import annotations

import base64
import calendar
import json
import math

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator

from lake.lakekit import (
    BASE_MS,
    SEED_QUOTES,
    b64,
    direct_put_record,
    kds_event,
    kds_record,
    lines_of,
    load_event,
)


def aggregate(payloads: list[tuple[str, bytes]]) -> bytes:
    aggregator = RecordAggregator()
    for partition_key, data in payloads:
        aggregator.add_user_record(partition_key, data)
    _, _, data = aggregator.clear_and_get().get_contents()
    return data


def by_id(records):
    return {r["recordId"]: r for r in records}


# --- event shapes -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["streams-as-source.json", "direct-put.json", "invalid.json"])
def test_every_sample_event_gets_one_answer_per_record_in_order(transform, name):
    event = load_event(name)
    result = transform.transform_batch(event["records"])
    assert [r["recordId"] for r in result.records] == [r["recordId"] for r in event["records"]]
    assert {r["result"] for r in result.records} <= {"Ok", "ProcessingFailed"}
    assert result.response_bytes == len(json.dumps({"records": result.records}))


def test_streams_as_source_lines_carry_the_kinesis_sequence_number_and_arrival(transform):
    event = load_event("streams-as-source.json")
    result = transform.transform_batch(event["records"])
    for record, output in zip(event["records"], result.records, strict=True):
        assert output["result"] == "Ok"
        (line,) = lines_of(output)
        meta = record["kinesisRecordMetadata"]
        assert line["sequence_number"] == meta["sequenceNumber"]
        assert line["sub_sequence_number"] == 0
        sent = json.loads(base64.b64decode(record["data"]))
        assert (line["ticker_symbol"], line["sector"]) == (sent["ticker_symbol"], sent["sector"])
        assert line["price"] == sent["price"] and line["change"] == sent["change"]
        # arrival_time is the stream's arrival in UTC, to the millisecond, in Hive's timestamp format
        ms = meta["approximateArrivalTimestamp"]
        expected = __import__("datetime").datetime.fromtimestamp(ms / 1000, __import__("datetime").UTC)
        assert line["arrival_time"] == expected.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


def test_direct_put_has_no_sequence_number_and_accepts_the_upper_case_variant(transform):
    event = load_event("direct-put.json")
    result = transform.transform_batch(event["records"])
    assert all(r["result"] == "Ok" for r in result.records)
    lines = [lines_of(r)[0] for r in result.records]
    assert all(line["sequence_number"] is None for line in lines)
    upper = lines[-1]  # {"TICKER_SYMBOL":"QXZ","SECTOR":"HEALTHCARE",...} in the sample
    assert (upper["ticker_symbol"], upper["sector"], upper["price"]) == ("QXZ", "HEALTHCARE", 84.51)


def test_subsequence_number_given_as_text_like_the_sam_sample(transform):
    record = kds_record(1, json.dumps(SEED_QUOTES[0]).encode(), subsequence="7")
    (output,) = transform.transform_batch([record]).records
    assert lines_of(output)[0]["sub_sequence_number"] == 7


def test_empty_batch(transform):
    result = transform.transform_batch([])
    assert result.records == [] and result.response_bytes == len(json.dumps({"records": []}))


# --- invalid records: ProcessingFailed with the original data, never an exception --------------

QUOTE = {"ticker_symbol": "NFLX", "sector": "TECHNOLOGY", "change": 1.86, "price": 180.86}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("not base64 at all!", "invalid_base64"),
        (b"\xff\xfe\x00garbage", "invalid_utf8"),
        (b'{"ticker_symbol": "AAPL", "sector": ', "invalid_json"),
        (b"[1, 2, 3]", "not_an_object"),
        (b'"NFLX"', "not_an_object"),
        (json.dumps({**QUOTE, "price": -4}).encode(), "invalid_quote"),
        (json.dumps({**QUOTE, "price": 0}).encode(), "invalid_quote"),
        (json.dumps({**QUOTE, "price": True}).encode(), "invalid_quote"),
        (b'{"ticker_symbol":"NFLX","sector":"TECHNOLOGY","change":NaN,"price":1}', "invalid_quote"),
        (json.dumps({**QUOTE, "ticker_symbol": "nflx lower"}).encode(), "invalid_quote"),
        (json.dumps({"sector": "TECHNOLOGY", "change": 1, "price": 2}).encode(), "invalid_quote"),
        (json.dumps({**QUOTE, "sector": "   "}).encode(), "invalid_quote"),
        (json.dumps({**QUOTE, "pad": "x" * 5000}).encode(), "oversized"),
        (b"\xf3\x89\x9a\xc2" + b"\x00" * 30, "invalid_aggregate"),
        (b"", "invalid_json"),
        # the number rule: at most 6 decimal places (DynamoDB could not store these)
        (json.dumps({**QUOTE, "change": 1e-200}).encode(), "invalid_quote"),
        (json.dumps({**QUOTE, "price": 5e-324}).encode(), "invalid_quote"),
        (json.dumps({**QUOTE, "change": 1e-7}).encode(), "invalid_quote"),
    ],
)
def test_invalid_kinds_fail_alone_and_keep_their_raw_data(transform, data, reason):
    good = kds_record(0, json.dumps(QUOTE).encode())
    bad = kds_record(1, data, partition_key="BAD")
    after = kds_record(2, json.dumps(SEED_QUOTES[1]).encode())
    result = transform.transform_batch([good, bad, after])
    first, failed, last = result.records
    assert first["result"] == "Ok" and last["result"] == "Ok"
    assert failed == {"recordId": bad["recordId"], "result": "ProcessingFailed", "data": bad["data"]}
    (rejected,) = result.rejects
    assert (rejected.record_id, rejected.reason) == (bad["recordId"], reason)
    assert rejected.sequence_number == bad["kinesisRecordMetadata"]["sequenceNumber"]
    assert result.quotes == 2


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r["kinesisRecordMetadata"].update(approximateArrivalTimestamp=None) or r.pop("approximateArrivalTimestamp"),
        lambda r: r["kinesisRecordMetadata"].update(approximateArrivalTimestamp="yesterday"),
        lambda r: r["kinesisRecordMetadata"].update(sequenceNumber="12ab"),
        lambda r: r["kinesisRecordMetadata"].update(subsequenceNumber="first"),
    ],
    ids=["no-arrival", "text-arrival", "bad-sequence", "bad-subsequence"],
)
def test_malformed_metadata_fails_the_record_not_the_batch(transform, mutate):
    record = kds_record(3, json.dumps(QUOTE).encode())
    mutate(record)
    result = transform.transform_batch([record, kds_record(4, json.dumps(QUOTE).encode())])
    assert [r["result"] for r in result.records] == ["ProcessingFailed", "Ok"]
    assert result.rejects[0].reason == "invalid_metadata"


def test_record_without_data_or_with_odd_id_still_gets_an_answer(transform):
    odd = {"recordId": 'id "quoted" \\ é', "approximateArrivalTimestamp": BASE_MS}
    result = transform.transform_batch([odd])
    assert result.records == [{"recordId": odd["recordId"], "result": "ProcessingFailed", "data": ""}]
    assert result.response_bytes == len(json.dumps({"records": result.records}))


# --- the seed's demo records ------------------------------------------------------------------


def test_all_seed_demo_records_are_delivered_unchanged(transform):
    records = [
        kds_record(i, json.dumps(q).encode(), BASE_MS + i * 1000, partition_key=q["ticker_symbol"])
        for i, q in enumerate(SEED_QUOTES)
    ]
    result = transform.transform_batch(records)
    assert not result.rejects and result.quotes == len(SEED_QUOTES) == 70
    for quote, output in zip(SEED_QUOTES, result.records, strict=True):
        (line,) = lines_of(output)
        assert {k: line[k] for k in quote} == quote  # integers stay integers (e.g. "price": 53)
        assert type(line["price"]) is type(quote["price"])
        assert output["metadata"]["partitionKeys"]["sector"] == quote["sector"]


def test_seed_records_concatenated_like_an_s3_object_parse_line_by_line(transform):
    """The source's object was unreadable (no delimiter); ours is one JSON document per line."""
    records = [kds_record(i, json.dumps(q).encode()) for i, q in enumerate(SEED_QUOTES)]
    blob = b"".join(base64.b64decode(r["data"]) for r in transform.transform_batch(records).records)
    rows = blob.decode().splitlines()
    assert len(rows) == len(SEED_QUOTES)
    assert [json.loads(row)["ticker_symbol"] for row in rows] == [q["ticker_symbol"] for q in SEED_QUOTES]


# --- partition keys ---------------------------------------------------------------------------


def utc_ms(*fields) -> int:
    return calendar.timegm(fields) * 1000


@pytest.mark.parametrize(
    ("arrival_ms", "expected"),
    [
        (utc_ms(2021, 7, 12, 11, 42, 13) + 453, ("2021", "07", "12", "11")),
        (utc_ms(2024, 12, 31, 23, 59, 59) + 999, ("2024", "12", "31", "23")),
        (utc_ms(2025, 1, 1, 0, 0, 0), ("2025", "01", "01", "00")),
        (utc_ms(2024, 2, 29, 5, 0, 0), ("2024", "02", "29", "05")),
    ],
)
def test_time_partitions_are_the_utc_arrival_hour_zero_padded(transform, arrival_ms, expected):
    (output,) = transform.transform_batch([kds_record(0, json.dumps(QUOTE).encode(), arrival_ms)]).records
    keys = output["metadata"]["partitionKeys"]
    assert (keys["year"], keys["month"], keys["day"], keys["hour"]) == expected
    assert set(keys) == {"sector", "year", "month", "day", "hour"}
    assert lines_of(output)[0]["arrival_time"].startswith(f"{expected[0]}-{expected[1]}-{expected[2]} {expected[3]}:")


@pytest.mark.parametrize(
    ("sector", "partition"),
    [
        ("technology", "TECHNOLOGY"),
        ("  Health care ", "HEALTH_CARE"),
        ("OIL & GAS", "OIL_GAS"),
        ("REAL-ESTATE", "REAL-ESTATE"),
        ("A.B", "A_B"),
    ],
)
def test_sector_partition_is_path_safe_and_the_line_keeps_the_normalised_sector(transform, sector, partition):
    (output,) = transform.transform_batch([kds_record(0, json.dumps({**QUOTE, "sector": sector}).encode())]).records
    assert output["metadata"]["partitionKeys"]["sector"] == partition
    assert lines_of(output)[0]["sector"] == sector.strip().upper()


def test_the_stream_arrival_wins_over_the_firehose_arrival(transform):
    record = kds_record(0, json.dumps(QUOTE).encode(), utc_ms(2021, 7, 12, 11, 0, 0))
    record["approximateArrivalTimestamp"] = utc_ms(2021, 7, 12, 13, 0, 0)
    (output,) = transform.transform_batch([record]).records
    assert output["metadata"]["partitionKeys"]["hour"] == "11"


# --- KPL aggregates (possible with direct put; Firehose de-aggregates stream records itself) ---


def test_aggregate_of_one_sector_becomes_one_record_of_several_lines(transform):
    quotes = [q for q in SEED_QUOTES if q["sector"] == "ENERGY"][:4]
    data = aggregate([(q["ticker_symbol"], json.dumps(q).encode()) for q in quotes])
    (output,) = transform.transform_batch([direct_put_record(0, data)]).records
    lines = lines_of(output)
    assert [line["ticker_symbol"] for line in lines] == [q["ticker_symbol"] for q in quotes]
    assert [line["sub_sequence_number"] for line in lines] == [0, 1, 2, 3]
    assert output["metadata"]["partitionKeys"]["sector"] == "ENERGY"


def test_aggregate_spanning_sectors_or_holding_an_invalid_quote_fails_whole(transform):
    mixed = aggregate([("A", json.dumps(SEED_QUOTES[0]).encode()), ("B", json.dumps(SEED_QUOTES[1]).encode())])
    poisoned = aggregate([("A", json.dumps(QUOTE).encode()), ("B", b"{not json")])
    result = transform.transform_batch([direct_put_record(0, mixed), direct_put_record(1, poisoned)])
    assert [r["result"] for r in result.records] == ["ProcessingFailed", "ProcessingFailed"]
    assert [r.reason for r in result.rejects] == ["mixed_partitions", "invalid_json"]


# --- numbers survive the hand-written JSON exactly ---------------------------------------------


@pytest.mark.parametrize("price", [53, 0.1, 1e-6, 0.00001, 123456789.125, 999999999999, 1e11 + 0.5])
def test_numbers_round_trip(transform, price):
    (output,) = transform.transform_batch([kds_record(0, json.dumps({**QUOTE, "price": price, "change": -price}).encode())]).records
    line = lines_of(output)[0]
    assert line["price"] == price and line["change"] == -price and not math.isnan(line["price"])
    assert type(line["price"]) is type(price)


def test_b64_helper_matches_firehose_encoding():
    assert base64.b64decode(b64(b"abc")) == b"abc"


# --- the number rule --------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("change", 1e-200), ("price", 5e-324), ("change", 0.1 + 0.2)])
def test_a_number_with_more_than_six_places_is_failed_naming_its_field(transform, field, value):
    (rejected,) = transform.transform_batch([kds_record(0, json.dumps({**QUOTE, field: value}).encode())]).rejects
    assert rejected.reason == "invalid_quote"
    assert rejected.detail == f"{field}: must have at most 6 decimal places"


def test_an_aggregate_holding_a_number_out_of_rule_is_failed_whole(transform):
    data = aggregate([("A", json.dumps(QUOTE).encode()), ("B", json.dumps({**QUOTE, "change": 1e-100}).encode())])
    result = transform.transform_batch([kds_record(0, data)])
    assert result.records[0]["result"] == "ProcessingFailed"
    (rejected,) = result.rejects
    assert (rejected.reason, rejected.detail) == ("invalid_quote", "user record 1: change: must have at most 6 decimal places")


def test_small_and_large_values_reach_the_lake_exactly(transform):
    quote = {**QUOTE, "change": -0.000001, "price": 999999999999.99}
    [output] = transform.transform_batch([kds_record(0, json.dumps(quote).encode())]).records
    [line] = lines_of(output)
    assert (line["change"], line["price"]) == (-0.000001, 999999999999.99)
