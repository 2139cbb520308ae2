"""Cognito PreSignUp handler: self sign-up only for addresses at ALLOWED_EMAIL_DOMAINS (empty = closed)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cognito_pre_signup.policy import SignUpRefused, check_sign_up, email_domain, parse_domains

logger = Logger()
metrics = Metrics()
ALLOWED_DOMAINS = parse_domains(os.environ.get("ALLOWED_EMAIL_DOMAINS"))


def _mapping(value: Any) -> dict[str, Any]:
    """A part of the event as Cognito sends it (an object); anything else reads as empty."""
    return value if isinstance(value, dict) else {}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    email = _mapping(_mapping(event.get("request")).get("userAttributes")).get("email")
    source = event.get("triggerSource")
    # Log the domain, not the address: the audit trail must not become a list of people's e-mails.
    logger.append_keys(trigger=source, email_domain=email_domain(email),
                       client_id=_mapping(event.get("callerContext")).get("clientId"))
    try:
        check_sign_up(source, email, ALLOWED_DOMAINS)
    except SignUpRefused as refusal:
        metrics.add_metric("SignUpsRefused", MetricUnit.Count, 1)
        logger.warning("Sign-up refused", reason=str(refusal))
        raise
    logger.info("Sign-up allowed")
    return event
