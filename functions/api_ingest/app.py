"""ApiIngest handler: POST /quotes -> validated quotes on the Kinesis stream (PutRecords, failed entries retried)."""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from tickerstream.http_api import caller_identity
from api_ingest.routes import build_resolver

logger = Logger()
metrics = Metrics()
# put_records retries failed entries itself (with jitter); botocore's own retries stay few so the
# whole request ends well inside API Gateway's 29 s.
_AWS_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=5)

app = build_resolver(
    boto3.client("kinesis", config=_AWS_CONFIG),
    os.environ["QUOTE_STREAM_NAME"],
    os.environ.get("CORS_ALLOW_ORIGIN", "*"),
    logger,
    metrics,
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(**caller_identity(event))
    return app.resolve(event, context)
