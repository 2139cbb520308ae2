"""`tickerstream token`: client_credentials against a stubbed token endpoint, the cache, settings sources."""

from __future__ import annotations

import argparse
import base64
import json
import stat
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from tickerstream_cli import config
from tickerstream_cli import token as token_cli


class TokenEndpoint:
    """A Cognito-like /oauth2/token on loopback: records requests, answers from `reply`."""

    def __init__(self):
        self.requests: list[dict] = []
        self.reply = (200, {"access_token": "tok-1", "expires_in": 3600, "token_type": "Bearer"})
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                endpoint.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "form": urllib.parse.parse_qs(self.rfile.read(length).decode())})
                status, body = endpoint.reply
                raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/oauth2/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    stub = TokenEndpoint()
    yield stub
    stub.close()


SCOPES = ("tickerstream/quotes.read", "tickerstream/quotes.write")


def test_request_uses_basic_auth_and_a_form_body(endpoint, tmp_path):
    token = token_cli.get_token(endpoint.url, "client-1", "s3cret", SCOPES, directory=tmp_path)
    assert token == "tok-1"
    [request] = endpoint.requests
    scheme, _, encoded = request["headers"]["Authorization"].partition(" ")
    assert scheme == "Basic" and base64.b64decode(encoded).decode() == "client-1:s3cret"
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert request["form"] == {"grant_type": ["client_credentials"], "scope": [" ".join(SCOPES)]}
    assert request["path"] == "/oauth2/token"


def test_tokens_are_cached_per_url_client_and_scopes_until_shortly_before_expiry(endpoint, tmp_path):
    now = [1000.0]
    get = lambda scopes=SCOPES, client="client-1": token_cli.get_token(  # noqa: E731
        endpoint.url, client, "s3cret", scopes, directory=tmp_path, clock=lambda: now[0])
    assert get() == "tok-1"
    endpoint.reply = (200, {"access_token": "tok-2", "expires_in": 3600})
    assert get() == "tok-1" and len(endpoint.requests) == 1           # cached
    assert get(scopes=("tickerstream/quotes.read",)) == "tok-2"        # other scopes, other entry
    assert get(client="client-2") == "tok-2" and len(endpoint.requests) == 3
    now[0] += 3600 - token_cli.REFRESH_MARGIN_SECONDS - 1
    assert get() == "tok-1"                                            # still comfortably valid
    now[0] += 2
    endpoint.reply = (200, {"access_token": "tok-3", "expires_in": 3600})
    assert get() == "tok-3" and len(endpoint.requests) == 4            # refreshed before expiry
    files = list(tmp_path.iterdir())
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert all("s3cret" not in f.read_text() for f in files)


def test_a_corrupt_cache_file_is_ignored(endpoint, tmp_path):
    path = token_cli.cache_path(endpoint.url, "client-1", SCOPES, tmp_path)
    path.write_text("{not json")
    assert token_cli.get_token(endpoint.url, "client-1", "s3cret", SCOPES, directory=tmp_path) == "tok-1"


@pytest.mark.parametrize(("reply", "message"), [
    ((400, {"error": "invalid_client"}), "HTTP 400: invalid_client"),
    ((400, {"error": "invalid_scope"}), "invalid_scope"),
    ((500, "oops"), "HTTP 500"),
    ((200, "not json"), "no access_token"),
    ((200, {"token_type": "Bearer"}), "no access_token"),
])
def test_endpoint_errors_become_token_errors(endpoint, tmp_path, reply, message):
    endpoint.reply = reply
    with pytest.raises(token_cli.TokenError, match=message):
        token_cli.get_token(endpoint.url, "c", "s", SCOPES, directory=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing cached


def test_an_unreachable_endpoint_is_a_token_error(tmp_path):
    with pytest.raises(token_cli.TokenError, match="cannot reach"):
        token_cli.get_token("http://127.0.0.1:9/oauth2/token", "c", "s", SCOPES, directory=tmp_path)


def parse(argv):
    parser = argparse.ArgumentParser(prog="tickerstream")
    token_cli.add_token_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_the_command_reads_the_local_stack_file_and_prints_the_token(endpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(config, "LOCAL_STACK_FILE", tmp_path / ".tickerstream/local.json")
    monkeypatch.setenv("TICKERSTREAM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(token_cli.SECRET_ENV, raising=False)
    (tmp_path / ".tickerstream").mkdir()
    (tmp_path / ".tickerstream/local.json").write_text(json.dumps({
        "token_url": endpoint.url, "machine_client_id": "local-client", "machine_client_secret": "local-secret",
        "user_client_id": "u", "region": "us-east-1", "user_pool_id": "us-east-1_x", "aws_endpoint_url": "http://x"}))
    args = parse(["token", "--scope", "tickerstream/quotes.read"])
    assert args.run(args) == 0
    assert capsys.readouterr().out.strip() == "tok-1"
    [request] = endpoint.requests
    assert base64.b64decode(request["headers"]["Authorization"][6:]).decode() == "local-client:local-secret"

    monkeypatch.setenv(token_cli.SECRET_ENV, "from-env")  # the environment wins over the file
    args = parse(["token", "--no-cache", "--bearer"])
    assert args.run(args) == 0 and capsys.readouterr().out.startswith("Bearer tok-1")
    assert base64.b64decode(endpoint.requests[-1]["headers"]["Authorization"][6:]).decode() == "local-client:from-env"


def test_the_command_explains_missing_settings(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(config, "LOCAL_STACK_FILE", tmp_path / "absent.json")
    args = parse(["token"])
    assert args.run(args) == 1
    assert "--stack-name" in capsys.readouterr().err


def test_settings_from_stack_outputs_and_the_secret_from_describe_user_pool_client(deployment):
    cloudformation = boto3.client("cloudformation")
    pool_id, client_id = deployment.ctx.refs["UserPool"], deployment.ctx.refs["MachineClient"]
    outputs_template = {"Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}, "Outputs": {
        "TokenUrl": {"Value": "https://tickerstream-1-dev.auth.us-east-1.amazoncognito.com/oauth2/token"},
        "MachineClientId": {"Value": client_id}, "UserClientId": {"Value": "user-client"},
        "UserPoolId": {"Value": pool_id}}}
    cloudformation.create_stack(StackName="ts", TemplateBody=json.dumps(outputs_template))
    settings = token_cli.stack_settings("ts", "us-east-1")
    assert settings.token_url.endswith("/oauth2/token") and settings.machine_client_id == client_id
    assert settings.user_pool_id == pool_id and settings.user_client_id == "user-client"
    secret = token_cli.client_secret(settings, env={})
    assert secret == deployment.ctx.attributes["MachineClient"]["ClientSecret"]
    with pytest.raises(token_cli.TokenError, match="cannot read stack"):
        token_cli.stack_settings("missing", "us-east-1")


def test_sign_in_returns_the_users_tokens(deployment):
    from tickerstream_cli.signin import sign_in

    cognito = boto3.client("cognito-idp")
    pool_id, client_id = deployment.ctx.refs["UserPool"], deployment.ctx.refs["UserClient"]
    cognito.admin_create_user(UserPoolId=pool_id, Username="analyst@example.com",
                              UserAttributes=[{"Name": "email", "Value": "analyst@example.com"}], MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool_id, Username="analyst@example.com",
                                    Password="Correct-Horse-9!", Permanent=True)
    result = sign_in(cognito, client_id, "analyst@example.com", "Correct-Horse-9!")
    assert result["AccessToken"].count(".") == 2 and result["IdToken"]
    with pytest.raises(token_cli.TokenError, match="NotAuthorizedException"):
        sign_in(cognito, client_id, "analyst@example.com", "wrong")
