"""Which e-mail addresses may sign up. Pure functions: the handler turns a refusal into Cognito's error."""

from __future__ import annotations


class SignUpRefused(Exception):
    """Raised out of the trigger: Cognito fails the sign-up and shows this message to the client."""


def parse_domains(setting: str | None) -> frozenset[str]:
    """'example.com, Example.org' -> {'example.com', 'example.org'}; empty means any domain."""
    return frozenset(part.strip().lower().rstrip(".") for part in (setting or "").split(",") if part.strip())


def email_domain(email: str) -> str | None:
    local, at, domain = (email or "").strip().rpartition("@")
    if not at or not local or not domain or "." not in domain:
        return None
    return domain.lower().rstrip(".")


def check_email(email: str, allowed: frozenset[str]) -> str:
    """The domain of an allowed address, or SignUpRefused. Exact domains only: no subdomains, no suffixes."""
    domain = email_domain(email)
    if domain is None:
        raise SignUpRefused("Sign-up needs a valid e-mail address.")
    if allowed and domain not in allowed:
        listed = ", ".join(sorted(allowed))
        raise SignUpRefused(f"Sign-up is limited to e-mail addresses at: {listed}.")
    return domain
