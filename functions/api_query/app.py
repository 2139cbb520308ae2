"""ApiQuery handler: GET /quotes/{ticker}, GET /quotes/{ticker}/candles, GET /quotes?sector=, GET /sectors/{sector},
GET /health."""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from tickerstream.http_api import caller_identity
from api_query.candles import CandleReader
from api_query.routes import build_resolver
from api_query.store import QuoteReader

logger = Logger()
# API Gateway gives up after 29 s; fail well before that instead of retrying into a 504.
_AWS_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=3)

_dynamodb = boto3.client("dynamodb", config=_AWS_CONFIG)
reader = QuoteReader(_dynamodb, os.environ["QUOTES_TABLE"])
candles = CandleReader(_dynamodb, os.environ["CANDLES_TABLE"])
app = build_resolver(reader, os.environ.get("CORS_ALLOW_ORIGIN", "*"), logger, candles)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(**caller_identity(event))
    return app.resolve(event, context)
