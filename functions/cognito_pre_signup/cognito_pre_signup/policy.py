"""Who may sign up. Pure functions: the handler turns a refusal into Cognito's error."""

from __future__ import annotations

from typing import Any

# Sign-ups a person starts (the user client's SignUp, or a first sign-in through an identity provider).
# Any trigger source but an administrator's is treated as one of these, so an unexpected source is checked.
ADMIN_CREATE_USER = "PreSignUp_AdminCreateUser"
CLOSED_MESSAGE = "Self sign-up is closed: ask an administrator for an account."


class SignUpRefused(Exception):
    """Raised out of the trigger: Cognito fails the sign-up and shows this message to the client."""


def parse_domains(setting: str | None) -> frozenset[str]:
    """'example.com, Example.org' -> {'example.com', 'example.org'}; empty means self sign-up is closed."""
    return frozenset(part.strip().lower().rstrip(".") for part in (setting or "").split(",") if part.strip())


def email_domain(email: Any) -> str | None:
    if not isinstance(email, str):
        return None
    local, at, domain = email.strip().rpartition("@")
    if not at or not local or not domain or "." not in domain or any(c.isspace() for c in domain):
        return None
    return domain.lower().rstrip(".")


def check_email(email: Any, allowed: frozenset[str]) -> str:
    """The domain of an allowed address, or SignUpRefused. Exact domains only: no subdomains, no suffixes."""
    domain = email_domain(email)
    if domain is None:
        raise SignUpRefused("Sign-up needs a valid e-mail address.")
    if domain not in allowed:
        listed = ", ".join(sorted(allowed))
        raise SignUpRefused(f"Sign-up is limited to e-mail addresses at: {listed}.")
    return domain


def check_sign_up(trigger_source: Any, email: Any, allowed: frozenset[str]) -> str | None:
    """The domain of a sign-up that may go ahead, or SignUpRefused.

    Administrators may create users at any domain (the list governs who may sign themselves up). A
    self sign-up needs a listed domain; with no list, self sign-up is closed (the template also sets
    AllowAdminCreateUserOnly then, so Cognito refuses before this trigger runs).
    """
    if trigger_source == ADMIN_CREATE_USER:
        return email_domain(email)
    if not allowed:
        raise SignUpRefused(CLOSED_MESSAGE)
    return check_email(email, allowed)
