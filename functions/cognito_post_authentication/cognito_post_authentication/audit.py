"""The audit record of one successful sign-in (no e-mail address or other personal data beyond the id)."""

from __future__ import annotations

from typing import Any


def audit_record(event: dict[str, Any]) -> dict[str, Any]:
    request = event.get("request") or {}
    attributes = request.get("userAttributes") or {}
    return {
        "audit": "sign_in",
        "outcome": "success",
        "user": event.get("userName"),
        "sub": attributes.get("sub"),
        "user_pool_id": event.get("userPoolId"),
        "client_id": (event.get("callerContext") or {}).get("clientId"),
        "trigger": event.get("triggerSource"),
        "new_device_used": bool(request.get("newDeviceUsed", False)),
        "region": event.get("region"),
    }
