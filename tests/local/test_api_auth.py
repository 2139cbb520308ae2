"""The local API: Cognito authorizer as API Gateway enforces it, the token endpoint, CORS, real curl.

Runs against a real moto server (its JWKS over HTTP) and the werkzeug API server on ephemeral ports.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import boto3
import jwt
import pytest

from local.synthetic import api_template, echo_handler, ensure_cognito_provisioners
from tickerstream_local.api import ApiServer, LocalApi
from tickerstream_local.cognito import pool_config, sign_in
from tickerstream_local.server import MotoServer, port_is_listening
from tickerstream_local.stack import deploy

PASSWORD = "Correct-Horse-9!"


@pytest.fixture(scope="module")
def stack():
    ensure_cognito_provisioners()
    moto = MotoServer(port=0).start()
    try:
        session = boto3.Session(region_name="us-east-1")
        deployment = deploy(session, endpoint_url=moto.endpoint_url, template=api_template(), stack_name="apitest")
        server = ApiServer(LocalApi(deployment, handlers={"Echo": echo_handler}), port=0).start()
        idp = deployment.client("cognito-idp")
        pool_id = deployment.ctx.refs["Pool"]
        idp.admin_create_user(UserPoolId=pool_id, Username="ada", TemporaryPassword=PASSWORD,
                              MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool_id, Username="ada", Password=PASSWORD, Permanent=True)
        yield deployment, server, moto
        server.stop()
    finally:
        moto.stop()


def call(url, method="GET", headers=None, data=None):
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def client_secret(deployment, logical_id):
    idp = deployment.client("cognito-idp")
    client_id = deployment.ctx.refs[logical_id]
    described = idp.describe_user_pool_client(UserPoolId=deployment.ctx.refs["Pool"], ClientId=client_id)
    return client_id, described["UserPoolClient"]["ClientSecret"]


def fetch_token(server, deployment, logical_id="MachineClient", scope=None, secret=None):
    client_id, real_secret = client_secret(deployment, logical_id)
    basic = base64.b64encode(f"{client_id}:{secret or real_secret}".encode()).decode()
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    return call(f"{server.url}/oauth2/token", "POST",
                {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
                urllib.parse.urlencode(form).encode())


def access_token(server, deployment, **kwargs):
    status, _, body = fetch_token(server, deployment, **kwargs)
    assert status == 200, body
    return json.loads(body)["access_token"]


def user_tokens(deployment, server):
    # Through the local stack, which re-signs moto's tokens with the stack's own key and names its issuer.
    return sign_in(deployment, server.app.default_pool(), "ada", PASSWORD)


def forge(claims_update=None, key=None, headers=None, drop=()):
    """A token like a valid machine token, altered."""
    now = int(time.time())
    claims = {"sub": "x", "token_use": "access", "scope": "ts/read", "iat": now, "exp": now + 600,
              "iss": FORGE["issuer"], "client_id": FORGE["client_id"], "jti": "j"}
    claims.update(claims_update or {})
    for name in drop:
        claims.pop(name)
    return jwt.encode(claims, key or FORGE["key"], algorithm="RS256", headers={"kid": FORGE["kid"], **(headers or {})})


FORGE: dict[str, Any] = {}


@pytest.fixture
def forge_for(stack):
    deployment, server, _ = stack
    FORGE["issuer"] = f"{server.url}/{deployment.ctx.refs['Pool']}"  # the local issuer the server serves
    FORGE["client_id"] = deployment.ctx.refs["MachineClient"]
    signing_key = pool_config(deployment, "Pool").signing_key  # the stack's own key (forging as the stack)
    FORGE["key"], FORGE["kid"] = signing_key.private_key, signing_key.kid
    return forge


def test_token_endpoint_issues_scoped_access_tokens(stack):
    deployment, server, moto = stack
    status, headers, body = fetch_token(server, deployment)
    assert status == 200
    answer = json.loads(body)
    assert set(answer) == {"access_token", "expires_in", "token_type"}
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 3600  # 60 minutes in the template
    # Verifies against the local stack's own JWKS (not moto's, whose private key moto ships).
    pool_id = deployment.ctx.refs["Pool"]
    (jwk,) = pool_config(deployment, "Pool").signing_key.jwks()["keys"]
    claims = jwt.decode(answer["access_token"], jwt.PyJWK(jwk).key,
                        algorithms=["RS256"], issuer=f"{server.url}/{pool_id}")
    assert claims["token_use"] == "access"
    assert claims["client_id"] == deployment.ctx.refs["MachineClient"]
    assert claims["scope"].split() == ["ts/read", "ts/write"]  # no scope asked: every allowed scope

    status, _, body = fetch_token(server, deployment, scope="ts/read")
    assert jwt.decode(json.loads(body)["access_token"], options={"verify_signature": False})["scope"] == "ts/read"


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"secret": "wrong"}, 401, "invalid_client"),
        ({"scope": "ts/admin"}, 400, "invalid_scope"),
        ({"logical_id": "ReaderClient", "scope": "ts/write"}, 400, "invalid_scope"),
    ],
)
def test_token_endpoint_refusals(stack, kwargs, status, error):
    deployment, server, _ = stack
    got, _, body = fetch_token(server, deployment, **kwargs)
    assert (got, json.loads(body)) == (status, {"error": error})


def test_token_endpoint_requires_client_credentials_grant_and_form(stack):
    deployment, server, _ = stack
    client_id, secret = client_secret(deployment, "MachineClient")
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    status, _, body = call(f"{server.url}/oauth2/token", "POST",
                           {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
                           b"grant_type=password")
    assert (status, json.loads(body)) == (400, {"error": "unsupported_grant_type"})
    status, _, _ = call(f"{server.url}/oauth2/token", "POST", {"Authorization": f"Basic {basic}",
                        "Content-Type": "application/json"}, b'{"grant_type":"client_credentials"}')
    assert status == 400


def test_valid_access_token_passes_with_claims_and_path_parameters(stack):
    deployment, server, _ = stack
    token = access_token(server, deployment, scope="ts/read")
    status, headers, body = call(f"{server.url}/items/AAPL?x=1", headers={"Authorization": token})
    assert status == 200, body
    echoed = json.loads(body)
    assert echoed["pathParameters"] == {"id": "AAPL"}
    assert echoed["query"] == {"x": "1"}
    assert echoed["resource"] == "/items/{id}" and echoed["stage"] == "dev"
    assert echoed["claims"]["client_id"] == deployment.ctx.refs["MachineClient"]
    assert echoed["claims"]["scope"] == "ts/read"
    assert headers["x-amzn-RequestId"] == echoed["requestId"]
    # "Bearer <token>" is accepted too, and the stage prefix routes the same way.
    status, _, _ = call(f"{server.url}/dev/items/AAPL", headers={"Authorization": f"Bearer {token}"})
    assert status == 200


def test_write_scope_route(stack):
    deployment, server, _ = stack
    writer = access_token(server, deployment)  # read + write
    reader = access_token(server, deployment, logical_id="ReaderClient")
    status, _, body = call(f"{server.url}/items", "POST", {"Authorization": writer}, b'{"a":1}')
    assert status == 200 and json.loads(body)["body"] == '{"a":1}'
    status, _, body = call(f"{server.url}/items", "POST", {"Authorization": reader}, b'{"a":1}')
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})


def test_id_token_route_and_id_token_where_scopes_are_required(stack):
    deployment, server, _ = stack
    tokens = user_tokens(deployment, server)
    status, _, body = call(f"{server.url}/me", headers={"Authorization": tokens["IdToken"]})
    assert status == 200
    assert json.loads(body)["claims"]["cognito:username"] == "ada"
    # Method with scopes: an ID token does not pass...
    status, _, body = call(f"{server.url}/items/AAPL", headers={"Authorization": tokens["IdToken"]})
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    # ...and on a method without scopes, an access token does not pass (it has no aud).
    machine = access_token(server, deployment)
    status, _, body = call(f"{server.url}/me", headers={"Authorization": machine})
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})


def _none_token(claims):
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': FORGE['kid']})}.{part(claims)}."


@pytest.mark.parametrize(
    "case",
    ["missing", "empty", "malformed", "garbage_jwt", "expired", "wrong_signature", "alg_none", "alg_hs256",
     "wrong_issuer", "cognitos_issuer", "wrong_client", "missing_scope", "no_token_use", "unknown_kid"],
)
def test_authorizer_rejections(stack, forge_for, case):
    from cryptography.hazmat.primitives.asymmetric import rsa

    deployment, server, _ = stack
    now = int(time.time())
    headers = {
        "missing": {},
        "empty": {"Authorization": ""},
        "malformed": {"Authorization": "not-a-jwt"},
        "garbage_jwt": {"Authorization": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"},
        "expired": {"Authorization": forge_for({"exp": now - 5, "iat": now - 3600})},
        "wrong_signature": {"Authorization": forge_for(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))},
        "alg_none": {"Authorization": _none_token({"token_use": "access", "scope": "ts/read", "exp": now + 600,
                                                   "iss": FORGE["issuer"], "client_id": FORGE["client_id"]})},
        "alg_hs256": {"Authorization": jwt.encode({"token_use": "access", "scope": "ts/read", "exp": now + 600,
                                                   "iss": FORGE["issuer"], "client_id": FORGE["client_id"]},
                                                  "secret-key-long-enough-for-hs256-use", algorithm="HS256",
                                                  headers={"kid": FORGE["kid"]})},
        "wrong_issuer": {"Authorization": forge_for({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"})},
        # The pool's issuer on AWS is not the local stack's: local tokens name the local issuer.
        "cognitos_issuer": {"Authorization": forge_for(
            {"iss": f"https://cognito-idp.us-east-1.amazonaws.com/{deployment.ctx.refs['Pool']}"})},
        "wrong_client": {"Authorization": forge_for({"client_id": "someoneelse"})},
        "missing_scope": {"Authorization": forge_for({"scope": "ts/write"})},
        "no_token_use": {"Authorization": forge_for(drop=("token_use",))},
        "unknown_kid": {"Authorization": forge_for(headers={"kid": "other"})},
    }[case]
    status, response_headers, body = call(f"{server.url}/items/AAPL", headers=headers)
    expected = "The incoming token has expired" if case == "expired" else "Unauthorized"
    assert (status, json.loads(body)) == (401, {"message": expected})
    assert response_headers["Content-Type"] == "application/json"
    # The forged token really is valid in every other respect: unchanged, it passes.
    if case in ("wrong_client", "missing_scope"):
        assert call(f"{server.url}/items/AAPL", headers={"Authorization": forge_for()})[0] == 200


def test_health_is_open_preflight_unauthenticated_unknown_route_403(stack):
    deployment, server, _ = stack
    status, _, body = call(f"{server.url}/health")
    assert status == 200 and json.loads(body)["claims"] is None
    status, headers, body = call(f"{server.url}/items/AAPL", "OPTIONS",
                                 {"Origin": "http://x.test", "Access-Control-Request-Method": "GET"})
    assert status == 200 and body == b""
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Allow-Methods"] == "GET,POST,OPTIONS"
    assert headers["Access-Control-Max-Age"] == "600"
    status, _, body = call(f"{server.url}/nowhere")
    assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"})
    status, _, body = call(f"{server.url}/health", "DELETE")
    assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"})


def test_gateway_responses_from_the_template_shape_the_body(stack):
    deployment, server, _ = stack
    app = server.app
    config = next(iter(app.configs.values()))
    saved = dict(config.gateway_responses)
    config.gateway_responses["UNAUTHORIZED"] = {
        "StatusCode": 401,
        "ResponseParameters": {"Headers": {"WWW-Authenticate": "'Bearer'"}},
        "ResponseTemplates": {"application/json":
                              '{"error":{"code":"unauthorized","message":$context.error.messageString,'
                              '"request_id":"$context.requestId"}}'},
    }
    try:
        status, headers, body = call(f"{server.url}/items/AAPL")
    finally:
        config.gateway_responses.clear()
        config.gateway_responses.update(saved)
    error = json.loads(body)["error"]
    assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
    assert error["code"] == "unauthorized" and error["message"] == "Unauthorized"
    assert error["request_id"] == headers["x-amzn-RequestId"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl binary")
def test_real_curl_with_a_fetched_token(stack):
    deployment, server, _ = stack
    client_id, secret = client_secret(deployment, "MachineClient")
    token_json = subprocess.run(
        ["curl", "-sS", "-u", f"{client_id}:{secret}", "-d", "grant_type=client_credentials",
         "-d", "scope=ts/read", f"{server.url}/oauth2/token"],
        check=True, capture_output=True, text=True, timeout=20).stdout
    token = json.loads(token_json)["access_token"]
    out = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", "-H", f"Authorization: Bearer {token}", f"{server.url}/items/MSFT"],
        check=True, capture_output=True, text=True, timeout=20).stdout
    body, code = out.rsplit("\n", 1)
    assert code == "200" and json.loads(body)["pathParameters"] == {"id": "MSFT"}
    out = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", f"{server.url}/items/MSFT"],
                         check=True, capture_output=True, text=True, timeout=20).stdout
    assert out.rsplit("\n", 1)[1] == "401"


def test_servers_release_their_ports_and_refuse_busy_ones():
    from tickerstream_local.server import PortBusyError

    moto = MotoServer(port=0).start()
    port = moto.port
    with pytest.raises(PortBusyError, match=str(port)):
        MotoServer(port=port).start()
    with pytest.raises(PortBusyError, match="local API"):
        ApiServer(LocalApi.__new__(LocalApi), port=port).start()
    moto.stop()
    assert not port_is_listening(port)
    # The port can be bound again at once.
    again = MotoServer(port=port).start()
    assert port_is_listening(port)
    again.stop()
    assert not port_is_listening(port)
