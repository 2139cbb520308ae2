"""Cognito PreSignUp handler: refuse addresses outside ALLOWED_EMAIL_DOMAINS (empty = any domain)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cognito_pre_signup.policy import SignUpRefused, check_email, email_domain, parse_domains

logger = Logger()
metrics = Metrics()
ALLOWED_DOMAINS = parse_domains(os.environ.get("ALLOWED_EMAIL_DOMAINS"))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    attributes = (event.get("request") or {}).get("userAttributes") or {}
    email = attributes.get("email", "")
    # Log the domain, not the address: the audit trail must not become a list of people's e-mails.
    logger.append_keys(trigger=event.get("triggerSource"), email_domain=email_domain(email),
                       client_id=(event.get("callerContext") or {}).get("clientId"))
    try:
        check_email(email, ALLOWED_DOMAINS)
    except SignUpRefused as refusal:
        metrics.add_metric("SignUpsRefused", MetricUnit.Count, 1)
        logger.warning("Sign-up refused", reason=str(refusal))
        raise
    logger.info("Sign-up allowed")
    return event
