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


def _mapping(value: Any) -> dict[str, Any]:
    """A part of the event as Cognito sends it (an object); anything else reads as empty."""
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> list[str]:
    """A list of names as Cognito sends it; entries that are not strings are ignored."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def respond(event: dict[str, Any], default_tier: str, user_scopes: list[str]) -> dict[str, Any]:
    request = _mapping(event.get("request"))
    attributes = request.get("userAttributes")
    # Refresh-token sign-ins skip PreAuthentication; this trigger runs for them too, so a suspended user
    # cannot keep a session alive by refreshing. Attributes it cannot read are refused too (fail closed).
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict) or str(attributes.get(SUSPENDED_ATTRIBUTE, "")).strip().lower() in {"true", "1", "yes"}:
        raise TokenRefused("Sign-in is not allowed for this account. Contact your administrator.")
    groups = _strings(_mapping(request.get("groupConfiguration")).get("groupsToOverride"))
    tier = tier_of(groups, attributes, default_tier)
    claims = {TIER_CLAIM: tier}

    if str(event.get("version", "1")) == "1":
        # V1_0 events can only change the ID token.
        event["response"] = {"claimsOverrideDetails": {"claimsToAddOrOverride": claims}}
        return event
    present = set(_strings(request.get("scopes")))
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
