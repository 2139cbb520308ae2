"""template.yaml's REST API served locally (werkzeug) over a moto server, with the real functions, and
tokens from the local `/oauth2/token` endpoint: what the conformance and hardening tests call."""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from tickerstream_local.api import ApiServer, LocalApi
from tickerstream_local.server import MotoServer
from tickerstream_local.stack import Deployment, deploy

# load_function() applies a function's environment to os.environ; the fixture puts these back.
_ENVIRONMENT_SNAPSHOT = ("AWS_ENDPOINT_URL",)


@dataclass
class LocalApiStack:
    deployment: Deployment
    server: ApiServer
    moto: MotoServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def app(self) -> LocalApi:
        return self.server.app

    def route_scopes(self, method: str, path: str) -> list[str]:
        [route] = [r for r in self.app.routes if (r.method, r.path) == (method.upper(), path)]
        return route.scopes

    def machine_client(self) -> tuple[str, str]:
        pool = self.app.default_pool()
        assert pool is not None
        client_id = pool.machine_client_id()
        assert client_id is not None
        return client_id, pool.clients[client_id]["ClientSecret"]

    def basic_auth(self, client_id: str | None = None, secret: str | None = None) -> str:
        real_id, real_secret = self.machine_client()
        pair = f"{client_id or real_id}:{real_secret if secret is None else secret}"
        return "Basic " + base64.b64encode(pair.encode()).decode()

    def token(self, *scopes: str) -> str:
        status, _, body = call(f"{self.url}/oauth2/token", "POST", {
            "Authorization": self.basic_auth(), "Content-Type": "application/x-www-form-urlencoded",
        }, urllib.parse.urlencode({"grant_type": "client_credentials", "scope": " ".join(scopes)}).encode())
        assert status == 200, body
        return json.loads(body)["access_token"]

    def gateway_responses(self) -> dict[str, Any]:
        """The template's GatewayResponses of the API the routes belong to (resolved)."""
        [api_id] = {route.api_id for route in self.app.routes}
        return self.deployment.properties(api_id)["GatewayResponses"]


def call(url: str, method: str = "GET", headers: dict[str, str] | None = None,
         data: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@contextmanager
def local_api_stack() -> Iterator[LocalApiStack]:
    saved = {name: os.environ.get(name) for name in _ENVIRONMENT_SNAPSHOT}
    moto = MotoServer(port=0, separate_process=True).start()
    server = None
    try:
        session = boto3.Session(region_name="us-east-1")
        deployment = deploy(session, endpoint_url=moto.endpoint_url, stack_name="apispec")
        server = ApiServer(LocalApi(deployment), port=0).start()
        yield LocalApiStack(deployment, server, moto)
    finally:
        if server is not None:
            server.stop()
        moto.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
