"""Cognito PreAuthentication handler: log the attempt, refuse suspended users, count refusals.

FailedSignIns counts what a trigger can see fail: sign-ins this trigger refuses. Wrong passwords fail
inside Cognito after this trigger ran, so SignInAttempts - SuccessfulSignIns (PostAuthentication) is the
full failure count; docs/api.md has the metric-math expression.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cognito_pre_authentication.policy import SignInRefused, check_sign_in

logger = Logger()
metrics = Metrics()


def _mapping(value: Any) -> dict[str, Any]:
    """A part of the event as Cognito sends it (an object); anything else reads as empty."""
    return value if isinstance(value, dict) else {}



@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = _mapping(event.get("request"))
    logger.append_keys(
        trigger=event.get("triggerSource"),
        user=event.get("userName"),
        user_pool_id=event.get("userPoolId"),
        client_id=_mapping(event.get("callerContext")).get("clientId"),
    )
    metrics.add_metric("SignInAttempts", MetricUnit.Count, 1)
    try:
        check_sign_in(request.get("userAttributes"))
    except SignInRefused:
        metrics.add_metric("FailedSignIns", MetricUnit.Count, 1)
        readable = isinstance(request.get("userAttributes"), dict | None)
        logger.warning("Sign-in refused", reason="suspended" if readable else "unreadable attributes")
        raise
    logger.info("Sign-in attempt")
    return event
