"""CandleAggregator through its handler, on moto with template.yaml's resources."""

from __future__ import annotations

import json

from candles.candle_support import (
    WINDOW,
    candles_in_table,
    ohlcc,
    event,
    kpl_record,
    quote,
    received_alerts,
    record,
    records_of,
    run_window,
)


def test_state_carries_the_window_across_invocations_and_the_final_invoke_writes_the_candle(aggregator, context, deployment):
    quotes = [quote("AAPL", p) for p in (100.0, 103.5, 97.25, 101.0, 102.0)]
    records = records_of(quotes)
    state: dict = {}
    for batch in (records[:2], records[2:4]):
        response = aggregator.handler(event(batch, state), context)
        assert response["batchItemFailures"] == []
        state = json.loads(json.dumps(response["state"]))
        assert candles_in_table(deployment) == {}  # nothing written before the window closes
    response = aggregator.handler(event(records[4:], state, final=True), context)
    assert response == {"state": {}, "batchItemFailures": []}
    item = candles_in_table(deployment)[("AAPL", WINDOW["start"])]
    assert ohlcc(item) == (100, 103.5, 97.25, 102, 5)
    assert item["window_end"] == WINDOW["end"] and item["sector"] == "TECHNOLOGY"
    assert item["first_sequence_number"] == records[0]["kinesis"]["sequenceNumber"]
    assert item["last_sequence_number"] == records[4]["kinesis"]["sequenceNumber"]
    assert (item["first_sub_sequence_number"], item["last_sub_sequence_number"]) == ("0", "0")
    # TTL: the window's end plus CandleRetentionDays (default 30)
    from datetime import datetime

    end = int(datetime.fromisoformat(WINDOW["end"].replace("Z", "+00:00")).timestamp())
    assert int(item["expires_at"]) == end + 30 * 86400


def test_open_and_close_follow_stream_order_inside_kpl_aggregates(aggregator, context, deployment):
    records = [kpl_record(0, [quote("KPL", 10.0), quote("KPL", 12.0), quote("KPL", 11.0)]), *records_of([quote("KPL", 9.5)], 1)]
    run_window(aggregator.handler, context, [records])
    item = candles_in_table(deployment)[("KPL", WINDOW["start"])]
    assert ohlcc(item) == (10, 12, 9.5, 9.5, 4)
    assert item["first_sub_sequence_number"] == "0" and item["last_sub_sequence_number"] == "0"
    assert item["first_sequence_number"] == records[0]["kinesis"]["sequenceNumber"]


def test_a_replayed_window_neither_doubles_nor_changes_a_candle(aggregator, context, deployment):
    records = records_of([quote("MSFT", p) for p in (50.0, 51.0, 49.0)] + [quote("IBM", 20.0)])
    run_window(aggregator.handler, context, [records[:2], records[2:]])
    first = candles_in_table(deployment)
    # the whole window again (a redrive), then again split differently (a re-bisected final invoke)
    run_window(aggregator.handler, context, [records])
    run_window(aggregator.handler, context, [records[:1], records[1:3], records[3:]])
    assert candles_in_table(deployment) == first
    assert first[("MSFT", WINDOW["start"])]["count"] == "3"


def test_a_redelivered_record_inside_the_window_is_not_counted_twice(aggregator, context, deployment):
    records = records_of([quote("DUP", p) for p in (10.0, 11.0, 12.0)])
    # the second invocation starts again from the first record (a checkpoint at its start)
    run_window(aggregator.handler, context, [records[:2], records])
    assert candles_in_table(deployment)[("DUP", WINDOW["start"])]["count"] == "3"


def test_a_window_ended_early_goes_on_with_a_fresh_state_and_the_candles_merge(aggregator, context, deployment):
    records = records_of([quote("EARLY", p) for p in (10.0, 14.0, 9.0, 12.0)])
    aggregator.handler(event(records[:2], {}, final=True, early=True), context)
    aggregator.handler(event(records[2:], {}, final=True), context)
    item = candles_in_table(deployment)[("EARLY", WINDOW["start"])]
    assert ohlcc(item) == (10, 14, 9, 12, 4)
    assert item["first_sequence_number"] == records[0]["kinesis"]["sequenceNumber"]
    assert item["last_sequence_number"] == records[3]["kinesis"]["sequenceNumber"]


def test_invalid_records_are_skipped_and_counted(aggregator, context, deployment, capsys, caplog):
    from tickerstream.kpl import KPL_MAGIC

    records = [
        *records_of([quote("OK", 10.0)]),
        record(1, b"-"),
        record(2, json.dumps({"ticker_symbol": "BAD", "sector": "X", "change": 0, "price": -1}).encode()),
        record(3, b"not json"),
        record(4, b"[1, 2]"),
        record(5, KPL_MAGIC + b"\x0a\x05broken" + b"0" * 16),
        *records_of([quote("OK", 11.0)], 6),
    ]
    records[1]["kinesis"]["data"] = "%%%"  # not base64
    response = run_window(aggregator.handler, context, [records])
    assert response["batchItemFailures"] == []
    table = candles_in_table(deployment)
    assert set(table) == {("OK", WINDOW["start"])} and table[("OK", WINDOW["start"])]["count"] == "2"
    out = capsys.readouterr().out
    metrics = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    assert [m["InvalidRecords"] for m in metrics if "InvalidRecords" in m] == [[5.0]]
    [warning] = [r for r in caplog.records if r.getMessage() == "Skipped invalid records"]
    assert warning.reasons == {"invalid_base64": 1, "invalid_quote": 1, "invalid_json": 1, "not_an_object": 1,
                               "invalid_aggregate": 1}


def test_a_transient_write_failure_checkpoints_at_the_first_record_with_the_incoming_state(aggregator, context, deployment):
    from botocore.exceptions import ClientError

    records = records_of([quote("T1", 10.0), quote("T2", 20.0), quote("T1", 11.0)])
    first = aggregator.handler(event(records[:1], {}), context)
    state_in = json.loads(json.dumps(first["state"]))
    real = aggregator.store._client

    class Throttled:
        def __getattr__(self, name):
            def fail(**_):
                raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, name)
            return fail

    aggregator.store._client = Throttled()
    try:
        response = aggregator.handler(event(records[1:], state_in, final=True), context)
    finally:
        aggregator.store._client = real
    assert response["batchItemFailures"] == [{"itemIdentifier": records[1]["kinesis"]["sequenceNumber"]}]
    assert response["state"] == state_in
    assert candles_in_table(deployment) == {}
    # Lambda redelivers from the checkpoint with that state: the window closes whole
    assert aggregator.handler(event(records[1:], response["state"], final=True), context)["batchItemFailures"] == []
    table = candles_in_table(deployment)
    assert table[("T1", WINDOW["start"])]["count"] == "2" and table[("T2", WINDOW["start"])]["count"] == "1"


def test_a_final_invoke_without_records_that_fails_raises_for_a_retry(aggregator, context, deployment):
    import pytest
    from botocore.exceptions import ClientError

    state = aggregator.handler(event(records_of([quote("Z", 1.0)]), {}), context)["state"]
    real = aggregator.store._client

    class Down:
        def __getattr__(self, name):
            def fail(**_):
                raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, name)
            return fail

    aggregator.store._client = Down()
    try:
        with pytest.raises(aggregator.CandlesNotDurable):
            aggregator.handler(event([], state, final=True), context)
    finally:
        aggregator.store._client = real
    aggregator.handler(event([], state, final=True), context)
    assert candles_in_table(deployment)[("Z", WINDOW["start"])]["count"] == "1"


def test_alert_is_published_once_with_filterable_attributes(aggregator, context, deployment, alerts_queue):
    records = records_of([quote("UP", 100.0, "ENERGY"), quote("UP", 106.0, "ENERGY"), quote("FLAT", 50.0), quote("FLAT", 50.0)])
    run_window(aggregator.handler, context, [records[:2], records[2:]])
    run_window(aggregator.handler, context, [records])  # a replay: no second alert
    alerts = received_alerts(deployment, alerts_queue)
    assert len(alerts) == 1
    body, attributes = alerts[0]
    assert attributes == {"ticker": "UP", "sector": "ENERGY", "direction": "up"}
    assert body["alert_id"] == f"UP#{WINDOW['start']}" and body["move_percent"] == 6
    assert body["open"] == 100 and body["close"] == 106 and body["count"] == 2
    assert candles_in_table(deployment)[("UP", WINDOW["start"])]["alert_direction"] == "up"
