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
    for tests of per-ticker failure accounting."""
    quote_processor.store.max_pack_tickers = 1
    yield
    quote_processor.store.max_pack_tickers = MAX_TRANSACTION_ITEMS
