"""`tickerstream token`: a client_credentials access token from the user pool's domain, cached.

    TOKEN=$(tickerstream token --stack-name tickerstream)           # settings from the stack's outputs
    TOKEN=$(tickerstream token)                                     # settings from .tickerstream/local.json
    TOKEN=$(tickerstream token --token-url https://…/oauth2/token --client-id … )   # explicit
    curl -H "Authorization: $TOKEN" "$API/quotes/AAPL"

The client secret comes from $TICKERSTREAM_CLIENT_SECRET, the local stack file, or DescribeUserPoolClient
(needs the pool id and cognito-idp:DescribeUserPoolClient). Tokens are cached per token URL + client id +
scopes in ~/.cache/tickerstream/ (0600) and reused until shortly before they expire.
`tickerstream sign-in` (signin.py) is the same for people: e-mail + password -> the user's access token.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tickerstream_cli import config
from tickerstream_cli.config import ConfigError, local_stack, stack_outputs

SECRET_ENV = "TICKERSTREAM_CLIENT_SECRET"
DEFAULT_SCOPES = ("tickerstream/quotes.read", "tickerstream/quotes.write")
# A token this close to expiry is not handed out: a request sent with it could arrive after it expired.
REFRESH_MARGIN_SECONDS = 60
HTTP_TIMEOUT_SECONDS = 10


class TokenError(RuntimeError):
    """The token could not be obtained; the message says why and what to check."""


@dataclass
class Settings:
    token_url: str | None = None
    machine_client_id: str | None = None
    machine_client_secret: str | None = None
    user_client_id: str | None = None
    user_pool_id: str | None = None
    region: str | None = None
    aws_endpoint_url: str | None = None
    # The local stack's Cognito endpoint (sign-up, sign-in with its triggers and its signing key).
    cognito_endpoint_url: str | None = None


# -- where settings come from -------------------------------------------------------------------


def local_settings(path: Path | None = None) -> Settings | None:
    """The local stack's file (written by `tickerstream local …`), if there is one."""
    data = local_stack(path)
    if data is None:
        return None
    return Settings(**{key: data.get(key) for key in Settings.__dataclass_fields__})


def stack_settings(stack_name: str, region: str | None = None, endpoint_url: str | None = None,
                   cloudformation: Any = None) -> Settings:
    """Settings from a deployed stack's outputs (TokenUrl, MachineClientId, UserClientId, UserPoolId)."""
    if cloudformation is None:
        cloudformation = config.aws_session(region, endpoint_url).client("cloudformation", endpoint_url=endpoint_url)
    try:
        outputs = stack_outputs(stack_name, client=cloudformation)
    except ConfigError as exc:
        raise TokenError(str(exc)) from None
    return Settings(
        token_url=outputs.get("TokenUrl"),
        machine_client_id=outputs.get("MachineClientId"),
        user_client_id=outputs.get("UserClientId"),
        user_pool_id=outputs.get("UserPoolId"),
        region=region or cloudformation.meta.region_name,
        aws_endpoint_url=endpoint_url,
    )


def resolve_settings(args: argparse.Namespace, local_file: Path | None = None) -> Settings:
    """Explicit options win; then the stack's outputs (--stack-name) or else the local stack file."""
    if getattr(args, "stack_name", None):
        base = stack_settings(args.stack_name, args.region, args.endpoint_url)
    else:
        base = local_settings(local_file) or Settings()
    for option, field in (("token_url", "token_url"), ("client_id", "machine_client_id"),
                          ("user_pool_id", "user_pool_id"), ("region", "region"),
                          ("endpoint_url", "aws_endpoint_url")):
        value = getattr(args, option, None)
        if value:
            setattr(base, field, value)
    return base


def client_secret(settings: Settings, env: dict[str, str] | None = None, cognito: Any = None) -> str:
    """The machine client's secret: $TICKERSTREAM_CLIENT_SECRET, the local file, or DescribeUserPoolClient."""
    env = os.environ if env is None else env
    if env.get(SECRET_ENV):
        return env[SECRET_ENV]
    if settings.machine_client_secret:
        return settings.machine_client_secret
    if not (settings.user_pool_id and settings.machine_client_id):
        raise TokenError(f"no client secret: set {SECRET_ENV}, or give --user-pool-id/--stack-name to read it")
    if cognito is None:
        session = config.aws_session(settings.region, settings.aws_endpoint_url)
        cognito = session.client("cognito-idp", endpoint_url=settings.aws_endpoint_url)
    try:
        client = cognito.describe_user_pool_client(UserPoolId=settings.user_pool_id,
                                                   ClientId=settings.machine_client_id)["UserPoolClient"]
    except Exception as exc:  # noqa: BLE001
        raise TokenError(f"cannot read the client secret with DescribeUserPoolClient: {exc}") from None
    if not client.get("ClientSecret"):
        raise TokenError(f"client {settings.machine_client_id} has no secret (is it the machine client?)")
    return client["ClientSecret"]


# -- the cache ------------------------------------------------------------------------------------


def cache_dir() -> Path:
    if os.environ.get("TICKERSTREAM_CACHE_DIR"):
        return Path(os.environ["TICKERSTREAM_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "tickerstream"


def cache_path(token_url: str, client_id: str, scopes: tuple[str, ...], directory: Path | None = None) -> Path:
    key = "\n".join([token_url, client_id, " ".join(sorted(scopes))])
    return (directory or cache_dir()) / f"token-{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def read_cached(path: Path, now: float) -> str | None:
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("access_token"), str):
        return None
    if float(entry.get("expires_at", 0)) - REFRESH_MARGIN_SECONDS <= now:
        return None
    return entry["access_token"]


def write_cached(path: Path, token: str, expires_at: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"access_token": token, "expires_at": expires_at}, handle)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


# -- the token endpoint ---------------------------------------------------------------------------


def request_token(token_url: str, client_id: str, secret: str, scopes: tuple[str, ...],
                  opener: Callable[..., Any] = urllib.request.urlopen) -> tuple[str, int]:
    """POST grant_type=client_credentials with HTTP Basic client auth; return (access_token, expires_in)."""
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    form = {"grant_type": "client_credentials"}
    if scopes:
        form["scope"] = " ".join(scopes)
    request = urllib.request.Request(
        token_url,
        data=urllib.parse.urlencode(form).encode(),
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
        method="POST",
    )
    try:
        with opener(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        try:
            error = json.loads(detail)
            detail = error.get("error_description") or error.get("error") or detail
        except ValueError:
            pass
        hint = " (check the client id and secret)" if exc.code in (400, 401) and "client" in detail else ""
        raise TokenError(f"token endpoint refused the request: HTTP {exc.code}: {detail}{hint}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TokenError(f"cannot reach the token endpoint {token_url}: {reason}") from None
    try:
        payload = json.loads(raw)
        return str(payload["access_token"]), int(payload.get("expires_in", 3600))
    except (ValueError, KeyError, TypeError):
        raise TokenError("the token endpoint's answer has no access_token") from None


def get_token(token_url: str, client_id: str, secret: str, scopes: tuple[str, ...] = DEFAULT_SCOPES, *,
              use_cache: bool = True, directory: Path | None = None, clock: Callable[[], float] = time.time,
              opener: Callable[..., Any] = urllib.request.urlopen) -> str:
    path = cache_path(token_url, client_id, scopes, directory)
    now = clock()
    if use_cache:
        cached = read_cached(path, now)
        if cached:
            return cached
    token, expires_in = request_token(token_url, client_id, secret, scopes, opener)
    if use_cache:
        write_cached(path, token, now + expires_in)
    return token


# -- the commands ---------------------------------------------------------------------------------


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack-name", help="read the settings from this CloudFormation stack's outputs")
    parser.add_argument("--region", help="AWS region of the stack / user pool")
    parser.add_argument("--endpoint-url", help="AWS endpoint (e.g. the local moto server)")
    parser.add_argument("--user-pool-id", help="user pool id (default: from the stack or local file)")


def _token_command(args: argparse.Namespace) -> int:
    try:
        settings = resolve_settings(args)
        if not settings.token_url or not settings.machine_client_id:
            raise TokenError("no token URL / client id: give --stack-name, or --token-url and --client-id, "
                             f"or start the local stack (it writes {config.local_stack_file()})")
        secret = client_secret(settings)
        scopes = tuple(args.scope) if args.scope else DEFAULT_SCOPES
        token = get_token(settings.token_url, settings.machine_client_id, secret, scopes, use_cache=not args.no_cache)
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Bearer {token}" if args.bearer else token)
    return 0


def add_token_commands(subparsers: Any) -> None:
    """Register `token` on the tickerstream CLI's subparsers."""
    token = subparsers.add_parser("token", help="print a client_credentials access token (cached)",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_settings_options(token)
    token.add_argument("--token-url", help="https://<domain>.auth.<region>.amazoncognito.com/oauth2/token")
    token.add_argument("--client-id", help="machine client id")
    token.add_argument("--scope", action="append",
                       help=f"scope to request (repeatable; default: {' '.join(DEFAULT_SCOPES)})")
    token.add_argument("--no-cache", action="store_true", help="always ask the token endpoint")
    token.add_argument("--bearer", action="store_true", help='print "Bearer <token>"')
    token.set_defaults(run=_token_command, func=_token_command)
