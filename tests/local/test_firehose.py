"""The local Firehose: prefixes evaluated, buffering, compression, Lambda results, error documents."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import re
import struct
import zipfile

import cramjam
import pytest
from local.synthetic import firehose_template, json_transform

from tickerstream_local.firehose import (
    LocalFirehose,
    effective_prefixes,
    evaluate_prefix,
    java_format,
)

MOMENT = dt.datetime(2021, 7, 2, 9, 5, 3, tzinfo=dt.UTC)
NAME_SUFFIX = r"(?P<name>[\w-]+)-1-(?P<stamp>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})-[0-9a-f-]{36}"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy", "2021"),
        ("yyyy/MM/dd/HH/", "2021/07/02/09/"),
        ("yyyy'-'MM'-'dd", "2021-07-02"),
        ("'year='yyyy'/month='MM'/day='dd'/hour='HH", "year=2021/month=07/day=02/hour=09"),
        ("yy-M-d H:m:s", "21-7-2 9:5:3"),
        ("DDD", "183"),
        ("EEE MMM", "Fri Jul"),
        ("'it''s' HH", "it's 09"),
    ],
)
def test_java_date_patterns(pattern, expected):
    assert java_format(pattern, MOMENT) == expected


def test_prefix_expressions():
    prefix = "data/ticker=!{partitionKeyFromLambda:ticker}/year=!{timestamp:yyyy}/rnd=!{firehose:random-string}/"
    evaluated = evaluate_prefix(prefix, MOMENT, lambda_keys={"ticker": "AAPL"})
    assert re.fullmatch(r"data/ticker=AAPL/year=2021/rnd=[0-9a-f]{11}/", evaluated)
    assert evaluate_prefix("e/!{firehose:error-output-type}/", MOMENT, error_output_type="processing-failed") == (
        "e/processing-failed/"
    )
    with pytest.raises(KeyError):
        evaluate_prefix("t=!{partitionKeyFromLambda:ticker}/", MOMENT, lambda_keys={})
    with pytest.raises(ValueError):
        evaluate_prefix("p/!{firehose:error-output-type}/", MOMENT)


def test_prefix_semantic_rules():
    # No timestamp expression: Firehose appends !{timestamp:yyyy/MM/dd/HH/}; the error prefix follows.
    prefix, error = effective_prefixes("datos/", None, dynamic=False)
    assert evaluate_prefix(prefix, MOMENT) == "datos/2021/07/02/09/"
    assert evaluate_prefix(error, MOMENT, error_output_type="processing-failed") == "datos/processing-failed/2021/07/02/09/"
    prefix, _ = effective_prefixes(None, "f/!{firehose:error-output-type}/", dynamic=False)
    assert evaluate_prefix(prefix, MOMENT) == "2021/07/02/09/"
    with pytest.raises(ValueError, match="can't be null"):
        effective_prefixes("d/!{timestamp:yyyy}/", None, dynamic=False)
    with pytest.raises(ValueError, match="must contain"):
        effective_prefixes("d/!{timestamp:yyyy}/", "errors/!{timestamp:yyyy}/", dynamic=False)
    with pytest.raises(ValueError, match="can't contain"):
        effective_prefixes("d/!{firehose:error-output-type}/", "e/!{firehose:error-output-type}", dynamic=False)


def _put(deployment, payloads, ticker_key="ticker"):
    kinesis = deployment.client("kinesis")
    stream = deployment.physical["Source"]
    for payload in payloads:
        kinesis.put_record(StreamName=stream, Data=json.dumps(payload).encode(), PartitionKey=payload.get(ticker_key, "x"))


def _objects(deployment):
    s3 = deployment.client("s3")
    bucket = deployment.physical["Lake"]
    listing = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listing}


DYNAMIC = {
    "Prefix": "quotes/ticker=!{partitionKeyFromLambda:ticker}/dt=!{timestamp:yyyy-MM-dd}/",
    "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/",
    "CompressionFormat": "GZIP",
    "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
    "DynamicPartitioningConfiguration": {"Enabled": True},
}


def test_dynamic_partitions_gzip_and_error_prefix(deploy_synthetic):
    deployment = deploy_synthetic(firehose_template(DYNAMIC, shards=2))
    clock = Clock()
    hose = LocalFirehose(deployment, "Hose", handlers={"Transform": json_transform}, clock=clock)
    before = dt.datetime.now(dt.UTC)
    quotes = [{"ticker": t, "price": i} for i, t in enumerate(["AAPL", "MSFT", "AAPL", "NFLX", "AAPL"])]
    _put(deployment, [*quotes, {"ticker": "BAD", "mode": "fail"}, {"ticker": "GONE", "mode": "drop"}])
    after = dt.datetime.now(dt.UTC)

    hose.pump()
    # The transform ran and the failure is written at once, but the 60 s buffer holds the data.
    assert hose.stats.records_in == 7
    objects = _objects(deployment)
    assert all(key.startswith("errors/") for key in objects)

    clock.now += 59
    hose.pump()
    assert not any(key.startswith("quotes/") for key in _objects(deployment))
    clock.now += 1
    hose.pump()
    objects = _objects(deployment)

    days = {before.strftime("%Y-%m-%d"), after.strftime("%Y-%m-%d")}
    delivered: dict[str, list[dict]] = {}
    for key, body in objects.items():
        if not key.startswith("quotes/"):
            continue
        match = re.fullmatch(rf"quotes/ticker=(\w+)/dt=([\d-]+)/{NAME_SUFFIX}\.gz", key)
        assert match, key
        assert match.group(2) in days
        assert match.group("name") == deployment.physical["Hose"]
        assert body[:2] == b"\x1f\x8b"
        lines = gzip.decompress(body).decode().splitlines()
        delivered.setdefault(match.group(1), []).extend(json.loads(line) for line in lines)
    assert delivered == {
        "AAPL": [quotes[0], quotes[2], quotes[4]],  # stream order kept within the partition
        "MSFT": [quotes[1]],
        "NFLX": [quotes[3]],
    }
    assert hose.stats.dropped == 1 and hose.stats.failed == 1 and hose.stats.delivered == 5

    errors = [(k, v) for k, v in objects.items() if k.startswith("errors/")]
    assert len(errors) == 1
    key, body = errors[0]
    assert re.fullmatch(rf"errors/processing-failed/\d{{4}}/\d{{2}}/\d{{2}}/{NAME_SUFFIX}\.gz", key), key
    (document,) = [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
    assert set(document) == {
        "attemptsMade", "arrivalTimestamp", "errorCode", "errorMessage", "attemptEndingTimestamp", "rawData", "lambdaArn",
    }
    assert document["errorCode"] == "Lambda.ProcessingFailedStatus"
    assert json.loads(base64.b64decode(document["rawData"])) == {"ticker": "BAD", "mode": "fail"}
    assert document["lambdaArn"] == deployment.ctx.attributes["Transform"]["Arn"]
    assert before.timestamp() * 1000 - 1000 <= document["arrivalTimestamp"] <= after.timestamp() * 1000 + 1000


def test_size_hint_delivers_before_the_interval(deploy_synthetic):
    destination = {"Prefix": "raw/", "CompressionFormat": "UNCOMPRESSED", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 900}}
    deployment = deploy_synthetic(firehose_template(destination, with_lambda=False))
    clock = Clock()
    hose = LocalFirehose(deployment, "Hose", clock=clock)
    blob = {"ticker": "BIG", "pad": "x" * 300_000}
    _put(deployment, [blob] * 4)  # 4 x ~300 KB: the 4th crosses 1 MiB
    hose.pump()
    objects = _objects(deployment)
    assert len(objects) == 1
    ((key, body),) = objects.items()
    # No timestamp expression in Prefix: Firehose appends yyyy/MM/dd/HH/.
    assert re.fullmatch(rf"raw/\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}}/{NAME_SUFFIX}", key), key
    # No Lambda: records concatenated exactly as produced, no delimiter.
    assert body == json.dumps(blob).encode() * 4


def _hadoop_snappy_payload(body: bytes) -> bytes:
    uncompressed, compressed = struct.unpack(">II", body[:8])
    payload = bytes(cramjam.snappy.decompress_raw(body[8 : 8 + compressed]))
    assert len(payload) == uncompressed and len(body) == 8 + compressed
    return payload


def test_zip_and_snappy_are_valid_and_snappy_really_compresses(deploy_synthetic):
    records = [{"ticker": "AAPL", "price": i} for i in range(200)]
    expected = b"".join(json.dumps(r).encode() for r in records)  # no Lambda: concatenated as produced
    for fmt, extension, payload_of in (
        ("ZIP", ".zip", lambda body: zipfile.ZipFile(io.BytesIO(body)).read(zipfile.ZipFile(io.BytesIO(body)).namelist()[0])),
        ("Snappy", ".snappy", lambda body: body[:10] == b"\xff\x06\x00\x00sNaPpY" and bytes(cramjam.snappy.decompress(body))),
        ("HADOOP_SNAPPY", ".snappy", _hadoop_snappy_payload),
    ):
        destination = {"Prefix": "z/", "CompressionFormat": fmt, "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}}
        deployment = deploy_synthetic(firehose_template(destination, with_lambda=False))
        hose = LocalFirehose(deployment, "Hose", handlers={})
        _put(deployment, records)
        hose.flush()
        ((key, body),) = [(k, v) for k, v in _objects(deployment).items() if k.startswith("z/")]
        assert key.endswith(extension), key
        assert payload_of(body) == expected, fmt
        assert len(body) < len(expected) / 2, fmt  # compressed for real, not stored
        deployment.client("s3").delete_object(Bucket=deployment.physical["Lake"], Key=key)


def test_function_error_sends_the_batch_to_the_error_prefix_after_retries(deploy_synthetic):
    deployment = deploy_synthetic(firehose_template(DYNAMIC))
    calls = []

    def broken(event, context):
        calls.append(len(event["records"]))
        raise RuntimeError("boom")

    hose = LocalFirehose(deployment, "Hose", handlers={"Transform": broken})
    _put(deployment, [{"ticker": "AAPL"}, {"ticker": "MSFT"}])
    hose.flush()
    assert calls == [2, 2, 2, 2]  # NumberOfRetries defaults to 3
    ((key, body),) = _objects(deployment).items()
    assert key.startswith("errors/processing-failed/")
    documents = [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
    assert [d["errorCode"] for d in documents] == ["Lambda.FunctionError"] * 2
    assert all(d["attemptsMade"] == 4 and "boom" in d["errorMessage"] for d in documents)


def test_event_shape_and_kpl_deaggregation(deploy_synthetic):
    import aws_kinesis_agg.aggregator as agg

    deployment = deploy_synthetic(firehose_template(DYNAMIC))
    seen = []

    def spy(event, context):
        seen.append(event)
        return json_transform(event, context)

    aggregator = agg.RecordAggregator()
    for i in range(3):
        aggregator.add_user_record("KPLT", json.dumps({"ticker": "KPLT", "price": i}).encode())
    pk, ehk, data = aggregator.clear_and_get().get_contents()
    deployment.client("kinesis").put_record(StreamName=deployment.physical["Source"], Data=data, PartitionKey=pk)
    hose = LocalFirehose(deployment, "Hose", handlers={"Transform": spy})
    hose.flush()

    (event,) = seen
    assert event["sourceKinesisStreamArn"] == deployment.ctx.attributes["Source"]["Arn"]
    assert event["deliveryStreamArn"].endswith(f":deliverystream/{deployment.physical['Hose']}")
    assert [r["kinesisRecordMetadata"]["subsequenceNumber"] for r in event["records"]] == [0, 1, 2]
    assert len({r["recordId"] for r in event["records"]}) == 3
    first = event["records"][0]
    assert set(first) == {"recordId", "approximateArrivalTimestamp", "data", "kinesisRecordMetadata"}
    assert set(first["kinesisRecordMetadata"]) == {
        "shardId", "partitionKey", "approximateArrivalTimestamp", "sequenceNumber", "subsequenceNumber",
    }
    assert isinstance(first["approximateArrivalTimestamp"], int)
    (body,) = _objects(deployment).values()
    assert [json.loads(x)["price"] for x in gzip.decompress(body).splitlines()] == [0, 1, 2]


@pytest.mark.parametrize(("respond", "codes"), [
    # every shape of bad transform response lands under the error prefix with its code; none is lost
    (lambda r: {"records": "nope"}, ["Lambda.InvalidResponse"] * 3),
    (lambda r: {"records": [r[0] and "not a dict", *[
        {"recordId": x["recordId"], "result": "Ok", "data": "!!not base64"} for x in r[1:2]],
        {"recordId": r[2]["recordId"], "result": "Maybe", "data": r[2]["data"]}]},
     ["Lambda.InvalidData", "Lambda.InvalidResult", "Lambda.MissingRecordId"]),
])
def test_malformed_transform_responses_go_to_the_error_prefix(deploy_synthetic, respond, codes):
    deployment = deploy_synthetic(firehose_template(DYNAMIC))
    hose = LocalFirehose(deployment, "Hose", handlers={"Transform": lambda event, context: respond(event["records"])})
    _put(deployment, [{"ticker": "AAPL"}, {"ticker": "MSFT"}, {"ticker": "IBM"}])
    hose.flush()
    documents = [json.loads(line) for body in _objects(deployment).values()
                 for line in gzip.decompress(body).decode().splitlines()]
    assert sorted(d["errorCode"] for d in documents) == sorted(codes)
    assert hose.stats.failed == 3 and hose.stats.delivered == 0
