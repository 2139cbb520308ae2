"""FirehoseTransform at Firehose's and Lambda's size limits: the response always fits in 6 MB."""

from __future__ import annotations

import json

from tickerstream_local.template import sam_template

from lake.lakekit import BASE_MS, SEED_QUOTES, direct_put_record, kds_event, kds_record

LIMIT = 6 * 1024 * 1024  # Lambda's synchronous request/response payload limit
SMALLEST_QUOTE = b'{"ticker_symbol":"A","sector":"B","change":0,"price":1}'


def fill_request(make, limit: int = LIMIT) -> dict:
    """The largest event (by its JSON size) of records from make(i) that Lambda would accept."""
    records, size = [], len(json.dumps(kds_event([])))
    i = 0
    while True:
        record = make(i)
        grown = size + len(json.dumps(record)) + 2
        if grown > limit:
            return kds_event(records)
        records.append(record)
        size = grown
        i += 1


def check_response(event: dict, result) -> dict:
    response = {"records": result.records}
    encoded = json.dumps(response)
    assert len(encoded) == result.response_bytes <= LIMIT
    assert [r["recordId"] for r in result.records] == [r["recordId"] for r in event["records"]]
    sent = {r["recordId"]: r["data"] for r in event["records"]}
    for output in result.records:
        if output["result"] == "ProcessingFailed":
            assert output["data"] == sent[output["recordId"]]  # whole, for errors/processing-failed
    return response


def test_request_at_the_limit_of_smallest_direct_put_quotes_sheds_the_overflow_to_errors(transform):
    # Worst case for growth: tiny records, no kinesisRecordMetadata to drop; enrichment and partition
    # keys make each answer several times its request.
    event = fill_request(lambda i: direct_put_record(i, SMALLEST_QUOTE, BASE_MS + i))
    assert len(json.dumps(event)) > LIMIT - 200
    result = transform.transform_batch(event["records"])
    check_response(event, result)
    outcomes = [r["result"] for r in result.records]
    ok = outcomes.count("Ok")
    assert 0 < ok < len(outcomes), "some fit, the rest go to the error prefix"
    assert outcomes == ["Ok"] * ok + ["ProcessingFailed"] * (len(outcomes) - ok), "kept in order"
    assert {r.reason for r in result.rejects} == {"response_size_limit"}
    assert result.quotes == ok
    # and the budget is used, not wasted: one more Ok record would not have fitted
    assert result.response_bytes > LIMIT - 2000 - 16 * 1024


def demo_record(i: int) -> dict:
    return kds_record(i, json.dumps(SEED_QUOTES[i % 70]).encode(), BASE_MS + i, partition_key="X")


def test_request_at_the_limit_of_demo_quotes_from_the_stream_loses_nothing(transform):
    # Even stream records grow a little (about 10 %), so a 6 MB request of them cannot come back
    # whole: what does not fit goes to errors/ whole, in order, and the invocation succeeds.
    event = fill_request(demo_record)
    result = transform.transform_batch(event["records"])
    check_response(event, result)
    assert result.quotes + len(result.rejects) == len(event["records"]) > 10_000
    assert len(result.rejects) < len(event["records"]) // 5


def test_a_batch_of_the_templates_transform_buffer_size_fits_whole(transform):
    # Firehose gathers LakeTransformBufferSizeMiB of record data per invocation; with the template's
    # default, even the smallest demo-like quotes come back whole (no response_size_limit failures).
    default = float(sam_template()["Parameters"]["LakeTransformBufferSizeMiB"]["Default"])
    records, data_bytes, i = [], 0, 0
    while data_bytes < default * 1024 * 1024:
        record = kds_record(i, SMALLEST_QUOTE, BASE_MS + i)
        records.append(record)
        data_bytes += len(SMALLEST_QUOTE)
        i += 1
    event = kds_event(records)
    result = transform.transform_batch(event["records"])
    check_response(event, result)
    assert not result.rejects and result.quotes == len(records)


def test_largest_valid_quotes_fit(transform):
    quote = dict(SEED_QUOTES[0])
    base = len(json.dumps({**quote, "pad": ""}).encode())
    big = json.dumps({**quote, "pad": "x" * (4096 - base)}).encode()
    assert len(big) == 4096  # tickerstream.codec.MAX_QUOTE_BYTES
    event = fill_request(lambda i: kds_record(i, big, BASE_MS))
    result = transform.transform_batch(event["records"])
    check_response(event, result)
    assert not result.rejects


def test_records_of_firehose_maximum_size_fail_whole_within_the_limit(transform):
    # Firehose records are up to 1,000 KiB; these are not quotes, so they go back as they came.
    blob = b"x" * (1000 * 1024)
    event = fill_request(lambda i: kds_record(i, blob, BASE_MS))
    assert len(event["records"]) == 4
    result = transform.transform_batch(event["records"])
    check_response(event, result)
    assert [r.reason for r in result.rejects] == ["oversized"] * 4


def test_even_a_request_over_the_budget_gets_a_response_within_it(transform):
    # A budget smaller than the request itself: failed records shed their echoed data last-first.
    event = kds_event([kds_record(i, b"not a quote " * 50, BASE_MS) for i in range(20)])
    budget = len(json.dumps(event)) // 2
    result = transform.transform_batch(event["records"], budget=budget)
    assert len(json.dumps({"records": result.records})) == result.response_bytes <= budget
    assert len(result.records) == 20 and all(r["result"] == "ProcessingFailed" for r in result.records)
    assert result.records[0]["data"] and not result.records[-1]["data"]
