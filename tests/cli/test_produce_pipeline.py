"""Aggregated quotes through the local stack: QuoteProcessor's latest price per ticker is the last produced."""

from __future__ import annotations

import itertools

from cli.conftest import run_cli
from tickerstream.keys import ticker_key
from tickerstream_cli.demo_quotes import DemoQuotes, synthetic_universe


def latest_prices(stack, tickers) -> dict[str, float]:
    dynamodb = stack.deployment.client("dynamodb")
    table = stack.deployment.physical["QuotesTable"]
    prices = {}
    for ticker in tickers:
        pk, sk = ticker_key(ticker)
        item = dynamodb.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
        if item:
            prices[ticker] = float(item["price"]["N"])
    return prices


def test_the_last_quote_of_every_ticker_wins_after_aggregation(local_stack, user_env):
    stack, _ = local_stack
    count, tickers, seed = 3000, 200, 77
    ran = run_cli(["produce", "--count", str(count), "--tickers", str(tickers), "--seed", str(seed)], user_env)
    assert ran.code == 0, ran.stderr
    kinesis_records = int(ran.stderr.split(" Kinesis records")[0].rsplit(" ", 1)[1])
    assert kinesis_records < count  # aggregated: several quotes per Kinesis record

    # The same seed gives the same quotes: replay them here to know each ticker's last price.
    universe = synthetic_universe(tickers, seed)
    expected = {}
    for record in itertools.islice(DemoQuotes(seed=seed, tickers=universe), count):
        expected[record.partition_key] = record.quote["price"]
    stack.drain()
    assert latest_prices(stack, expected) == expected
