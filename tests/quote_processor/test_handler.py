"""QuoteProcessor driven by the events/ files (the ones `sam local invoke -e` uses), on moto."""

import base64
import json

from aws_kinesis_agg.deaggregator import deaggregate_records

from support.processor import load_event, quarantined
from tickerstream.codec import decode_quote


def emitted_metrics(captured: str) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for line in captured.splitlines():
        if line.startswith('{"_aws"'):
            blob = json.loads(line)
            for definition in blob["_aws"]["CloudWatchMetrics"]:
                for metric in definition["Metrics"]:
                    metrics[metric["Name"]] = sum(blob[metric["Name"]])
    return metrics


def test_batch_event_stores_the_last_quote_of_each_ticker(quote_processor, lambda_context, table, capsys):
    event = load_event("batch.json")
    expected: dict[str, dict] = {}
    for record in event["Records"]:
        quote = decode_quote(base64.b64decode(record["kinesis"]["data"]))
        expected[quote.ticker_symbol] = {"price": quote.price, "sector": quote.sector, "seq": record["kinesis"]["sequenceNumber"]}

    assert quote_processor.handler(event, lambda_context) == {"batchItemFailures": []}

    assert table.tickers() == set(expected)
    for ticker, want in expected.items():
        item = table.latest(ticker)
        assert float(item["price"]) == want["price"]
        assert item["sector"] == want["sector"]
        assert item["sequence_number"] == want["seq"]
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["RecordsReceived"] == len(event["Records"])
    assert metrics["QuotesApplied"] == len(event["Records"])
    assert metrics["InvalidRecords"] == 0
    assert metrics["WriteRequests"] == 1  # one transaction for all the batch's tickers, not one per record


def test_sector_summaries_count_every_quote_once(quote_processor, lambda_context, table):
    event = load_event("batch.json")
    quote_processor.handler(event, lambda_context)
    quotes = [decode_quote(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]
    for sector in {q.sector for q in quotes}:
        of_sector = [q for q in quotes if q.sector == sector]
        summary = table.summary(sector)
        assert int(summary["quote_count"]) == len(of_sector)
        assert int(summary["advances"]) == sum(q.change > 0 for q in of_sector)
        assert int(summary["declines"]) == sum(q.change < 0 for q in of_sector)
        assert abs(float(summary["change_sum"]) - sum(q.change for q in of_sector)) < 1e-9


def test_invalid_records_are_quarantined_with_reason_and_location(deployment, quote_processor, lambda_context, table, capsys):
    event = load_event("invalid.json")
    assert quote_processor.handler(event, lambda_context) == {"batchItemFailures": []}

    messages = quarantined(deployment)
    assert sorted(m["reason"] for m in messages) == sorted(
        ["invalid_base64", "invalid_json", "not_an_object", "invalid_quote", "invalid_utf8", "oversized", "invalid_quote"]
    )
    by_sequence = {r["kinesis"]["sequenceNumber"]: r for r in event["Records"]}
    for message in messages:
        record = by_sequence[message["sequence_number"]]
        assert message["kind"] == "invalid-record"
        assert message["_attributes"]["kind"]["StringValue"] == "invalid-record"
        assert message["shard_id"] == record["eventID"].split(":")[0]
        assert message["partition_key"] == record["kinesis"]["partitionKey"]
        assert message["event_source_arn"] == record["eventSourceARN"]
        if message["reason"] == "invalid_base64":
            assert base64.b64decode(message["data_base64"]).decode() == record["kinesis"]["data"]
        else:
            assert message["data_base64"] == record["kinesis"]["data"]
    # the valid records around them still landed
    valid = [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in (event["Records"][0], event["Records"][-1])]
    assert table.tickers() == {q["ticker_symbol"] for q in valid}
    assert emitted_metrics(capsys.readouterr().out)["InvalidRecords"] == 7


def test_kpl_aggregated_records_are_deaggregated(quote_processor, lambda_context, table):
    event = load_event("kpl-aggregated.json")
    # aws-kinesis-agg's own deaggregator says what the aggregate holds
    users = deaggregate_records([dict(r, kinesis=dict(r["kinesis"])) for r in event["Records"]])
    quotes = [json.loads(base64.b64decode(u["kinesis"]["data"])) for u in users]
    assert len(quotes) == 5

    assert quote_processor.handler(event, lambda_context) == {"batchItemFailures": []}

    assert table.tickers() == {q["ticker_symbol"] for q in quotes}
    third = quotes[2]
    item = table.latest(third["ticker_symbol"])
    assert item["sequence_number"] == event["Records"][0]["kinesis"]["sequenceNumber"]
    assert int(item["sub_sequence_number"]) == 2
    assert float(item["price"]) == third["price"]


def test_corrupt_aggregate_is_quarantined_whole(deployment, quote_processor, lambda_context, table):
    event = load_event("kpl-aggregated.json")
    data = bytearray(base64.b64decode(event["Records"][0]["kinesis"]["data"]))
    data[-1] ^= 0xFF
    event["Records"][0]["kinesis"]["data"] = base64.b64encode(bytes(data)).decode()
    assert quote_processor.handler(event, lambda_context) == {"batchItemFailures": []}
    [message] = quarantined(deployment)
    assert message["reason"] == "invalid_aggregate"
    assert base64.b64decode(message["data_base64"]) == bytes(data)
    plain = json.loads(base64.b64decode(event["Records"][1]["kinesis"]["data"]))
    assert table.tickers() == {plain["ticker_symbol"]}


def test_empty_event_is_a_no_op(quote_processor, lambda_context, table):
    assert quote_processor.handler({"Records": []}, lambda_context) == {"batchItemFailures": []}
    assert table.tickers() == set()
