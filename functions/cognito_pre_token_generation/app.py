"""Cognito PreTokenGeneration handler (V2_0 event): add tickerstream:tier and the users' read scope."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from cognito_pre_token_generation.claims import TIER_CLAIM, TokenRefused, respond

logger = Logger()
DEFAULT_TIER = os.environ.get("DEFAULT_TIER", "free")
USER_SCOPES = [scope for scope in os.environ.get("USER_SCOPES", "").split(",") if scope.strip()]


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    caller = event.get("callerContext")
    logger.append_keys(trigger=event.get("triggerSource"), user=event.get("userName"),
                       client_id=caller.get("clientId") if isinstance(caller, dict) else None)
    try:
        event = respond(event, DEFAULT_TIER, USER_SCOPES)
    except TokenRefused:
        request = event.get("request")
        attributes = request.get("userAttributes") if isinstance(request, dict) else None
        logger.warning("Token refused", reason="suspended" if isinstance(attributes, dict | None) else "unreadable attributes")
        raise
    details = event["response"].get("claimsAndScopeOverrideDetails") or {}
    tier = ((details.get("idTokenGeneration") or event["response"].get("claimsOverrideDetails") or {})
            .get("claimsToAddOrOverride") or {}).get(TIER_CLAIM)
    logger.info("Token claims set", tier=tier,
                scopes_added=(details.get("accessTokenGeneration") or {}).get("scopesToAdd", []))
    return event
