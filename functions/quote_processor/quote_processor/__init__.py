"""QuoteProcessor: Kinesis → latest quote per ticker and per-sector summary in DynamoDB."""
