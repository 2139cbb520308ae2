"""The authorizer's answer: an IAM policy on the $connect method, with the caller in its context."""

from __future__ import annotations

from typing import Any

from ws_authorizer.verify import Identity


def allow(method_arn: str, identity: Identity) -> dict[str, Any]:
    return {
        "principalId": identity.sub,
        "policyDocument": _document("Allow", method_arn),
        # Routes read these as requestContext.authorizer.<name> (strings; 8 KB at most in all).
        "context": {"sub": identity.sub, "client_id": identity.client_id, "scope": identity.scope},
    }


def deny(method_arn: str, principal: str) -> dict[str, Any]:
    return {"principalId": principal, "policyDocument": _document("Deny", method_arn)}


def _document(effect: str, method_arn: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn}],
    }
