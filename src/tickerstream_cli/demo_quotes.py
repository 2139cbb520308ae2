"""Demo quotes like the Firehose console's "Test with demo data": a random walk over the seed's tickers."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources


@cache
def seed_quotes() -> list[dict]:
    """The 70 demo records of the source material, as delivered by Firehose's demo-data script."""
    return json.loads(resources.files("tickerstream_cli").joinpath("data/seed_quotes.json").read_text())


@cache
def universe() -> dict[str, tuple[str, float]]:
    """ticker -> (sector, first seen price), from the seed records."""
    tickers: dict[str, tuple[str, float]] = {}
    for quote in seed_quotes():
        tickers.setdefault(quote["ticker_symbol"], (quote["sector"], float(quote["price"])))
    return tickers


# Each kind of bad record the pipeline must quarantine, as raw bytes a buggy producer could send.
INVALID_SAMPLES: tuple[tuple[str, bytes], ...] = (
    ("invalid_json", b'{"ticker_symbol": "AAPL", "sector": "TECHNOLOGY", "change": 0.5, '),
    ("not_an_object", b'["AAPL", "TECHNOLOGY", 0.5, 182.6]'),
    ("invalid_quote", b'{"ticker_symbol": "AAPL", "sector": "TECHNOLOGY", "change": 0.5, "price": -1}'),
    ("invalid_quote", b'{"ticker_symbol": "aapl!", "sector": "TECHNOLOGY", "change": 0.5, "price": 10}'),
    ("invalid_quote", b'{"ticker_symbol": "AAPL", "sector": "TECHNOLOGY", "price": 10}'),
    ("invalid_utf8", b'{"ticker_symbol": "\xc3\x28", "sector": "X", "change": 0, "price": 1}'),
)


@dataclass(frozen=True, slots=True)
class DemoRecord:
    partition_key: str
    data: bytes
    valid: bool
    quote: dict | None  # the quote sent, when valid


class DemoQuotes:
    """An endless, reproducible stream of demo records; a fraction of them deliberately invalid."""

    def __init__(self, seed: int | None = None, invalid_fraction: float = 0.0):
        if not 0.0 <= invalid_fraction <= 1.0:
            raise ValueError("invalid_fraction must be between 0 and 1")
        self._random = random.Random(seed)
        self._invalid_fraction = invalid_fraction
        self._prices = {ticker: price for ticker, (_, price) in universe().items()}
        self._tickers = sorted(self._prices)

    def next_quote(self) -> dict:
        ticker = self._random.choice(self._tickers)
        sector = universe()[ticker][0]
        price = self._prices[ticker]
        change = round(self._random.gauss(0, max(price * 0.01, 0.01)), 2)
        new_price = round(max(0.01, price + change), 2)
        self._prices[ticker] = new_price
        return {"ticker_symbol": ticker, "sector": sector, "change": round(new_price - price, 2), "price": new_price}

    def __iter__(self) -> Iterator[DemoRecord]:
        while True:
            if self._invalid_fraction and self._random.random() < self._invalid_fraction:
                _, data = self._random.choice(INVALID_SAMPLES)
                yield DemoRecord(f"invalid-{self._random.randrange(1000)}", data, False, None)
            else:
                quote = self.next_quote()
                yield DemoRecord(quote["ticker_symbol"], json.dumps(quote).encode(), True, quote)
