"""Tickers written in packs (one transaction for many tickers) and several units at a time, on moto."""

from decimal import Decimal

from support.processor import ClientWithFaults, client_error, make_record, quarantined, quote, touches_ticker

SECTORS = ["TECHNOLOGY", "ENERGY", "HEALTHCARE"]


def many_tickers(count: int, start: int = 100) -> list[dict]:
    return [make_record(quote(f"T{i:03d}", 1 + i, change=0.5, sector=SECTORS[i % 3]), start + i) for i in range(count)]


def counting(client):
    return ClientWithFaults(client, lambda operation, kwargs: None)


def test_a_pack_holds_a_put_per_ticker_and_one_add_per_sector_up_to_100_actions(quote_processor, lambda_context, table):
    sdk = quote_processor.store._client = counting(quote_processor.store._client)
    records = many_tickers(150)
    assert quote_processor.handler({"Records": records}, lambda_context) == {"batchItemFailures": []}
    assert sdk.calls.count("transact_write_items") == 2  # 98 tickers + 2 sectors, then 52 + 2
    assert len(table.tickers()) == 150
    for sector in SECTORS:
        assert int(table.summary(sector)["quote_count"]) == 50
        assert Decimal(table.summary(sector)["change_sum"]) == Decimal("25.0")


def test_packs_go_sector_by_sector_so_each_touches_few_summaries(quote_processor, lambda_context, table):
    sent: list[dict] = []
    quote_processor.store._client = ClientWithFaults(
        quote_processor.store._client, lambda op, kw: sent.append(kw) if op == "transact_write_items" else None)
    records = [make_record(quote(f"T{i:03d}", 1 + i, change=0.5, sector=SECTORS[i % 3]), 100 + i) for i in range(300)]
    assert quote_processor.handler({"Records": records}, lambda_context) == {"batchItemFailures": []}
    summaries = [sum("Update" in action for action in call["TransactItems"]) for call in sent]
    assert len(summaries) == 4 and max(summaries) <= 2  # sector by sector: no pack touches all three (was 3 each)
    assert sum(len(call["TransactItems"]) for call in sent) == 300 + sum(summaries)
    assert sum(int(table.summary(s)["quote_count"]) for s in SECTORS) == 300


def test_a_transient_pack_failure_checkpoints_at_its_first_record_and_redelivery_counts_once(quote_processor, lambda_context, table):
    records = many_tickers(150)
    real = quote_processor.store._client
    # Packs go sector by sector: ENERGY and HEALTHCARE (98 tickers, first record T001's), then the other
    # 52 (first record T000's), which run first. The first pack is throttled: Lambda resumes at T001's record.
    quote_processor.store._client = ClientWithFaults(
        real, lambda op, kw: client_error(op, "ThrottlingException") if touches_ticker(kw, "T001") else None
    )
    assert quote_processor.handler({"Records": records}, lambda_context) == {"batchItemFailures": [{"itemIdentifier": "101"}]}
    assert len(table.tickers()) == 52 and "T000" in table.tickers()

    quote_processor.store._client = real
    assert quote_processor.handler({"Records": records[1:]}, lambda_context) == {"batchItemFailures": []}
    assert len(table.tickers()) == 150
    assert sum(int(table.summary(s)["quote_count"]) for s in SECTORS) == 150


def test_a_redelivered_pack_applies_only_what_is_new_exactly_once(quote_processor, lambda_context, table):
    first = many_tickers(10)
    assert quote_processor.handler({"Records": first}, lambda_context) == {"batchItemFailures": []}
    # Lambda replays the same records plus newer quotes of some tickers and new tickers
    newer = [make_record(quote("T001", 500, change=1, sector="ENERGY"), 200), make_record(quote("N001", 7), 201)]
    sdk = quote_processor.store._client = counting(quote_processor.store._client)
    assert quote_processor.handler({"Records": first + newer}, lambda_context) == {"batchItemFailures": []}

    assert float(table.latest("T001")["price"]) == 500
    assert float(table.latest("N001")["price"]) == 7
    assert sum(int(table.summary(s)["quote_count"]) for s in SECTORS) == 12
    assert int(table.summary("ENERGY")["quote_count"]) == 3 + 1
    assert sdk.calls.count("transact_write_items") >= 2  # the pack, then tickers alone


def test_a_refused_pack_quarantines_only_the_ticker_at_fault(deployment, quote_processor, lambda_context, table):
    records = many_tickers(20)
    quote_processor.store._client = ClientWithFaults(
        quote_processor.store._client,
        lambda op, kw: client_error(op, "ValidationException") if touches_ticker(kw, "T007") else None,
    )
    assert quote_processor.handler({"Records": records}, lambda_context) == {"batchItemFailures": []}
    assert table.tickers() == {f"T{i:03d}" for i in range(20)} - {"T007"}
    assert [m["sequence_number"] for m in quarantined(deployment)] == ["107"]
    assert sum(int(table.summary(s)["quote_count"]) for s in SECTORS) == 19


def test_a_transaction_cancelled_by_a_conflict_is_sent_again(quote_processor, lambda_context, table):
    conflicts = iter([True, True])
    quote_processor.store._client = ClientWithFaults(
        quote_processor.store._client,
        lambda op, kw: client_error(op, "TransactionCanceledException", ["None", "TransactionConflict"])
        if op == "transact_write_items" and next(conflicts, False) else None,
    )
    records = many_tickers(5)
    assert quote_processor.handler({"Records": records}, lambda_context) == {"batchItemFailures": []}
    assert len(table.tickers()) == 5
    assert sum(int(table.summary(s)["quote_count"]) for s in SECTORS) == 5


def test_concurrent_packs_write_every_ticker_and_count_each_quote_once(quote_processor, lambda_context, table):
    quote_processor.WRITE_CONCURRENCY = 4
    quote_processor.store.max_pack_tickers = 7
    records = many_tickers(60) + many_tickers(60, start=300)  # every ticker twice
    assert quote_processor.handler({"Records": records}, lambda_context) == {"batchItemFailures": []}
    assert len(table.tickers()) == 60
    assert float(table.latest("T059")["price"]) == 60
    assert sum(int(table.summary(s)["quote_count"]) for s in SECTORS) == 120
