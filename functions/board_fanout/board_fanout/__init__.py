"""BoardFanout: the latest quote per ticker of each batch, and written candles, pushed to the board's subscribers."""
