"""The FirehoseTransform handler, loaded with the template's environment, on the sample events."""

from __future__ import annotations

import base64
import json

from lake.lakekit import SEED_QUOTES, kds_event, kds_record, lines_of, load_event


def test_streams_as_source_sample_event(invoke):
    event = load_event("streams-as-source.json")
    response = invoke(event)
    assert set(response) == {"records"}
    assert [r["result"] for r in response["records"]] == ["Ok"] * len(event["records"])
    assert all(set(r) == {"recordId", "result", "data", "metadata"} for r in response["records"])
    json.dumps(response)  # what the runtime sends back must serialise


def test_invalid_sample_event_fails_records_not_the_invocation(invoke, capsys, caplog):
    event = load_event("invalid.json")
    response = invoke(event)
    results = [r["result"] for r in response["records"]]
    assert results == ["Ok", "ProcessingFailed", "ProcessingFailed", "ProcessingFailed",
                       "ProcessingFailed", "ProcessingFailed", "Ok"]
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert sorted(w.reason for w in warnings) == sorted(
        ["invalid_base64", "invalid_json", "invalid_quote", "not_an_object", "invalid_utf8"]
    )
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (emf,) = [entry for entry in logged if "_aws" in entry]
    assert (emf["InvalidRecords"], emf["QuotesDelivered"], emf["RecordsReceived"]) == ([5.0], [2.0], [7.0])


def test_direct_put_sample_event(invoke):
    event = load_event("direct-put.json")
    response = invoke(event)
    assert all(r["result"] == "Ok" for r in response["records"])
    sectors = [r["metadata"]["partitionKeys"]["sector"] for r in response["records"]]
    sent = [json.loads(base64.b64decode(r["data"])) for r in event["records"]]
    assert sectors == [(q.get("sector") or q.get("SECTOR")).upper() for q in sent]


def test_many_rejects_are_logged_with_a_cap(invoke, caplog, app):
    records = [kds_record(i, b"{}") for i in range(app.MAX_LOGGED_REJECTS + 15)]
    records.append(kds_record(999, json.dumps(SEED_QUOTES[0]).encode()))
    response = invoke(kds_event(records))
    assert [r["result"] for r in response["records"]].count("ProcessingFailed") == len(records) - 1
    assert lines_of(response["records"][-1])[0]["ticker_symbol"] == SEED_QUOTES[0]["ticker_symbol"]
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("Record returned as ProcessingFailed (delivered whole under the error prefix)") == app.MAX_LOGGED_REJECTS
    (summary,) = [r for r in caplog.records if r.getMessage() == "Batch transformed"]
    assert summary.failed == len(records) - 1 and summary.failed_by_reason == {"invalid_quote": len(records) - 1}
