"""Key layout of the Quotes table, shared by the writer (QuoteProcessor) and the readers (API).

- latest quote of a ticker:   pk=TICKER#<symbol>  sk=LATEST   (also gsi1pk=SECTOR#<sector>, gsi1sk=<symbol>)
- summary of a sector:        pk=SECTOR#<sector>  sk=SUMMARY
- latest quotes of a sector:  query index BySector on gsi1pk=SECTOR#<sector>, sorted by symbol
"""

from __future__ import annotations

LATEST = "LATEST"
SUMMARY = "SUMMARY"
BY_SECTOR_INDEX = "BySector"


def ticker_key(symbol: str) -> tuple[str, str]:
    return f"TICKER#{symbol}", LATEST


def sector_summary_key(sector: str) -> tuple[str, str]:
    return f"SECTOR#{sector}", SUMMARY


def sector_index_key(sector: str) -> str:
    return f"SECTOR#{sector}"
