"""The board as the local REST API server serves it (werkzeug's test client, template.yaml on in-process
moto): the page and its files byte for byte, `/config.json` from the stack's details, security headers,
no path out of board/, the API's own routes untouched, and the local Cognito endpoint's CORS."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from tickerstream_local.board import BOARD_DIR, BoardSite, board_config, serve_board, template_sectors

INFO = {
    "api_url": "http://127.0.0.1:3999",
    "websocket_url": "ws://127.0.0.1:3998/Prod",
    "region": "us-east-1",
    "user_pool_id": "us-east-1_Board",
    "user_client_id": "client123",
    "cognito_endpoint_url": "http://127.0.0.1:3999/cognito-idp",
    "machine_client_secret": "must-not-leak",
    "aws_endpoint_url": "http://127.0.0.1:5999",
}
BOARD_FILES = sorted(p for p in BOARD_DIR.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def served():
    """A LocalApi on the template (in-process moto) with the board attached as the runner attaches it."""
    from moto import mock_aws
    import boto3

    from tickerstream_local.api import LocalApi
    from tickerstream_local.stack import deploy

    with mock_aws():
        deployment = deploy(boto3.Session(region_name="us-east-1"), stack_name="board-site")
        app = LocalApi(deployment)
        info = dict(INFO)
        serve_board(app, lambda: info, deployment)
        yield Client(app), app, deployment, info


def test_root_is_index_html_with_security_headers(served):
    client = served[0]
    answer = client.get("/")
    assert answer.status_code == 200
    assert answer.data == (BOARD_DIR / "index.html").read_bytes()
    assert answer.headers["Content-Type"].startswith("text/html")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    # The page may talk to the stack's API, WebSocket and Cognito origins, and nothing else.
    assert "connect-src 'self' http://127.0.0.1:3999 ws://127.0.0.1:3998;" in policy


@pytest.mark.parametrize("path", [p.relative_to(BOARD_DIR).as_posix() for p in BOARD_FILES])
def test_every_board_file_is_served_as_it_is_on_disk(served, path):
    answer = served[0].get(f"/{path}")
    assert answer.status_code == 200, path
    assert answer.data == (BOARD_DIR / path).read_bytes()
    if path.endswith((".js", ".mjs")):
        # Browsers refuse to run a module served as anything but JavaScript.
        assert answer.headers["Content-Type"].startswith("text/javascript")


def test_config_json_is_the_stacks_details_and_nothing_secret(served):
    client, _, deployment, info = served
    answer = client.get("/config.json")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    config = json.loads(answer.data)
    assert config == {
        "api_url": INFO["api_url"], "websocket_url": INFO["websocket_url"], "region": "us-east-1",
        "user_pool_id": INFO["user_pool_id"], "user_client_id": INFO["user_client_id"],
        "cognito_endpoint_url": INFO["cognito_endpoint_url"],
        "sectors": template_sectors(deployment),
    }
    assert config["sectors"] and all(isinstance(sector, str) and sector for sector in config["sectors"])
    assert b"must-not-leak" not in answer.data and b"5999" not in answer.data
    # Read at each request: what the running stack says now (e.g. a WebSocket URL set after start).
    info["websocket_url"] = "ws://127.0.0.1:4242/Prod"
    assert json.loads(client.get("/config.json").data)["websocket_url"] == "ws://127.0.0.1:4242/Prod"
    info["websocket_url"] = INFO["websocket_url"]


@pytest.mark.parametrize("value, sectors", [
    ("ENERGY,RETAIL", ["ENERGY", "RETAIL"]),
    (["ENERGY", " RETAIL "], ["ENERGY", "RETAIL"]),
    ("", []),
])
def test_sectors_come_from_the_template_parameter(value, sectors):
    from types import SimpleNamespace

    from tickerstream_local.template import parameter_defaults

    deployment = SimpleNamespace(ctx=SimpleNamespace(parameters={"LakeSectors": value}))
    assert template_sectors(deployment) == sectors
    default = parameter_defaults()["LakeSectors"]
    expected = default.split(",") if isinstance(default, str) else list(default)
    assert template_sectors(SimpleNamespace(ctx=SimpleNamespace(parameters={"LakeSectors": default}))) == expected


@pytest.mark.parametrize("path", [
    "/vendor/../../pyproject.toml",
    "/vendor/%2e%2e/%2e%2e/pyproject.toml",
    "/vendor/..%2f..%2fpyproject.toml",
    "/board.js/../../README.md",
    "/vendor/lightweight-charts/../../../src/tickerstream_local/board.py",
    "/vendor//etc/passwd",
    "/vendor/%00",
    "/vendor/lightweight-charts/NOPE.js",
])
def test_no_path_leaves_the_board_directory(served, path):
    answer = served[0].get(path)
    assert answer.status_code == 404, (path, answer.status_code)
    assert b"[project]" not in answer.data and b"root:" not in answer.data
    assert json.loads(answer.data)["error"]["code"] in ("not_found",)


SEGMENTS = st.sampled_from(["..", ".", "", "vendor", "lightweight-charts", "%2e%2e", "..%2f", "LICENSE",
                            "board.js", "pyproject.toml", "etc", "passwd", "index.html", "%2F", "\\.."])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(SEGMENTS, min_size=1, max_size=6))
def test_any_path_answers_a_board_file_or_not_board_at_all(served, segments):
    """Whatever the path, what comes back is a file of board/ byte for byte, config.json, or not the board's."""
    client, app = served[0], served[1]
    path = "/" + "/".join(segments)
    answer = client.get(path)
    if answer.status_code == 200 and "Content-Security-Policy" in answer.headers:
        allowed = {p.read_bytes() for p in BOARD_FILES}
        assert answer.data in allowed or path == "/config.json" or path == "/", path
    else:
        assert answer.status_code in (404, 403, 401), (path, answer.status_code)


def test_the_api_keeps_its_routes_and_methods(served):
    client = served[0]
    health = client.get("/health")
    assert health.status_code == 200 and json.loads(health.data) == {"status": "ok"}
    assert "Content-Security-Policy" not in health.headers
    # Only GET and HEAD are the board's: a POST to / is the API's "no such route".
    posted = client.post("/", data="{}")
    assert posted.status_code == 404 and json.loads(posted.data)["error"]["code"] == "not_found"
    assert client.head("/board.js").status_code == 200


def test_a_missing_board_directory_serves_only_config(tmp_path):
    site = BoardSite(lambda: board_config(INFO, ["X"]), root=tmp_path / "absent")
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    request = Request(EnvironBuilder(path="/board.js").get_environ())
    assert not site.handles(request)
    root = Request(EnvironBuilder(path="/").get_environ())
    assert site.handles(root) and site.respond(root).status_code == 404


def test_the_local_cognito_endpoint_answers_a_cross_origin_browser(served):
    """The deployed board signs in against Cognito from another origin; the local endpoint answers as it does."""
    client = served[0]
    preflight = client.options("/cognito-idp", headers={
        "Origin": "https://board.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-amz-target"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert preflight.headers["Access-Control-Allow-Methods"] == "POST"
    assert preflight.headers["Access-Control-Allow-Headers"] == "content-type,x-amz-target"
    refused = client.post("/cognito-idp", headers={
        "Origin": "https://board.example", "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth"},
        data=json.dumps({"ClientId": "nope", "AuthFlow": "USER_PASSWORD_AUTH"}))
    assert refused.status_code == 400 and refused.headers["Access-Control-Allow-Origin"] == "*"
    assert json.loads(refused.data)["__type"] == "ResourceNotFoundException"


def test_the_websocket_api_knows_every_sector_the_board_subscribes_to(served):
    """The sectors config.json names are the ones WsConnections accepts (both read LakeSectors)."""
    deployment = served[2]
    known = deployment.function_environment("WsConnections")["BOARD_SECTORS"].split(",")
    assert known == template_sectors(deployment)
