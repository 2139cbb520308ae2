"""The local stack signs tokens with a key of its own and trusts nothing else.

moto signs the tokens of its user pools with a private key it ships in its package, so anyone can
forge a token with it. The local API must refuse those (401) and accept only what the local stack
itself issued: the token endpoint's machine tokens and sign_in()'s user tokens (re-signed).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse

import jwt
import pytest
from moto.utilities.utils import load_resource
from werkzeug.test import Client

from local.synthetic import api_template, echo_handler, ensure_cognito_provisioners
from tickerstream_local.api import LocalApi
from tickerstream_local.cognito import pool_config, sign_in
from tickerstream_local.stack import deploy

PASSWORD = "Correct-Horse-9!"


def moto_private_key():
    """The private key moto ships and signs every moto Cognito token with (kid `dummy`)."""
    document = load_resource("cognitoidp/resources/jwks-private.json")
    return jwt.PyJWK(document, algorithm="RS256").key, document.get("kid", "dummy")


@pytest.fixture
def local(aws):
    ensure_cognito_provisioners()
    deployment = deploy(aws, template=api_template(), stack_name="keytest")
    idp = deployment.client("cognito-idp")
    pool_id = deployment.ctx.refs["Pool"]
    idp.admin_create_user(UserPoolId=pool_id, Username="ada", TemporaryPassword=PASSWORD, MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool_id, Username="ada", Password=PASSWORD, Permanent=True)
    return deployment, Client(LocalApi(deployment, handlers={"Echo": echo_handler}))


def machine_token(deployment, client, scope="ts/read"):
    client_id = deployment.ctx.refs["MachineClient"]
    secret = deployment.ctx.attributes["MachineClient"]["ClientSecret"]
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = client.post("/oauth2/token", headers={"Authorization": f"Basic {basic}"},
                           content_type="application/x-www-form-urlencoded",
                           data=urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope}))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["access_token"]


def get(client, path, token):
    response = client.get(path, headers={"Authorization": token})
    return response.status_code, response.get_json()


def test_a_token_from_the_local_token_endpoint_is_accepted_and_signed_with_the_stacks_key(local):
    deployment, client = local
    token = machine_token(deployment, client)
    assert get(client, "/items/AAPL", token)[0] == 200
    pool = pool_config(deployment, "Pool")
    assert jwt.get_unverified_header(token)["kid"] == pool.signing_key.kid != "dummy"
    # It verifies against the stack's JWKS and not against moto's published one.
    (jwk,) = pool.signing_key.jwks()["keys"]
    assert "d" not in jwk  # the public half only
    jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"], options={"verify_aud": False})
    moto_public = jwt.PyJWK(load_resource("cognitoidp/resources/jwks-public.json")["keys"][0], algorithm="RS256").key
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, moto_public, algorithms=["RS256"], options={"verify_aud": False})


@pytest.mark.parametrize("kid", ["moto's kid", "the stack's kid"])
def test_a_token_forged_with_motos_bundled_key_is_refused_with_401(local, kid):
    deployment, client = local
    genuine = machine_token(deployment, client)
    claims = jwt.decode(genuine, options={"verify_signature": False})  # valid in every other respect
    claims.update(iat=int(time.time()), exp=int(time.time()) + 600)
    key, moto_kid = moto_private_key()
    header_kid = moto_kid if kid == "moto's kid" else jwt.get_unverified_header(genuine)["kid"]
    forged = jwt.encode(claims, key, algorithm="RS256", headers={"kid": header_kid})
    status, body = get(client, "/items/AAPL", forged)
    assert status == 401, body
    assert get(client, "/items/AAPL", genuine)[0] == 200


def test_tokens_moto_issues_are_refused_and_sign_in_reissues_them_with_the_stacks_key(local):
    deployment, client = local
    idp = deployment.client("cognito-idp")
    from_moto = idp.initiate_auth(ClientId=deployment.ctx.refs["UserClient"], AuthFlow="USER_PASSWORD_AUTH",
                                  AuthParameters={"USERNAME": "ada", "PASSWORD": PASSWORD})["AuthenticationResult"]
    status, body = get(client, "/me", from_moto["IdToken"])
    assert status == 401, body
    pool = pool_config(deployment, "Pool")
    tokens = sign_in(deployment, pool, "ada", PASSWORD)
    status, body = get(client, "/me", tokens["IdToken"])
    assert status == 200, body
    assert body["claims"]["cognito:username"] == "ada"
    assert jwt.get_unverified_header(tokens["AccessToken"])["kid"] == pool.signing_key.kid


def test_two_local_stacks_have_different_keys_and_refuse_each_others_tokens(aws):
    ensure_cognito_provisioners()
    first = deploy(aws, template=api_template(), stack_name="first")
    second = deploy(aws, template=api_template(), stack_name="second")
    first_key = pool_config(first, "Pool").signing_key
    second_key = pool_config(second, "Pool").signing_key
    assert first_key.kid != second_key.kid
    assert first_key.public_jwk()["n"] != second_key.public_jwk()["n"]
    # A token of the first stack, re-signed by the second with the first's issuer, is refused by the first.
    first_client = Client(LocalApi(first, handlers={"Echo": echo_handler}))
    token = machine_token(first, first_client)
    claims = jwt.decode(token, options={"verify_signature": False})
    foreign = jwt.encode(claims, second_key.private_key, algorithm="RS256", headers={"kid": first_key.kid})
    assert get(first_client, "/items/AAPL", foreign)[0] == 401
    assert get(first_client, "/items/AAPL", token)[0] == 200
    # Redeploying makes a new key: a stack's key does not outlive it.
    again = deploy(aws, template=api_template(), stack_name="first")
    assert pool_config(again, "Pool").signing_key.kid != first_key.kid


def test_jwks_document_is_the_public_key_in_cognitos_shape(local):
    deployment, _ = local
    document = pool_config(deployment, "Pool").signing_key.jwks()
    (key,) = document["keys"]
    assert {key["kty"], key["alg"], key["use"]} == {"RSA", "RS256", "sig"}
    assert set(key) == {"kty", "alg", "use", "kid", "n", "e"}
    assert json.loads(json.dumps(document)) == document


@pytest.mark.parametrize("claims", [
    {"client_id": ["a", "b"]},      # unhashable where a string belongs
    {"client_id": {"id": "x"}},
    {"scope": ["ts/read"]},         # a list, not the space-separated string Cognito writes
    {"iss": ["https://example"]},   # pyjwt itself trips on a list here
])
def test_the_authorizer_refuses_claims_of_the_wrong_type_itself(local, claims):
    from tickerstream_local.cognito import JwksCache, Unauthorized, authorize

    deployment, client = local
    pool = pool_config(deployment, "Pool")
    issued = jwt.decode(machine_token(deployment, client), options={"verify_signature": False})
    # Validly signed, only the claims are odd (PyJWS: jwt.encode would refuse a list as `iss`).
    token = jwt.api_jws.encode(json.dumps({**issued, **claims}).encode(), pool.signing_key.private_key,
                               algorithm="RS256", headers={"kid": pool.signing_key.kid})
    with pytest.raises(Unauthorized):
        authorize(token, pool, JwksCache(None), ["ts/read"])
