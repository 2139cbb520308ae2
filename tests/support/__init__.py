"""Test helpers. Importing them patches in-process moto as the local stack does (see
tickerstream_local.moto_patches): QuoteProcessor's writer threads call it at once, and moto's backend
alone is not safe for that."""

from tickerstream_local.moto_patches import install

install()
