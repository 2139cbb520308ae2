"""Whether a user may sign in, from the attributes Cognito passes to the trigger."""

from __future__ import annotations

from typing import Any

SUSPENDED_ATTRIBUTE = "custom:suspended"
_TRUE = {"true", "1", "yes"}
# Deliberately vague: the trigger runs before the password is checked, so naming the reason would tell
# anyone who knows an address that the account exists and is suspended.
REFUSAL_MESSAGE = "Sign-in is not allowed for this account. Contact your administrator."


class SignInRefused(Exception):
    """Raised out of the trigger: Cognito fails the sign-in with this message."""


def is_suspended(attributes: dict[str, Any]) -> bool:
    return str(attributes.get(SUSPENDED_ATTRIBUTE, "")).strip().lower() in _TRUE


def check_sign_in(attributes: Any) -> None:
    """Refuse suspended users, and attributes this trigger cannot read (it fails closed)."""
    if attributes is None:  # Cognito sends no attributes for an unknown user; it fails that sign-in itself
        attributes = {}
    if not isinstance(attributes, dict) or is_suspended(attributes):
        raise SignInRefused(REFUSAL_MESSAGE)
