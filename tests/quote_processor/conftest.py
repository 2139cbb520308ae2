from __future__ import annotations

import pytest

from quote_processor.store import MAX_TRANSACTION_ITEMS
from support.processor import Table


@pytest.fixture
def table(deployment) -> Table:
    return Table(deployment)


@pytest.fixture
def one_ticker_per_transaction(quote_processor):
    """The store writes each ticker in a transaction of its own (as it does a ticker that fits no pack),
    one after another, for tests of per-ticker failure accounting: which tickers a failure leaves
    unattempted is then exact (with the template's WRITE_CONCURRENCY, units already started when one
    fails may complete; test_packs and the stream-contract properties cover that)."""
    concurrency = quote_processor.WRITE_CONCURRENCY
    quote_processor.store.max_pack_tickers = 1
    quote_processor.WRITE_CONCURRENCY = 1
    yield
    quote_processor.store.max_pack_tickers = MAX_TRANSACTION_ITEMS
    quote_processor.WRITE_CONCURRENCY = concurrency
