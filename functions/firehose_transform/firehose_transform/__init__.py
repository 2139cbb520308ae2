"""FirehoseTransform: Firehose records → validated, enriched NDJSON quotes with dynamic partition keys."""
