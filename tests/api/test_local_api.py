"""template.yaml's API served locally, attacked: every refusal is a 4xx in the template's shapes.

Gateway responses come from the template's GatewayResponses (MISSING_AUTHENTICATION_TOKEN, UNAUTHORIZED,
DEFAULT_4XX/5XX), the token endpoint answers in OAuth2's error shape, the authorizer never fails open
or with a 5xx, and the functions behind it never answer a 5xx to client input.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse

import jwt
import pytest
from api.local_api import call


QUOTE = {"ticker_symbol": "AAPL", "sector": "TECHNOLOGY", "change": 1.25, "price": 189.5}


def rendered(template_response: dict, request_id: str, message: str) -> dict:
    body = template_response["ResponseTemplates"]["application/json"]
    body = body.replace("$context.error.messageString", json.dumps(message)).replace("$context.requestId", request_id)
    return json.loads(body)


def header_values(template_response: dict) -> dict[str, str]:
    return {k: v.strip("'") for k, v in template_response["ResponseParameters"]["Headers"].items()}


def assert_gateway_response(local_api, kind: str, answer, message: str, status: int | None = None) -> None:
    got_status, headers, body = answer
    configured = local_api.gateway_responses()[kind]
    assert got_status == int(configured.get("StatusCode", status or 0)), (got_status, body)
    assert json.loads(body) == rendered(configured, headers["x-amzn-RequestId"], message)
    for name, value in header_values(configured).items():
        assert headers[name] == value


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/nowhere"), ("GET", "/"), ("DELETE", "/health"), ("PUT", "/quotes"), ("GET", "/quotes/A%2FB"),
    ("GET", "/quotes/AAPL/extra"), ("GET", "/sectors/"), ("PATCH", "/dev/quotes"), ("GET", "/dev"),
])
def test_unknown_paths_and_methods_get_the_templates_missing_authentication_token_response(local_api, method, path):
    answer = call(f"{local_api.url}{path}", method)
    assert_gateway_response(local_api, "MISSING_AUTHENTICATION_TOKEN", answer, "Missing Authentication Token")


def test_no_token_gets_the_templates_unauthorized_response(local_api):
    assert_gateway_response(local_api, "UNAUTHORIZED", call(f"{local_api.url}/quotes/AAPL"), "Unauthorized")


def forged(local_api, *, headers=None, **claims):
    """A token signed with the local pool's key, like a machine token with `claims` changed (None: left out).
    Signed by hand: pyjwt will not encode some of the headers an attacker can send (a list as kid)."""
    pool = local_api.app.default_pool()
    now = int(time.time())
    base = {"sub": "x", "token_use": "access", "scope": " ".join(local_api.route_scopes("GET", "/quotes/{ticker}")),
            "iat": now, "exp": now + 600, "iss": pool.issuer, "client_id": pool.machine_client_id(), "jti": "j"}
    base.update(claims)
    base = {k: v for k, v in base.items() if v is not None}
    key = pool.signing_key  # the stack's own key: these tokens are validly signed, only their claims are odd
    signing_input = f"{b64({'alg': 'RS256', 'typ': 'JWT', 'kid': key.kid, **(headers or {})})}.{b64(base)}"
    signature = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256).sign(signing_input.encode(), key.private_key)
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def bad_tokens(local_api):
    """(kind, Authorization header value): none of them may pass, none may cause a 5xx."""
    now = int(time.time())
    good = forged(local_api)
    head, payload, signature = good.split(".")
    return [
        ("empty header", ""),
        ("only the scheme", "Bearer"),
        ("Basic credentials", "Basic " + base64.b64encode(b"a:b").decode()),
        ("not a JWT", "not-a-jwt"),
        ("two segments", f"{head}.{payload}"),
        ("header not base64", f"%%%.{payload}.{signature}"),
        ("header not JSON", f"{base64.urlsafe_b64encode(b'nope').decode()}.{payload}.{signature}"),
        ("header a JSON list", f"{b64([1])}.{payload}.{signature}"),
        ("kid a list", forged(local_api, headers={"kid": ["dummy"]})),
        ("kid an object", forged(local_api, headers={"kid": {"a": 1}})),
        ("kid unknown", forged(local_api, headers={"kid": "other"})),
        ("alg none", f"{b64({'alg': 'none', 'kid': local_api.app.default_pool().signing_key.kid})}.{payload}."),
        ("signature of another token", f"{head}.{payload}.{forged(local_api, jti='k').split('.')[2][::-1]}"),
        ("expired", forged(local_api, exp=now - 5)),
        ("exp a string", forged(local_api, exp="tomorrow")),
        ("not yet valid", forged(local_api, nbf=now + 3600)),
        ("wrong issuer", forged(local_api, iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other")),
        ("issuer a list", forged(local_api, iss=["x"])),
        ("ID token on a scoped route", forged(local_api, token_use="id")),
        ("no token_use", forged(local_api, token_use=None)),
        ("wrong client", forged(local_api, client_id="someone-else")),
        ("client_id a list", forged(local_api, client_id=["x"])),
        ("missing scope", forged(local_api, scope="tickerstream/other")),
        ("scope a number", forged(local_api, scope=7)),
        ("payload a JSON list", f"{head}.{b64([1, 2])}.{signature}"),
        ("non-ASCII garbage", "Bearer ÿÿÿ.ÿ.ÿ"),
        ("very long", "a" * 8000),
    ]


def test_bad_tokens_are_401_in_the_templates_shape_never_5xx(local_api):
    for kind, value in bad_tokens(local_api):
        answer = call(f"{local_api.url}/quotes/AAPL", headers={"Authorization": value.encode("latin-1").decode("latin-1")})
        expected = "The incoming token has expired" if kind == "expired" else "Unauthorized"
        try:
            assert_gateway_response(local_api, "UNAUTHORIZED", answer, expected)
        except AssertionError as error:
            raise AssertionError(f"{kind}: {error}") from None
    # The forged token is valid in every other respect: unchanged, it passes.
    assert call(f"{local_api.url}/quotes/AAPL", headers={"Authorization": forged(local_api)})[0] == 404


def test_validly_signed_tokens_with_odd_dates_pass_without_a_5xx(local_api):
    # Cognito never issues these, but a signed token's dates are the issuer's business: what matters is that
    # rendering them into requestContext.authorizer.claims cannot fail the request.
    for claims in ({"exp": 1e300}, {"exp": 10**400}, {"auth_time": -(10**20)}, {"auth_time": "never"}):
        status, _, body = call(f"{local_api.url}/quotes/AAPL", headers={"Authorization": forged(local_api, **claims)})
        assert status == 404 and json.loads(body)["error"]["code"] == "unknown_ticker", (claims, body)
    # An iat in the future is refused by the token checks (pyjwt's ImmatureSignatureError), not a crash.
    status, _, _ = call(f"{local_api.url}/quotes/AAPL", headers={"Authorization": forged(local_api, iat=10**30)})
    assert status == 401


def test_a_read_token_may_not_write(local_api):
    token = local_api.token(*local_api.route_scopes("GET", "/quotes"))
    answer = call(f"{local_api.url}/quotes", "POST", {"Authorization": token, "Content-Type": "application/json"},
                  json.dumps(QUOTE).encode())
    assert_gateway_response(local_api, "UNAUTHORIZED", answer, "Unauthorized")


def test_a_body_over_api_gateways_10_mib_is_413_in_the_default_4xx_shape(local_api):
    token = local_api.token(*local_api.route_scopes("POST", "/quotes"))
    answer = call(f"{local_api.url}/quotes", "POST", {"Authorization": token, "Content-Type": "application/json"},
                  b" " * (10 * 1024 * 1024 + 1))
    assert_gateway_response(local_api, "DEFAULT_4XX", answer, "Request Too Long", status=413)


def oauth(local_api, body: bytes | None, content_type: str | None = "application/x-www-form-urlencoded",
          authorization: str | None = "real", method: str = "POST"):
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if authorization == "real":
        headers["Authorization"] = local_api.basic_auth()
    elif authorization is not None:
        headers["Authorization"] = authorization
    return call(f"{local_api.url}/oauth2/token", method, headers, body)


def form(**fields) -> bytes:
    return urllib.parse.urlencode(fields).encode()


def bad_token_requests(local_api):
    client_id, _ = local_api.machine_client()
    grant = form(grant_type="client_credentials")
    return [
        ("GET", lambda: oauth(local_api, None, None, method="GET"), 405, "invalid_request"),
        ("JSON body", lambda: oauth(local_api, b'{"grant_type":"client_credentials"}', "application/json"), 400, "invalid_request"),
        ("empty content type", lambda: oauth(local_api, grant, ""), 400, "invalid_request"),
        ("text/plain", lambda: oauth(local_api, grant, "text/plain"), 400, "invalid_request"),
        ("multipart", lambda: oauth(local_api, b"--x\r\n", "multipart/form-data; boundary=x"), 400, "invalid_request"),
        ("no grant_type", lambda: oauth(local_api, form(scope="x")), 400, "invalid_request"),
        ("password grant", lambda: oauth(local_api, form(grant_type="password")), 400, "unsupported_grant_type"),
        ("authorization_code grant", lambda: oauth(local_api, form(grant_type="authorization_code", code="x")), 400, "unsupported_grant_type"),
        ("repeated grant_type", lambda: oauth(local_api, grant + b"&grant_type=password"), 400, "invalid_request"),
        ("repeated scope", lambda: oauth(local_api, grant + b"&scope=a&scope=b"), 400, "invalid_request"),
        ("unknown scope", lambda: oauth(local_api, form(grant_type="client_credentials", scope="tickerstream/admin")), 400, "invalid_scope"),
        ("non-ASCII scope", lambda: oauth(local_api, form(grant_type="client_credentials", scope="ｓｃｏｐｅ")), 400, "invalid_scope"),
        ("no credentials", lambda: oauth(local_api, grant, authorization=None), 401, "invalid_client"),
        ("wrong secret", lambda: oauth(local_api, grant, authorization=local_api.basic_auth(secret="wrong")), 401, "invalid_client"),
        ("empty secret", lambda: oauth(local_api, grant, authorization=local_api.basic_auth(secret="")), 401, "invalid_client"),
        ("unknown client", lambda: oauth(local_api, grant, authorization=local_api.basic_auth(client_id="nobody")), 401, "invalid_client"),
        ("Basic not base64", lambda: oauth(local_api, grant, authorization="Basic %%%"), 401, "invalid_client"),
        ("Basic without colon", lambda: oauth(local_api, grant, authorization="Basic " + base64.b64encode(client_id.encode()).decode()), 401, "invalid_client"),
        ("Basic not UTF-8", lambda: oauth(local_api, grant, authorization="Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()), 401, "invalid_client"),
        ("Bearer instead of Basic", lambda: oauth(local_api, grant, authorization="Bearer abc"), 401, "invalid_client"),
        ("form body not UTF-8", lambda: oauth(local_api, b"grant_type=client_credentials&scope=%ff%fe"), 400, "invalid_scope"),
        ("form body over 64 KiB", lambda: oauth(local_api, grant + b"&pad=" + b"x" * (1024 * 1024)), 400, "invalid_request"),
    ]


def test_bad_token_endpoint_requests_are_4xx_in_oauth2s_error_shape(local_api):
    for kind, send, status, error in bad_token_requests(local_api):
        got, headers, body = send()
        assert (got, json.loads(body)) == (status, {"error": error}), kind
        assert headers["Content-Type"].startswith("application/json"), kind
    assert local_api.token(*local_api.route_scopes("GET", "/quotes"))  # the real client still gets a token


def test_a_function_crash_is_the_templates_default_5xx(local_api, monkeypatch):
    from werkzeug.test import Client

    from tickerstream_local.api import LocalApi

    def crash(event, context):
        raise RuntimeError("boom")

    app = LocalApi(local_api.deployment, handlers={"ApiQuery": crash})
    response = Client(app).get("/health")
    configured = local_api.gateway_responses()["DEFAULT_5XX"]
    assert response.status_code == 502
    assert response.get_json() == rendered(configured, response.headers["x-amzn-RequestId"], "Internal server error")


def test_malformed_requests_end_to_end_are_4xx_in_the_error_shape(local_api):
    read = {"Authorization": local_api.token(*local_api.route_scopes("GET", "/quotes"))}
    write = {"Authorization": local_api.token(*local_api.route_scopes("POST", "/quotes")),
             "Content-Type": "application/json"}
    url = local_api.url
    cases = [
        ("GET", "/quotes?sector=TECHNOLOGY&limit=1&limit=2", read, None, 400, "repeated_parameter"),
        ("GET", "/quotes?sector=TECHNOLOGY&limit=%C2%B2", read, None, 400, "invalid_limit"),        # ²
        ("GET", "/quotes?sector=TECHNOLOGY&limit=%EF%BC%91", read, None, 400, "invalid_limit"),     # １
        ("GET", "/quotes?sector=TECHNOLOGY&lim%00it=1", read, None, 400, "unknown_parameter"),
        ("GET", "/quotes?sector=%C3%9F", read, None, 400, "invalid_sector"),                        # ß
        ("GET", "/quotes?sector=TECH%FF", read, None, 400, "invalid_sector"),                       # not UTF-8
        ("GET", "/quotes?sector", read, None, 400, "invalid_sector"),
        ("GET", "/quotes?sector=TECHNOLOGY&next_token=%%%", read, None, 400, "invalid_next_token"),
        ("GET", "/quotes/%C3%A9", read, None, 400, "invalid_ticker"),
        ("GET", "/quotes/AAPL%2520", read, None, 400, "invalid_ticker"),
        ("GET", "/sectors/%E2%91%A0", read, None, 400, "invalid_sector"),                           # ①
        ("GET", "/dev/quotes/AAPL", read, None, 404, "unknown_ticker"),                             # stage prefix
        ("POST", "/quotes", write, b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json"),
        ("POST", "/quotes", write, b"\xff\xfe\x00{", 400, "invalid_json"),
        ("POST", "/quotes", write, b'{"ticker_symbol":"A","sector":"B","change":1e-7,"price":1e400}', 400, "invalid_quotes"),
        ("POST", "/quotes", {**write, "Content-Type": "text/plain"}, b"{}", 415, "unsupported_media_type"),
        ("POST", "/quotes", write, b" " * (1024 * 1024 + 1), 413, "body_too_large"),
    ]
    for method, path, headers, body, status, code in cases:
        got, response_headers, raw = call(f"{url}{path}", method, headers, body)
        assert got == status, (path, got, raw[:200])
        error = json.loads(raw)["error"]
        assert error["code"] == code and error["request_id"] == response_headers["x-amzn-RequestId"], (path, error)
