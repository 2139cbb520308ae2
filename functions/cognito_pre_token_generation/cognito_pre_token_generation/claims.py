"""What to add to a user's tokens: the tier claim (from a tier-* group or custom:tier) and read scope.

Users signing in with SRP or a password get access tokens with only Cognito's own scope; API methods
with AuthorizationScopes need ``tickerstream/quotes.read`` in the token, so this trigger (V2_0, which
can change access tokens) adds it. Machine tokens (client_credentials) get their scopes from the client.
"""

from __future__ import annotations

from typing import Any

TIER_CLAIM = "tickerstream:tier"
TIERS = ("free", "pro", "enterprise")  # lowest to highest
TIER_GROUP_PREFIX = "tier-"
TIER_ATTRIBUTE = "custom:tier"
SUSPENDED_ATTRIBUTE = "custom:suspended"


class TokenRefused(Exception):
    """Raised out of the trigger: Cognito issues no token."""


def tier_of(groups: list[str], attributes: dict[str, Any], default: str) -> str:
    """The highest tier among the user's tier-* groups; else custom:tier; else the default."""
    from_groups = [g[len(TIER_GROUP_PREFIX):] for g in groups if g.startswith(TIER_GROUP_PREFIX)]
    known = [tier for tier in from_groups if tier in TIERS]
    if known:
        return max(known, key=TIERS.index)
    attribute = str(attributes.get(TIER_ATTRIBUTE, "")).strip().lower()
    if attribute in TIERS:
        return attribute
    return default if default in TIERS else TIERS[0]


def respond(event: dict[str, Any], default_tier: str, user_scopes: list[str]) -> dict[str, Any]:
    request = event.get("request") or {}
    attributes = request.get("userAttributes") or {}
    # Refresh-token sign-ins skip PreAuthentication; this trigger runs for them too, so a suspended user
    # cannot keep a session alive by refreshing.
    if str(attributes.get(SUSPENDED_ATTRIBUTE, "")).strip().lower() in {"true", "1", "yes"}:
        raise TokenRefused("Sign-in is not allowed for this account. Contact your administrator.")
    groups = list((request.get("groupConfiguration") or {}).get("groupsToOverride") or [])
    tier = tier_of(groups, attributes, default_tier)
    claims = {TIER_CLAIM: tier}

    if str(event.get("version", "1")) == "1":
        # V1_0 events can only change the ID token.
        event["response"] = {"claimsOverrideDetails": {"claimsToAddOrOverride": claims}}
        return event
    present = set(request.get("scopes") or [])
    event["response"] = {
        "claimsAndScopeOverrideDetails": {
            "idTokenGeneration": {"claimsToAddOrOverride": dict(claims)},
            "accessTokenGeneration": {
                "claimsToAddOrOverride": dict(claims),
                "scopesToAdd": [scope for scope in user_scopes if scope not in present],
            },
        }
    }
    return event
