"""WsAuthorizer with tokens signed by a test key whose JWKS a local HTTP server serves as the pool would."""

from __future__ import annotations

import json
import threading
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest

from tickerstream_local.cognito import SigningKey
from tickerstream_local.template import REPO_ROOT

from .conftest import REFS, context, load

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:wsapi12345/dev/$connect"
CLIENT = REFS["UserClient"]


class JwksServer:
    """Serves /.well-known/jwks.json for one signing key and counts the fetches."""

    def __init__(self, key: SigningKey):
        self.key = key
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                if self.path != "/.well-known/jwks.json":
                    self.send_error(404)
                    return
                outer.fetches += 1
                body = json.dumps(outer.key.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pool():
    server = JwksServer(SigningKey.generate())
    yield server
    server.close()


@pytest.fixture
def authorizer(pool):
    return load("WsAuthorizer", TOKEN_ISSUER=pool.issuer)


def claims(pool: JwksServer, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "user-1", "token_use": "access", "scope": "tickerstream/quotes.read tickerstream/quotes.write",
            "client_id": CLIENT, "iss": pool.issuer, "iat": now, "exp": now + 600, "jti": "j1", "username": "ann"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def event(protocols: str | None) -> dict[str, Any]:
    headers = {"Host": "wsapi12345.execute-api.us-east-1.amazonaws.com"}
    if protocols is not None:
        headers["Sec-WebSocket-Protocol"] = protocols
    return {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "c1"}}


def invoke(authorizer, protocols: str | None) -> dict[str, Any]:
    return authorizer.handler(event(protocols), context("WsAuthorizer"))


def refused(authorizer, protocols: str | None) -> None:
    with pytest.raises(Exception) as raised:
        invoke(authorizer, protocols)
    # Exactly this message: API Gateway answers 401 for it (anything else is a 500).
    assert (type(raised.value), str(raised.value)) == (Exception, "Unauthorized")


def test_a_valid_access_token_is_allowed_on_the_connect_method_with_the_callers_context(pool, authorizer):
    token = pool.key.sign(claims(pool))
    answer = invoke(authorizer, f"tickerstream.v1, {token}")
    assert answer["policyDocument"]["Statement"] == [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}]
    assert answer["principalId"] == "user-1"
    assert answer["context"] == {"sub": "user-1", "client_id": CLIENT, "scope": "tickerstream/quotes.read tickerstream/quotes.write"}


def test_the_token_may_come_first_and_header_names_are_case_insensitive(pool, authorizer):
    token = pool.key.sign(claims(pool))
    answer = authorizer.handler({**event(None), "headers": {"sec-websocket-protocol": f"{token},tickerstream.v1"}},
                                context("WsAuthorizer"))
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_a_write_only_token_is_denied_403_not_401(pool, authorizer):
    token = pool.key.sign(claims(pool, scope="tickerstream/quotes.write"))
    answer = invoke(authorizer, f"tickerstream.v1, {token}")
    assert answer["policyDocument"]["Statement"] == [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": METHOD_ARN}]
    assert "context" not in answer


@pytest.mark.parametrize("protocols", [None, "", "tickerstream.v1", "chat, other", "tickerstream.v1, a.b.c, d.e.f"],
                         ids=["no header", "empty", "protocol only", "no tickerstream.v1", "two tokens"])
def test_no_usable_token_is_refused_401(authorizer, protocols):
    refused(authorizer, protocols)


def test_a_token_without_the_protocol_name_is_refused(pool, authorizer):
    refused(authorizer, pool.key.sign(claims(pool)))


@pytest.mark.parametrize("case", ["malformed", "expired", "wrong issuer", "id token", "unknown client", "no token_use",
                                  "scope not a string", "no subject", "hs256", "alg none", "other key same kid",
                                  "other key other kid"])
def test_invalid_tokens_are_refused_401(pool, authorizer, case):
    other = SigningKey.generate()
    tokens = {
        "malformed": lambda: "not-a-jwt",
        "expired": lambda: pool.key.sign(claims(pool, exp=int(time.time()) - 1)),
        "wrong issuer": lambda: pool.key.sign(claims(pool, iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other")),
        "id token": lambda: pool.key.sign(claims(pool, token_use="id", aud=CLIENT, client_id=None)),
        "unknown client": lambda: pool.key.sign(claims(pool, client_id="someoneelse")),
        "no token_use": lambda: pool.key.sign(claims(pool, token_use=None)),
        "scope not a string": lambda: pool.key.sign(claims(pool, scope=["tickerstream/quotes.read"])),
        "no subject": lambda: pool.key.sign(claims(pool, sub=None)),
        "hs256": lambda: jwt.encode(claims(pool), "s" * 32, algorithm="HS256", headers={"kid": pool.key.kid}),
        "alg none": lambda: jwt.encode(claims(pool), None, algorithm="none", headers={"kid": pool.key.kid}),
        "other key same kid": lambda: SigningKey(other.private_key, pool.key.kid).sign(claims(pool)),
        "other key other kid": lambda: other.sign(claims(pool)),
    }
    refused(authorizer, f"tickerstream.v1, {tokens[case]()}")


def test_the_jwks_is_fetched_once_and_kept_across_invocations(pool, authorizer):
    for _ in range(3):
        assert invoke(authorizer, f"tickerstream.v1, {pool.key.sign(claims(pool))}")["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert pool.fetches == 1


def test_a_rotated_key_is_picked_up_after_the_refetch_cooldown(pool, authorizer, monkeypatch):
    import jwt.jwks_client

    invoke(authorizer, f"tickerstream.v1, {pool.key.sign(claims(pool))}")
    pool.key = SigningKey.generate()  # the pool rotates its key
    rotated = pool.key.sign(claims(pool))
    # Within pyjwt's cooldown an unknown kid is refused without a refetch: random kids cannot make the
    # authorizer hammer the JWKS endpoint.
    refused(authorizer, f"tickerstream.v1, {rotated}")
    assert pool.fetches == 1
    later = time.monotonic() + 31
    monkeypatch.setattr(jwt.jwks_client.time, "monotonic", lambda: later)
    answer = invoke(authorizer, f"tickerstream.v1, {rotated}")
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert pool.fetches == 2


def test_unreachable_keys_fail_the_authorizer_rather_than_refuse_the_caller(pool):
    issuer = pool.issuer
    token = pool.key.sign(claims(pool))
    pool.close()
    authorizer = load("WsAuthorizer", TOKEN_ISSUER=issuer)
    with pytest.raises(Exception) as raised:
        invoke(authorizer, f"tickerstream.v1, {token}")
    assert str(raised.value) != "Unauthorized"  # API Gateway answers 500: a server fault, not the caller's


def test_the_authorizers_own_requirements_are_pinned_to_the_lock_file():
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"]}
    lines = (REPO_ROOT / "functions/ws_authorizer/requirements.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    assert {"pyjwt", "cryptography"} <= set(pins)
    assert {name: locked.get(name) for name in pins} == pins
