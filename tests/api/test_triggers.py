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


def test_pre_signup_allows_listed_domains(capsys):
    module = trigger("CognitoPreSignUp", {"ALLOWED_EMAIL_DOMAINS": "Example.com, example.org"})
    event = load_event("cognito_pre_signup/sign-up.json")
    assert module.handler(event, LocalContext("t")) is event
    assert event["response"] == {}  # never auto-confirms


@pytest.mark.parametrize("source", ["PreSignUp_SignUp", "PreSignUp_ExternalProvider", "PreSignUp_Unknown", None])
def test_with_no_allowed_domains_self_sign_up_is_refused(capsys, source):
    from tickerstream_local.template import parameter_defaults

    default = parameter_defaults()["AllowedEmailDomains"]  # the template's default
    module = trigger("CognitoPreSignUp", {"ALLOWED_EMAIL_DOMAINS": default})
    assert module.ALLOWED_DOMAINS == frozenset()
    event = load_event("cognito_pre_signup/sign-up.json")
    event["triggerSource"] = source
    module.metrics.clear_metrics()
    with pytest.raises(Exception, match="Self sign-up is closed: ask an administrator"):
        module.handler(event, LocalContext("t"))
    assert emitted_metrics(capsys.readouterr().out) == {"SignUpsRefused": [1.0]}


@pytest.mark.parametrize("domains", ["", "example.com"])
def test_administrators_create_users_at_any_domain(capsys, domains):
    module = trigger("CognitoPreSignUp", {"ALLOWED_EMAIL_DOMAINS": domains})
    event = load_event("cognito_pre_signup/admin-create-user.json")  # partner-example.net, not listed
    assert module.handler(event, LocalContext("t")) is event


@pytest.mark.parametrize("domains", ["", "example.com"])
def test_an_administrator_source_does_not_open_self_sign_up(capsys, domains):
    """Only Cognito's exact PreSignUp_AdminCreateUser source skips the list; look-alikes are checked."""
    module = trigger("CognitoPreSignUp", {"ALLOWED_EMAIL_DOMAINS": domains})
    event = load_event("cognito_pre_signup/admin-create-user.json")
    event["triggerSource"] = "presignup_admincreateuser"
    with pytest.raises(Exception, match="closed|limited to"):
        module.handler(event, LocalContext("t"))


@pytest.mark.parametrize("email", ["someone@evil-example.com", "someone@sub.example.com", "someone@example.com.evil.io",
                                   "no-at-sign", "@example.com", "someone@", "a@b@evil.io", "someone@exam ple.com",
                                   "someone@ex\u0430mple.com", "someone@example.co"])
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


@pytest.mark.parametrize("request_part", [
    None, [], "x", {"userAttributes": None}, {"userAttributes": ["email", "a@example.com"]},
    {"userAttributes": {"email": 42}}, {"userAttributes": {"email": ["a@example.com"]}}, {"userAttributes": {}},
])
def test_pre_signup_refuses_an_event_without_a_readable_address(capsys, request_part):
    module = trigger("CognitoPreSignUp", {"ALLOWED_EMAIL_DOMAINS": "example.com"})
    event = load_event("cognito_pre_signup/sign-up.json")
    event["request"] = request_part
    with pytest.raises(module.SignUpRefused, match=r"^Sign-up needs a valid e-mail address\.$"):
        module.handler(event, LocalContext("t"))


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


@pytest.mark.parametrize("attributes", ["custom:suspended=true", ["custom:suspended", "true"], 7])
def test_pre_authentication_refuses_attributes_it_cannot_read(capsys, attributes):
    module = trigger("CognitoPreAuthentication")
    event = load_event("cognito_pre_authentication/sign-in.json")
    event["request"]["userAttributes"] = attributes
    stream = capture_logs(module)
    with pytest.raises(module.SignInRefused, match="not allowed"):
        module.handler(event, LocalContext("t"))
    assert any(l.get("reason") == "unreadable attributes" for l in log_lines(stream.getvalue()))


@pytest.mark.parametrize("value", ["TRUE", " yes ", "1", "true"])
def test_pre_authentication_reads_suspension_however_it_is_spelled(capsys, value):
    module = trigger("CognitoPreAuthentication")
    event = load_event("cognito_pre_authentication/sign-in.json")
    event["request"]["userAttributes"]["custom:suspended"] = value
    with pytest.raises(module.SignInRefused):
        module.handler(event, LocalContext("t"))


def test_post_authentication_audits_a_malformed_event_without_failing_the_sign_in(capsys):
    module = trigger("CognitoPostAuthentication")
    event = {"triggerSource": "PostAuthentication_Authentication", "request": ["not", "an", "object"],
             "callerContext": "x", "userName": "u"}
    result, stream = run(module, event)
    assert result is event
    [audit] = [l for l in log_lines(stream.getvalue()) if l.get("audit") == "sign_in"]
    assert (audit["user"], audit.get("sub"), audit.get("client_id"), audit["new_device_used"]) == ("u", None, None, False)


def test_pre_token_generation_ignores_malformed_groups_and_scopes_and_refuses_unreadable_attributes():
    module = trigger("CognitoPreTokenGeneration", {"DEFAULT_TIER": "free", "USER_SCOPES": "tickerstream/quotes.read"})
    event = load_event("cognito_pre_token_generation/token-v2.json")
    event["request"]["groupConfiguration"]["groupsToOverride"] = [{"tier": "x"}, 3, "tier-enterprise"]
    event["request"]["scopes"] = [["tickerstream/quotes.read"], None]
    details = module.handler(event, LocalContext("t"))["response"]["claimsAndScopeOverrideDetails"]
    assert details["idTokenGeneration"]["claimsToAddOrOverride"] == {"tickerstream:tier": "enterprise"}
    assert details["accessTokenGeneration"]["scopesToAdd"] == ["tickerstream/quotes.read"]

    event = load_event("cognito_pre_token_generation/token-v2.json")
    event["request"]["userAttributes"] = "custom:suspended=true"
    with pytest.raises(module.TokenRefused, match="not allowed"):
        module.handler(event, LocalContext("t"))


# --- every trigger, any event shape: pass it on or refuse it clearly, never crash ----------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)
ATTRIBUTES = st.one_of(JSON, st.dictionaries(
    st.sampled_from(["email", "sub", "custom:suspended", "custom:tier", "email_verified"]), JSON, max_size=4))
EVENTS = st.fixed_dictionaries(
    {"triggerSource": st.one_of(JSON, st.sampled_from(["PreSignUp_SignUp", "PreSignUp_AdminCreateUser",
                                                       "TokenGeneration_RefreshTokens"])),
     "request": st.one_of(JSON, st.fixed_dictionaries(
         {"userAttributes": ATTRIBUTES,
          "groupConfiguration": st.one_of(JSON, st.fixed_dictionaries({"groupsToOverride": JSON})),
          "scopes": JSON})),
     "version": st.sampled_from(["1", "2", 2, None]),
     "callerContext": JSON, "userName": JSON, "response": JSON})
REFUSALS = {
    "CognitoPreSignUp": ("SignUpRefused", r"^(Sign-up needs a valid e-mail address\.|Self sign-up is closed: .*|Sign-up is limited to e-mail addresses at: example\.com\.)$"),
    "CognitoPreAuthentication": ("SignInRefused", r"^Sign-in is not allowed for this account\. Contact your administrator\.$"),
    "CognitoPostAuthentication": (None, None),
    "CognitoPreTokenGeneration": ("TokenRefused", r"^Sign-in is not allowed for this account\. Contact your administrator\.$"),
}


@pytest.mark.parametrize("function", sorted(REFUSALS))
@pytest.mark.parametrize("domains", ["", "example.com"])
def test_any_event_shape_is_passed_on_or_refused_with_the_triggers_own_message(function, domains):
    import re

    module = trigger(function, {"ALLOWED_EMAIL_DOMAINS": domains, "DEFAULT_TIER": "free",
                                "USER_SCOPES": "tickerstream/quotes.read"})
    refusal, message = REFUSALS[function]
    if function == "CognitoPreSignUp" and not domains:
        message = message.replace(r"example\.com", "")
    capture_logs(module)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(EVENTS)
    def check(event):
        try:
            result = module.handler(event, LocalContext("t"))
        except Exception as exc:  # noqa: BLE001 - the property: only the trigger's own refusal
            assert refusal and type(exc).__name__ == refusal, repr(exc)
            assert re.match(message, str(exc)), str(exc)
        else:
            assert result is event

    check()
