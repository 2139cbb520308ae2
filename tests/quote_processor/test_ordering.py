"""The table only moves forward: retries, replays, bisected re-invocations and shards never regress it."""

from support.processor import make_record, quote


def test_same_batch_twice_changes_nothing_the_second_time(quote_processor, lambda_context, table):
    records = [make_record(quote("AAPL", 100 + i, change=1), 1000 + i) for i in range(5)]
    records += [make_record(quote("MSFT", 50, change=-1), 2000)]
    quote_processor.handler({"Records": records}, lambda_context)
    first = (table.latest("AAPL"), table.summary("TECHNOLOGY"))

    assert quote_processor.handler({"Records": records}, lambda_context) == {"batchItemFailures": []}

    assert (table.latest("AAPL"), table.summary("TECHNOLOGY")) == first
    assert int(first[1]["quote_count"]) == 6
    assert float(first[0]["price"]) == 104


def test_older_sequence_numbers_after_newer_do_not_regress_the_price(quote_processor, lambda_context, table):
    quote_processor.handler({"Records": [make_record(quote("AAPL", 200), 5000)]}, lambda_context)
    quote_processor.handler({"Records": [make_record(quote("AAPL", 100), 4000)]}, lambda_context)
    assert float(table.latest("AAPL")["price"]) == 200
    assert int(table.summary("TECHNOLOGY")["quote_count"]) == 1


def test_redelivery_overlapping_applied_records_counts_only_the_new_ones(quote_processor, lambda_context, table):
    quote_processor.handler({"Records": [make_record(quote("AAPL", p), s) for p, s in [(1, 10), (2, 20)]]}, lambda_context)
    # Lambda resumes from a checkpoint before 20: 20 is replayed, 30 is new.
    quote_processor.handler({"Records": [make_record(quote("AAPL", p), s) for p, s in [(2, 20), (3, 30)]]}, lambda_context)
    assert float(table.latest("AAPL")["price"]) == 3
    assert int(table.summary("TECHNOLOGY")["quote_count"]) == 3


def test_two_shards_for_one_ticker_keep_the_highest_position(quote_processor, lambda_context, table):
    # After a reshard a ticker moves to a child shard, whose sequence numbers are higher.
    parent = make_record(quote("AAPL", 100), 49654545165112456784571549023486612048960102839364386818, shard="shardId-000000000000")
    child = make_record(quote("AAPL", 105), 49654545165112456784571549023486612048960102839364500000, shard="shardId-000000000002")
    quote_processor.handler({"Records": [child]}, lambda_context)
    quote_processor.handler({"Records": [parent]}, lambda_context)
    latest = table.latest("AAPL")
    assert float(latest["price"]) == 105
    assert latest["shard_id"] == "shardId-000000000002"
    assert int(table.summary("TECHNOLOGY")["quote_count"]) == 1


def test_ticker_moving_sector_updates_both_summaries(quote_processor, lambda_context, table):
    records = [make_record(quote("XYZ", 10, sector="RETAIL"), 1), make_record(quote("XYZ", 11, sector="ENERGY"), 2)]
    quote_processor.handler({"Records": records}, lambda_context)
    assert table.latest("XYZ")["sector"] == "ENERGY"
    assert int(table.summary("RETAIL")["quote_count"]) == 1
    assert int(table.summary("ENERGY")["quote_count"]) == 1
