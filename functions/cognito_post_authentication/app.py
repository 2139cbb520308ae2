"""Cognito PostAuthentication handler: one structured audit line and one SuccessfulSignIns per sign-in."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cognito_post_authentication.audit import audit_record

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.info("Sign-in succeeded", **audit_record(event))
    metrics.add_metric("SuccessfulSignIns", MetricUnit.Count, 1)
    return event
