"""The local Cognito endpoint on the template's pool without a running stack (werkzeug's test client):
sign-up closed by default, Cognito's errors for bad requests, `tickerstream local --parameter-overrides`.

Kept apart from test_local_identity.py: its running stack points AWS_ENDPOINT_URL at its moto server,
which the `aws` fixture's in-process moto must not meet.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from unittest import mock

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Correct-Horse-9!battery"


def test_self_sign_up_is_closed_by_default(aws):
    """With AllowedEmailDomains empty (the default) the pool is admin-only: SignUp is refused outright."""
    from werkzeug.test import Client

    from tickerstream_local.api import LocalApi
    from tickerstream_local.stack import deploy

    deployment = deploy(aws, stack_name="closed-sign-up")
    app = LocalApi(deployment)
    client_id = app.default_pool().user_client_id()
    answer = Client(app).post("/cognito-idp/", headers={
        "X-Amz-Target": "AWSCognitoIdentityProviderService.SignUp", "Content-Type": "application/x-amz-json-1.1",
    }, data=json.dumps({"ClientId": client_id, "Username": "ada@example.com", "Password": PASSWORD}))
    assert answer.status_code == 400
    assert json.loads(answer.data) == {"__type": "NotAuthorizedException", "message": "SignUp is not permitted for this user pool"}
    assert app.identity.sent_codes == {}


def test_tickerstream_local_takes_template_parameters_and_checks_them():
    import argparse

    from tickerstream_local.local_command import add_local_commands

    parser = argparse.ArgumentParser(exit_on_error=False)
    add_local_commands(parser.add_subparsers())
    args = parser.parse_args(["local", "--parameter-overrides", "AllowedEmailDomains=example.com,example.org"])
    assert dict(args.parameter_overrides) == {"AllowedEmailDomains": "example.com,example.org"}
    for bad in ("AllowedEmailDomains=not a domain", "NoSuchParameter=1", "AllowedEmailDomains"):
        done = subprocess.run([str(REPO_ROOT / ".venv/bin/tickerstream"), "local", "--parameter-overrides", bad],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "--parameter-overrides" in done.stderr, done.stderr


@pytest.fixture
def open_pool(aws):
    """The template's pool with sign-up open to example.com, served by a LocalApi (no server needed)."""
    from werkzeug.test import Client

    from tickerstream_local.api import LocalApi
    from tickerstream_local.stack import deploy

    app = LocalApi(deploy(aws, stack_name="open-sign-up", parameter_overrides={"AllowedEmailDomains": "example.com"}))
    client = Client(app)
    client_id = app.default_pool().user_client_id()

    def send(action, body, **kwargs):
        headers = {"X-Amz-Target": f"AWSCognitoIdentityProviderService.{action}",
                   "Content-Type": "application/x-amz-json-1.1"}
        data = body if isinstance(body, str | bytes) else json.dumps({"ClientId": client_id, **body})
        answer = client.open("/cognito-idp/", method=kwargs.get("method", "POST"),
                             headers=kwargs.get("headers", headers), data=data)
        return answer.status_code, json.loads(answer.data)

    return send


@pytest.mark.parametrize("case, request_args, status, error", [
    ("no target", ("SignUp", "{}", {"headers": {"Content-Type": "application/x-amz-json-1.1"}}), 400, "InvalidAction"),
    ("GET", ("SignUp", "", {"method": "GET"}), 405, "InvalidAction"),
    ("not JSON", ("SignUp", "{not json", {}), 400, "SerializationException"),
    ("JSON not an object", ("SignUp", "[1, 2]", {}), 400, "SerializationException"),
    ("over 64 KiB", ("SignUp", json.dumps({"Username": "x" * 70_000}), {}), 400, "InvalidParameterException"),
    ("unserved action", ("AdminCreateUser", {"UserPoolId": "x"}, {}), 400, "InvalidAction"),
    ("no password", ("SignUp", {"Username": "ada@example.com"}, {}), 400, "InvalidParameterException"),
    ("unknown client", ("SignUp", json.dumps({"ClientId": "nope", "Username": "a@example.com", "Password": PASSWORD}),
                        {}), 400, "ResourceNotFoundException"),
    ("password not a string", ("InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH",
                                                "AuthParameters": {"USERNAME": "a@example.com", "PASSWORD": 1}}, {}),
     400, "InvalidParameterException"),
    ("never signed up", ("ConfirmSignUp", {"Username": "who@example.com", "ConfirmationCode": "123456"}, {}),
     400, "UserNotFoundException"),
])
def test_bad_requests_to_the_local_cognito_endpoint_get_cognitos_errors(open_pool, case, request_args, status, error):
    action, body, kwargs = request_args
    answer_status, answer = open_pool(action, body, **kwargs)
    assert (answer_status, answer["__type"]) == (status, error), answer
    assert answer["message"]


def test_sign_up_twice_and_a_weak_password_are_refused_as_cognito_refuses_them(open_pool):
    user = {"Username": "ada@example.com", "Password": PASSWORD}
    assert open_pool("SignUp", user)[0] == 200
    assert open_pool("SignUp", user) == (400, {"__type": "UsernameExistsException", "message": mock.ANY})
    status, answer = open_pool("SignUp", {"Username": "bob@example.com", "Password": "short"})
    assert (status, answer["__type"]) == (400, "InvalidPasswordException")

