"""WsAuthorizer handler: $connect REQUEST event -> verify the offered access token -> Allow, Deny or 401.

API Gateway answers the handshake 401 when the authorizer raises exactly "Unauthorized" (no or an
invalid token), 403 when it returns a Deny policy (a valid token without the quotes.read scope), and
500 for any other failure (the pool's keys could not be fetched).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ws_authorizer.policy import allow, deny
from ws_authorizer.protocol import NoToken, protocol_header, token_from
from ws_authorizer.verify import Forbidden, Refused, TokenVerifier

logger = Logger()
metrics = Metrics()

verifier = TokenVerifier.create(
    os.environ["TOKEN_ISSUER"],
    frozenset(client for client in os.environ.get("TOKEN_CLIENT_IDS", "").split(",") if client),
    os.environ.get("REQUIRED_SCOPE", "tickerstream/quotes.read"),
)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    method_arn = event.get("methodArn", "")
    try:
        identity = verifier.verify(token_from(protocol_header(event)))
    except (NoToken, Refused) as refusal:
        _count(refused=1)
        logger.info("Handshake refused (401)", reason=str(refusal))
        raise Exception("Unauthorized") from None  # noqa: TRY002 - the exact message API Gateway maps to 401
    except Forbidden as refusal:
        _count(forbidden=1)
        logger.info("Handshake denied (403)", reason=str(refusal))
        return deny(method_arn, "forbidden")
    _count(allowed=1)
    logger.info("Handshake allowed", client_id=identity.client_id, sub=identity.sub)
    return allow(method_arn, identity)


def _count(allowed: int = 0, refused: int = 0, forbidden: int = 0) -> None:
    # All three every time: a period's Sum then reads as a share of handshakes, zeros included.
    metrics.add_metric("HandshakesAllowed", MetricUnit.Count, allowed)
    metrics.add_metric("HandshakesRefused", MetricUnit.Count, refused)
    metrics.add_metric("HandshakesForbidden", MetricUnit.Count, forbidden)
