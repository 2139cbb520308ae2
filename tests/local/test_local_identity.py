"""People meet the local stack's identity as they would Cognito's: sign-up and sign-in through the
Cognito IdP protocol at the local endpoint (boto3 and the real CLI), the template's triggers run, tokens
signed with the stack's key and discoverable at `<iss>/.well-known/...` over real HTTP.

Runs template.yaml itself, with AllowedEmailDomains=example.com so self sign-up is open to that domain.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError

from tickerstream_local.runner import LocalStack

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Correct-Horse-9!battery"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("identity") / "local.json"
    with contextlib.redirect_stdout(io.StringIO()), LocalStack(
        api_port=0, moto_port=0, state_file=state, parameter_overrides={"AllowedEmailDomains": "example.com"}
    ) as running:
        yield running, state


@pytest.fixture(scope="module")
def info(stack):
    return json.loads(stack[1].read_text())


def idp(info):
    """boto3's own cognito-idp client, pointed at the local stack's Cognito endpoint."""
    return boto3.client("cognito-idp", region_name=info["region"], endpoint_url=info["cognito_endpoint_url"],
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def call(url, method="GET", token=None, data=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, method=method, headers=headers, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def sign_up_confirmed(stack, info, email):
    cognito = idp(info)
    answer = cognito.sign_up(ClientId=info["user_client_id"], Username=email, Password=PASSWORD,
                             UserAttributes=[{"Name": "email", "Value": email}])
    code = stack[0].api.app.identity.sent_codes[email.lower()]
    cognito.confirm_sign_up(ClientId=info["user_client_id"], Username=email, ConfirmationCode=code)
    return answer


def test_local_json_names_the_cognito_endpoint_and_a_local_issuer(info):
    assert info["cognito_endpoint_url"] == f"{info['api_url']}/cognito-idp"
    assert info["issuer"] == f"{info['api_url']}/{info['user_pool_id']}"


def test_sign_up_outside_the_allowed_domains_is_refused_by_the_pre_sign_up_trigger(info):
    with pytest.raises(ClientError) as refused:
        idp(info).sign_up(ClientId=info["user_client_id"], Username="mallory@example.org", Password=PASSWORD,
                          UserAttributes=[{"Name": "email", "Value": "mallory@example.org"}])
    assert error_code(refused) == "UserLambdaValidationException"
    assert "PreSignUp failed" in str(refused.value) and "example.com" in str(refused.value)
    # Refused before the pool stored anything: the address cannot sign in.
    with pytest.raises(ClientError):
        idp(info).initiate_auth(ClientId=info["user_client_id"], AuthFlow="USER_PASSWORD_AUTH",
                                AuthParameters={"USERNAME": "mallory@example.org", "PASSWORD": PASSWORD})


def test_sign_up_confirm_sign_in_and_call_the_api_as_a_reader(stack, info):
    cognito = idp(info)
    email = "ada@example.com"
    answer = cognito.sign_up(ClientId=info["user_client_id"], Username=email, Password=PASSWORD,
                             UserAttributes=[{"Name": "email", "Value": email}])
    assert answer["UserConfirmed"] is False and answer["UserSub"]
    assert answer["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
    auth = {"USERNAME": email, "PASSWORD": PASSWORD}
    with pytest.raises(ClientError) as unconfirmed:
        cognito.initiate_auth(ClientId=info["user_client_id"], AuthFlow="USER_PASSWORD_AUTH", AuthParameters=auth)
    assert error_code(unconfirmed) == "UserNotConfirmedException"
    code = stack[0].api.app.identity.sent_codes[email]
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(ClientError) as mismatch:
        cognito.confirm_sign_up(ClientId=info["user_client_id"], Username=email, ConfirmationCode=wrong)
    assert error_code(mismatch) == "CodeMismatchException"
    cognito.confirm_sign_up(ClientId=info["user_client_id"], Username=email, ConfirmationCode=code)

    result = cognito.initiate_auth(ClientId=info["user_client_id"], AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters=auth)["AuthenticationResult"]
    claims = jwt.decode(result["AccessToken"], options={"verify_signature": False})
    # PreTokenGeneration (V2) ran: the reader scope and the tier claim were added.
    assert "tickerstream/quotes.read" in claims["scope"].split()
    assert "tickerstream/quotes.write" not in claims["scope"].split()
    assert claims["iss"] == info["issuer"]
    status, _ = call(f"{info['api_url']}/quotes/AAPL", token=result["AccessToken"])
    assert status in (200, 404), status  # past the authorizer: the function answered
    quote = json.dumps({"ticker_symbol": "AAPL", "sector": "TECHNOLOGY", "change": 0.1, "price": 1.0}).encode()
    status, _ = call(f"{info['api_url']}/quotes", "POST", token=result["AccessToken"], data=quote)
    assert status == 401
    # Wrong password: refused as Cognito refuses it.
    with pytest.raises(ClientError) as wrong_password:
        cognito.initiate_auth(ClientId=info["user_client_id"], AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={**auth, "PASSWORD": "Wrong-pass-1!x"})
    assert error_code(wrong_password) == "NotAuthorizedException"


def test_a_suspended_user_is_refused_at_sign_in_by_the_pre_authentication_trigger(stack, info):
    email = "suspended@example.com"
    sign_up_confirmed(stack, info, email)
    moto_idp = stack[0].deployment.client("cognito-idp")
    moto_idp.admin_update_user_attributes(UserPoolId=info["user_pool_id"], Username=email,
                                          UserAttributes=[{"Name": "custom:suspended", "Value": "true"}])
    with pytest.raises(ClientError) as refused:
        idp(info).initiate_auth(ClientId=info["user_client_id"], AuthFlow="USER_PASSWORD_AUTH",
                                AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD})
    assert error_code(refused) == "UserLambdaValidationException"
    assert "PreAuthentication failed" in str(refused.value)


def test_other_auth_flows_are_refused_with_a_clear_message(info):
    with pytest.raises(ClientError) as refused:
        idp(info).initiate_auth(ClientId=info["user_client_id"], AuthFlow="REFRESH_TOKEN_AUTH",
                                AuthParameters={"REFRESH_TOKEN": "x"})
    assert error_code(refused) == "InvalidParameterException"
    assert "USER_PASSWORD_AUTH" in str(refused.value)
    with pytest.raises(ClientError) as unknown_client:
        idp(info).initiate_auth(ClientId="nope", AuthFlow="USER_PASSWORD_AUTH",
                                AuthParameters={"USERNAME": "a@example.com", "PASSWORD": PASSWORD})
    assert error_code(unknown_client) == "ResourceNotFoundException"


def test_the_cli_signs_in_through_the_local_endpoint_and_its_token_works(stack, info, tmp_path):
    email = "grace@example.com"
    sign_up_confirmed(stack, info, email)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "TICKERSTREAM_LOCAL_STACK_FILE": str(stack[1]), "TICKERSTREAM_PASSWORD": PASSWORD}
    done = subprocess.run([str(REPO_ROOT / ".venv/bin/tickerstream"), "sign-in", "--username", email],
                          env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert call(f"{info['api_url']}/quotes/AAPL", token=token)[0] in (200, 404)
    assert call(f"{info['api_url']}/quotes", "POST", token=token, data=b"{}")[0] == 401


def test_tokens_verify_with_an_independent_client_following_the_issuer(stack, info):
    """PyJWT's PyJWKClient, given only `<iss>/.well-known/jwks.json`, verifies both kinds of token."""
    email = "linus@example.com"
    sign_up_confirmed(stack, info, email)
    user = idp(info).initiate_auth(ClientId=info["user_client_id"], AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD})["AuthenticationResult"]
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": info["machine_client_id"],
                                   "client_secret": info["machine_client_secret"]}).encode()
    request = urllib.request.Request(info["token_url"], data=form, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as response:
        machine = json.loads(response.read())["access_token"]
    for token in (machine, user["AccessToken"], user["IdToken"]):
        iss = jwt.decode(token, options={"verify_signature": False})["iss"]
        assert iss == info["issuer"]
        key = jwt.PyJWKClient(iss + "/.well-known/jwks.json").get_signing_key_from_jwt(token)
        jwt.decode(token, key.key, algorithms=["RS256"], issuer=iss, options={"verify_aud": False})
    with urllib.request.urlopen(info["issuer"] + "/.well-known/openid-configuration", timeout=10) as response:
        discovery = json.loads(response.read())
    assert discovery["issuer"] == info["issuer"]
    assert discovery["jwks_uri"] == info["issuer"] + "/.well-known/jwks.json"
    assert discovery["token_endpoint"] == info["token_url"]
    assert "RS256" in discovery["id_token_signing_alg_values_supported"]
    # moto's bundled key is not what the issuer publishes.
    with urllib.request.urlopen(info["issuer"] + "/.well-known/jwks.json", timeout=10) as response:
        kids = [k["kid"] for k in json.loads(response.read())["keys"]]
    assert kids == [stack[0].api.app.default_pool().signing_key.kid]
    # A pool this stack does not have: 404, not someone else's keys.
    assert call(f"{info['api_url']}/us-east-1_unknown/.well-known/jwks.json")[0] == 404


@pytest.mark.skipif(shutil.which("aws") is None, reason="the aws CLI is not installed")
def test_the_aws_cli_signs_up_and_confirms_at_the_local_endpoint(stack, info, tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_DEFAULT_REGION": info["region"]}
    common = ["--endpoint-url", info["cognito_endpoint_url"], "--client-id", info["user_client_id"],
              "--username", "carol@example.com", "--output", "json"]
    done = subprocess.run(["aws", "cognito-idp", "sign-up", *common, "--password", PASSWORD],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["UserConfirmed"] is False
    code = stack[0].api.app.identity.sent_codes["carol@example.com"]
    done = subprocess.run(["aws", "cognito-idp", "confirm-sign-up", *common, "--confirmation-code", code],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    done = subprocess.run(["aws", "cognito-idp", "sign-up", *common, "--password", PASSWORD],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "UsernameExistsException" in done.stderr
