"""The audit record of one successful sign-in (no e-mail address or other personal data beyond the id)."""

from __future__ import annotations

from typing import Any


def _mapping(value: Any) -> dict[str, Any]:
    """A part of the event as Cognito sends it (an object); anything else reads as empty."""
    return value if isinstance(value, dict) else {}


def audit_record(event: dict[str, Any]) -> dict[str, Any]:
    """Never fails: an unreadable part of the event is audited as missing (the sign-in has succeeded)."""
    request = _mapping(event.get("request"))
    attributes = _mapping(request.get("userAttributes"))
    return {
        "audit": "sign_in",
        "outcome": "success",
        "user": event.get("userName"),
        "sub": attributes.get("sub"),
        "user_pool_id": event.get("userPoolId"),
        "client_id": _mapping(event.get("callerContext")).get("clientId"),
        "trigger": event.get("triggerSource"),
        "new_device_used": bool(request.get("newDeviceUsed", False)),
        "region": event.get("region"),
    }
