"""CandleAggregator: Kinesis tumbling windows → one OHLC candle per ticker and window, and price alerts."""
