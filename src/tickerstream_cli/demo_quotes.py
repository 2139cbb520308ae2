"""Demo quotes like the Firehose console's "Test with demo data": a random walk over the seed's tickers."""

from __future__ import annotations

import json
import random
import string
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


def sectors() -> list[str]:
    return sorted({sector for sector, _ in universe().values()})


MAX_SYNTHETIC_TICKERS = 1_000_000


def synthetic_universe(size: int, seed: int | None = None) -> dict[str, tuple[str, float]]:
    """``size`` made-up tickers (3-5 capital letters) dealt evenly over the seed's sectors, with starting
    prices of 5-500; the same ``size`` and ``seed`` always give the same universe."""
    if not 1 <= size <= MAX_SYNTHETIC_TICKERS:
        raise ValueError(f"a universe holds 1 to {MAX_SYNTHETIC_TICKERS:,} tickers")
    rng = random.Random(f"universe:{0 if seed is None else seed}")
    names = sectors()
    tickers: dict[str, tuple[str, float]] = {}
    while len(tickers) < size:
        symbol = "".join(rng.choice(string.ascii_uppercase) for _ in range(rng.randint(3, 5)))
        if symbol not in tickers:
            tickers[symbol] = (names[len(tickers) % len(names)], round(rng.uniform(5, 500), 2))
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

    def __init__(self, seed: int | None = None, invalid_fraction: float = 0.0,
                 tickers: dict[str, tuple[str, float]] | None = None):
        """``tickers``: ticker -> (sector, first price); default the seed's 32 (see synthetic_universe)."""
        if not 0.0 <= invalid_fraction <= 1.0:
            raise ValueError("invalid_fraction must be between 0 and 1")
        self._random = random.Random(seed)
        self._invalid_fraction = invalid_fraction
        self._universe = tickers or universe()
        self._prices = {ticker: price for ticker, (_, price) in self._universe.items()}
        self._tickers = sorted(self._prices)

    def next_quote(self) -> dict:
        ticker = self._random.choice(self._tickers)
        sector = self._universe[ticker][0]
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
