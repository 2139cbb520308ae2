"""Cognito triggers: sign-up domains, suspended users, audit + metrics, token claims and scopes."""

from __future__ import annotations

import io

import pytest
from api.helpers import capture_logs, load_event, log_lines, trigger

from tickerstream_local.functions import LocalContext


def run(module, event):
    stream = capture_logs(module)
    try:
        return module.handler(event, LocalContext("trigger")), stream
    except Exception:
        raise


def emitted_metrics(text: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for line in log_lines(text):
        for directive in (line.get("_aws") or {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                out[metric["Name"]] = line[metric["Name"]]
    return out


def test_pre_signup_allows_listed_domains_and_any_when_the_list_is_empty(capsys):
    module = trigger("CognitoPreSignUp", {"ALLOWED_EMAIL_DOMAINS": "Example.com, example.org"})
    event = load_event("cognito_pre_signup/sign-up.json")
    assert module.handler(event, LocalContext("t")) is event
    assert event["response"] == {}  # never auto-confirms

    module = trigger("CognitoPreSignUp", {"ALLOWED_EMAIL_DOMAINS": ""})
    assert module.handler(load_event("cognito_pre_signup/sign-up-other-domain.json"), LocalContext("t"))


@pytest.mark.parametrize("email", ["someone@evil-example.com", "someone@sub.example.com", "someone@example.com.evil.io", "no-at-sign"])
def test_pre_signup_refuses_other_domains_with_a_clear_message(capsys, email):
    module = trigger("CognitoPreSignUp", {"ALLOWED_EMAIL_DOMAINS": "example.com"})
    event = load_event("cognito_pre_signup/sign-up-other-domain.json")
    event["request"]["userAttributes"]["email"] = email
    module.metrics.clear_metrics()
    stream = capture_logs(module)
    with pytest.raises(Exception, match=r"(limited to e-mail addresses at: example\.com|valid e-mail)"):
        module.handler(event, LocalContext("t"))
    assert emitted_metrics(capsys.readouterr().out) == {"SignUpsRefused": [1.0]}
    assert email not in stream.getvalue()  # the domain is logged, never the address


def test_pre_authentication_lets_active_users_through_and_counts_the_attempt(capsys):
    module = trigger("CognitoPreAuthentication")
    module.metrics.clear_metrics()
    event = load_event("cognito_pre_authentication/sign-in.json")
    result, stream = run(module, event)
    assert result is event
    assert emitted_metrics(capsys.readouterr().out) == {"SignInAttempts": [1.0]}
    [line] = [l for l in log_lines(stream.getvalue()) if l.get("message") == "Sign-in attempt"]
    assert line["user"] == event["userName"] and line["client_id"] == event["callerContext"]["clientId"]
    assert "analyst@example.com" not in stream.getvalue()


def test_pre_authentication_refuses_suspended_users_and_emits_failed_sign_ins(capsys):
    module = trigger("CognitoPreAuthentication")
    module.metrics.clear_metrics()
    event = load_event("cognito_pre_authentication/sign-in-suspended.json")
    stream = capture_logs(module)
    with pytest.raises(Exception, match="not allowed") as refused:
        module.handler(event, LocalContext("t"))
    assert "suspend" not in str(refused.value).lower()  # the client is not told why
    # log_metrics flushes on the way out, exception or not: the refusal is counted.
    assert emitted_metrics(capsys.readouterr().out) == {"SignInAttempts": [1.0], "FailedSignIns": [1.0]}
    assert any(l.get("message") == "Sign-in refused" and l.get("reason") == "suspended"
               for l in log_lines(stream.getvalue()))


def test_post_authentication_writes_an_audit_line_and_successful_sign_ins(capsys):
    module = trigger("CognitoPostAuthentication")
    module.metrics.clear_metrics()
    event = load_event("cognito_post_authentication/sign-in.json")
    result, stream = run(module, event)
    assert result is event
    [audit] = [l for l in log_lines(stream.getvalue()) if l.get("audit") == "sign_in"]
    assert audit["outcome"] == "success" and audit["sub"] == event["request"]["userAttributes"]["sub"]
    assert audit["client_id"] == event["callerContext"]["clientId"] and audit["user_pool_id"] == event["userPoolId"]
    assert emitted_metrics(capsys.readouterr().out) == {"SuccessfulSignIns": [1.0]}


def test_pre_token_generation_adds_the_tier_claim_and_read_scope():
    module = trigger("CognitoPreTokenGeneration", {"DEFAULT_TIER": "free", "USER_SCOPES": "tickerstream/quotes.read"})
    event = load_event("cognito_pre_token_generation/token-v2.json")  # groups tier-pro, custom:tier free
    result, _ = module.handler(event, LocalContext("t")), None
    details = result["response"]["claimsAndScopeOverrideDetails"]
    assert details["idTokenGeneration"]["claimsToAddOrOverride"] == {"tickerstream:tier": "pro"}
    assert details["accessTokenGeneration"]["claimsToAddOrOverride"] == {"tickerstream:tier": "pro"}
    assert details["accessTokenGeneration"]["scopesToAdd"] == ["tickerstream/quotes.read"]
    assert "groupOverrideDetails" not in details  # groups left as they are


@pytest.mark.parametrize(("groups", "attribute", "tier"), [
    (["tier-pro", "tier-enterprise"], "", "enterprise"),
    (["tier-platinum"], "pro", "pro"),
    ([], "ENTERPRISE", "enterprise"),
    ([], "gold", "free"),
    ([], None, "free"),
])
def test_tier_comes_from_groups_then_the_attribute_then_the_default(groups, attribute, tier):
    module = trigger("CognitoPreTokenGeneration", {"DEFAULT_TIER": "free", "USER_SCOPES": "tickerstream/quotes.read"})
    event = load_event("cognito_pre_token_generation/token-v2.json")
    event["request"]["groupConfiguration"]["groupsToOverride"] = groups
    if attribute is None:
        event["request"]["userAttributes"].pop("custom:tier")
    else:
        event["request"]["userAttributes"]["custom:tier"] = attribute
    result = module.handler(event, LocalContext("t"))
    assert result["response"]["claimsAndScopeOverrideDetails"]["idTokenGeneration"]["claimsToAddOrOverride"] == {
        "tickerstream:tier": tier}


def test_a_scope_already_in_the_token_is_not_added_twice_and_v1_events_get_id_token_claims():
    module = trigger("CognitoPreTokenGeneration", {"DEFAULT_TIER": "free", "USER_SCOPES": "tickerstream/quotes.read"})
    event = load_event("cognito_pre_token_generation/token-v2.json")
    event["request"]["scopes"].append("tickerstream/quotes.read")
    details = module.handler(event, LocalContext("t"))["response"]["claimsAndScopeOverrideDetails"]
    assert details["accessTokenGeneration"]["scopesToAdd"] == []

    event = load_event("cognito_pre_token_generation/token-v2.json")
    event["version"] = "1"
    assert module.handler(event, LocalContext("t"))["response"] == {
        "claimsOverrideDetails": {"claimsToAddOrOverride": {"tickerstream:tier": "pro"}}}


def test_suspended_users_cannot_refresh_their_tokens():
    module = trigger("CognitoPreTokenGeneration", {"DEFAULT_TIER": "free", "USER_SCOPES": "tickerstream/quotes.read"})
    with pytest.raises(Exception, match="not allowed"):
        module.handler(load_event("cognito_pre_token_generation/refresh-suspended-v2.json"), LocalContext("t"))
