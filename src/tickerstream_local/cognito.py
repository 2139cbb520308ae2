"""Local Cognito pieces moto lacks: the `/oauth2/token` endpoint, triggers around sign-in, and the
REST API Cognito authorizer's token checks.

Every token the local stack hands out is an RS256 JWT signed with a key of the local pool's own,
generated when the stack is provisioned (SigningKey). moto signs its tokens with a private key it ships
in its package (moto/cognitoidp/resources/jwks-private.json), which anyone can read and forge tokens
with; so the local authorizer trusts only the pool's own key, and sign_in() re-signs what moto issues.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.algorithms import RSAAlgorithm

from tickerstream_local.functions import Handler
from tickerstream_local.handlers import function_for_arn, local_context, resolve_handler

UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


@dataclass(frozen=True)
class SigningKey:
    """One local user pool's token key: RS256, 2048 bits, made fresh for each local stack."""

    private_key: Any  # cryptography RSAPrivateKey
    kid: str

    @classmethod
    def generate(cls) -> SigningKey:
        from cryptography.hazmat.primitives.asymmetric import rsa

        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), uuid.uuid4().hex)

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})

    def public_jwk(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {"alg": "RS256", "e": jwk["e"], "kid": self.kid, "kty": "RSA", "n": jwk["n"], "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        """The pool's JWKS document, as Cognito serves it at /<pool_id>/.well-known/jwks.json."""
        return {"keys": [self.public_jwk()]}


def pool_signing_key(deployment: Any, pool_id: str) -> SigningKey:
    """The local stack's key for this pool (made at provisioning; made here for a deployment that was not)."""
    keys = deployment.signing_keys
    if pool_id not in keys:
        keys[pool_id] = SigningKey.generate()
    return keys[pool_id]


def issuer(region: str, pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


# ---------------------------------------------------------------------------------------------
# The pool as the template declares it


@dataclass
class PoolConfig:
    logical_id: str
    pool_id: str
    region: str
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)  # client id -> described client
    client_logical_ids: dict[str, str] = field(default_factory=dict)  # logical id -> client id
    triggers: dict[str, str] = field(default_factory=dict)  # PreAuthentication etc. -> function logical id
    token_trigger_version: str = "V1_0"
    signing_key: SigningKey = field(default_factory=SigningKey.generate, repr=False)
    # Where the local API serves this pool's discovery documents (`<api>/<pool_id>`); Cognito's own
    # issuer when no server serves them (a verifier following it would find nothing local otherwise).
    issuer_url: str | None = None

    @property
    def issuer(self) -> str:
        return self.issuer_url or issuer(self.region, self.pool_id)

    def machine_client_id(self) -> str | None:
        for client_id, client in self.clients.items():
            if "client_credentials" in client.get("AllowedOAuthFlows", []):
                return client_id
        return None

    def user_client_id(self) -> str | None:
        for client_id, client in self.clients.items():
            flows = client.get("ExplicitAuthFlows", [])
            if "ALLOW_USER_PASSWORD_AUTH" in flows or "USER_PASSWORD_AUTH" in flows:
                return client_id
        return None


def user_pools(deployment: Any) -> list[str]:
    return [lid for lid, r in deployment.template["Resources"].items() if r.get("Type") == "AWS::Cognito::UserPool"]


def pool_config(deployment: Any, logical_id: str) -> PoolConfig:
    resources = deployment.template["Resources"]
    pool_id = deployment.ctx.refs[logical_id]
    config = PoolConfig(logical_id, pool_id, deployment.ctx.region,
                        signing_key=pool_signing_key(deployment, pool_id))
    idp = deployment.client("cognito-idp")
    for lid, resource in resources.items():
        if resource.get("Type") != "AWS::Cognito::UserPoolClient" or lid not in deployment.ctx.refs:
            continue
        if deployment.properties(lid).get("UserPoolId") != pool_id:
            continue
        client_id = deployment.ctx.refs[lid]
        described = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
        # The template is the source of truth for settings moto may not keep.
        described = {**deployment.properties(lid), **described}
        config.clients[client_id] = described
        config.client_logical_ids[lid] = client_id
    lambda_config = deployment.properties(logical_id).get("LambdaConfig", {})
    for name, value in lambda_config.items():
        if name == "PreTokenGenerationConfig":
            config.triggers["PreTokenGeneration"] = function_for_arn(deployment, value["LambdaArn"])
            config.token_trigger_version = value.get("LambdaVersion", "V1_0")
        elif isinstance(value, str) and value.startswith("arn:aws:lambda"):
            config.triggers[name] = function_for_arn(deployment, value)
    return config


def _validity_seconds(client: dict[str, Any], kind: str, default: int = 3600) -> int:
    value = client.get(f"{kind}Validity")
    if value in (None, ""):
        return default
    unit = (client.get("TokenValidityUnits") or {}).get(kind, "hours" if kind != "RefreshToken" else "days")
    return int(value) * UNITS[unit]


# ---------------------------------------------------------------------------------------------
# OAuth2 token endpoint (client_credentials)


class OAuthError(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def client_credentials_token(
    pool: PoolConfig, form: dict[str, str], authorization: str | None, now: float | None = None
) -> dict[str, Any]:
    """What Cognito's /oauth2/token answers for grant_type=client_credentials (or raises OAuthError)."""
    now = time.time() if now is None else now
    credentials = _basic_credentials(authorization)
    if credentials is None and form.get("client_id"):
        credentials = (form["client_id"], form.get("client_secret", ""))
    if credentials is None:
        raise OAuthError(401, "invalid_client")
    client_id, secret = credentials
    client = pool.clients.get(client_id)
    if client is None or not client.get("ClientSecret") or client["ClientSecret"] != secret:
        raise OAuthError(401, "invalid_client")
    grant = form.get("grant_type")
    if grant != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type" if grant else "invalid_request")
    if "client_credentials" not in client.get("AllowedOAuthFlows", []) or not client.get(
        "AllowedOAuthFlowsUserPoolClient", True
    ):
        raise OAuthError(400, "unauthorized_client")
    allowed = list(client.get("AllowedOAuthScopes", []))
    requested = form.get("scope", "").split()
    if requested and any(scope not in allowed for scope in requested):
        raise OAuthError(400, "invalid_scope")
    scopes = requested or allowed
    if not scopes:
        raise OAuthError(400, "invalid_scope")
    expires_in = _validity_seconds(client, "AccessToken")
    claims = {
        "sub": client_id,
        "token_use": "access",
        "scope": " ".join(scopes),
        "auth_time": int(now),
        "iss": pool.issuer,
        "exp": int(now) + expires_in,
        "iat": int(now),
        "version": 2,
        "jti": str(uuid.uuid4()),
        "client_id": client_id,
    }
    token = pool.signing_key.sign(claims)
    return {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}


# ---------------------------------------------------------------------------------------------
# Sign-in through the pool, with the template's triggers run in-process


class TriggerError(RuntimeError):
    """Cognito's UserLambdaValidationException: a trigger refused the sign-in."""


def _trigger_event(pool: PoolConfig, source: str, username: str, client_id: str,
                   attributes: dict[str, str], request: dict[str, Any], version: str = "1") -> dict[str, Any]:
    return {
        "version": version,
        "triggerSource": source,
        "region": pool.region,
        "userPoolId": pool.pool_id,
        "userName": username,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": client_id},
        "request": {"userAttributes": attributes, **request},
        "response": {},
    }


def _run_trigger(deployment: Any, pool: PoolConfig, name: str, event: dict[str, Any],
                 handlers: dict[str, Handler] | None) -> dict[str, Any]:
    logical_id = pool.triggers[name]
    handler = resolve_handler(deployment, logical_id, handlers)
    try:
        return handler(event, local_context(deployment, logical_id)) or event
    except Exception as exc:  # noqa: BLE001 - Cognito turns any trigger error into this
        raise TriggerError(f"{name} failed with error {exc}.") from exc


def _resign(pool: PoolConfig, token: str, changes: dict[str, Any] | None = None, suppress: list[str] | None = None,
            scopes_add: list[str] | None = None, scopes_suppress: list[str] | None = None) -> str:
    """moto's token with the trigger's changes, signed with the pool's own key instead of moto's."""
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["iss"] = pool.issuer
    claims.update(changes or {})
    for name in suppress or []:
        claims.pop(name, None)
    if scopes_add or scopes_suppress:
        scopes = [s for s in claims.get("scope", "").split() if s not in (scopes_suppress or [])]
        scopes += [s for s in scopes_add or [] if s not in scopes]
        claims["scope"] = " ".join(scopes)
    return pool.signing_key.sign(claims)


def sign_in(
    deployment: Any,
    pool: PoolConfig,
    username: str,
    password: str,
    client_id: str | None = None,
    handlers: dict[str, Handler] | None = None,
) -> dict[str, Any]:
    """USER_PASSWORD_AUTH through moto, with PreAuthentication, PostAuthentication and
    PreTokenGeneration (V1 claims / V2 claims and scopes) invoked as Cognito would. Returns
    AuthenticationResult (AccessToken, IdToken, RefreshToken, ExpiresIn, TokenType)."""
    idp = deployment.client("cognito-idp")
    client_id = client_id or pool.user_client_id()
    if client_id is None:
        raise ValueError("the pool has no client that allows USER_PASSWORD_AUTH")
    try:
        user = idp.admin_get_user(UserPoolId=pool.pool_id, Username=username)
        attributes = {a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}
        canonical = user["Username"]
    except idp.exceptions.UserNotFoundException:
        attributes, canonical = {}, username
    if "PreAuthentication" in pool.triggers:
        _run_trigger(deployment, pool, "PreAuthentication",
                     _trigger_event(pool, "PreAuthentication_Authentication", canonical, client_id, attributes,
                                    {"validationData": {}, "userNotFound": not attributes}), handlers)
    result = idp.initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    if "AuthenticationResult" not in result:
        return result  # a challenge (NEW_PASSWORD_REQUIRED, MFA): passed through
    tokens = dict(result["AuthenticationResult"])
    # moto signed these with its published key: the local authorizer refuses that, so sign them again.
    tokens["IdToken"], tokens["AccessToken"] = _resign(pool, tokens["IdToken"]), _resign(pool, tokens["AccessToken"])
    if "PostAuthentication" in pool.triggers:
        _run_trigger(deployment, pool, "PostAuthentication",
                     _trigger_event(pool, "PostAuthentication_Authentication", canonical, client_id, attributes,
                                    {"newDeviceUsed": False}), handlers)
    if "PreTokenGeneration" in pool.triggers:
        groups = [g["GroupName"] for g in idp.admin_list_groups_for_user(
            UserPoolId=pool.pool_id, Username=canonical).get("Groups", [])]
        v2 = pool.token_trigger_version != "V1_0"
        access_scopes = jwt.decode(tokens["AccessToken"], options={"verify_signature": False}).get("scope", "")
        request: dict[str, Any] = {"groupConfiguration": {"groupsToOverride": groups, "iamRolesToOverride": [],
                                                          "preferredRole": None}}
        if v2:
            request["scopes"] = access_scopes.split()
        event = _run_trigger(deployment, pool, "PreTokenGeneration",
                             _trigger_event(pool, "TokenGeneration_Authentication", canonical, client_id,
                                            attributes, request, "2" if v2 else "1"), handlers)
        details = (event.get("response") or {}).get("claimsAndScopeOverrideDetails") or {}
        if v2 and details:
            id_part = details.get("idTokenGeneration") or {}
            access_part = details.get("accessTokenGeneration") or {}
            tokens["IdToken"] = _resign(pool, tokens["IdToken"], id_part.get("claimsToAddOrOverride") or {},
                                        id_part.get("claimsToSuppress") or [])
            tokens["AccessToken"] = _resign(
                pool, tokens["AccessToken"], access_part.get("claimsToAddOrOverride") or {},
                access_part.get("claimsToSuppress") or [], access_part.get("scopesToAdd"),
                access_part.get("scopesToSuppress"))
        elif not v2:
            override = (event.get("response") or {}).get("claimsOverrideDetails") or {}
            if override:
                tokens["IdToken"] = _resign(pool, tokens["IdToken"], override.get("claimsToAddOrOverride") or {},
                                            override.get("claimsToSuppress") or [])
    return tokens


# ---------------------------------------------------------------------------------------------
# The REST API Cognito authorizer


class Unauthorized(Exception):
    """The authorizer's refusal: API Gateway answers 401 (response type UNAUTHORIZED)."""

    def __init__(self, message: str = "Unauthorized", reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or message


class JwksCache:
    """The keys the local authorizer trusts: each pool's own (SigningKey), never moto's.

    moto serves its bundled public key at /<pool_id>/.well-known/jwks.json, and the private half ships
    with moto, so that document is deliberately not fetched. `endpoint_url` is accepted for callers that
    still pass it, and unused.
    """

    def __init__(self, endpoint_url: str | None = None) -> None:
        self.endpoint_url = endpoint_url

    def key(self, pool: PoolConfig, kid: str) -> Any:
        jwk = pool.signing_key.public_jwk()
        if kid != jwk["kid"]:
            raise Unauthorized(reason=f"unknown kid {kid!r}")
        return jwt.PyJWK(jwk, algorithm="RS256").key


def authorize(
    token_header: str | None,
    pool: PoolConfig,
    jwks: JwksCache,
    scopes: list[str] | None,
    now: float | None = None,
) -> dict[str, Any]:
    """Validate a token as a COGNITO_USER_POOLS authorizer does; returns its claims or raises Unauthorized.

    With method scopes, only access tokens carrying one of them pass; without, only ID tokens (access
    tokens have no `aud`) of a client of the pool pass.
    """
    if not token_header or not token_header.strip():
        raise Unauthorized(reason="no token")
    token = token_header.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise Unauthorized(reason="malformed token") from None
    if header.get("alg") != "RS256":
        raise Unauthorized(reason=f"alg {header.get('alg')!r} not accepted")
    try:
        key = jwks.key(pool, str(header.get("kid", "")))
        claims = jwt.decode(
            token, key, algorithms=["RS256"], issuer=pool.issuer,
            options={"require": ["exp", "iss", "token_use"], "verify_aud": False},
            leeway=0,
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The incoming token has expired", reason="expired") from None
    except jwt.InvalidIssuerError:
        raise Unauthorized(reason="wrong issuer") from None
    except (jwt.InvalidTokenError, TypeError) as exc:  # TypeError: pyjwt meeting an `iss` that is a list
        raise Unauthorized(reason=f"invalid token: {exc}") from None
    # Claims come from whoever signed the token: a list or an object where a string belongs is refused,
    # not looked up (a list is unhashable).
    token_use = claims.get("token_use")
    if scopes:
        if token_use != "access":
            raise Unauthorized(reason="method has scopes: an access token is required")
        if not _is_known_client(claims.get("client_id"), pool):
            raise Unauthorized(reason="unknown client")
        scope = claims.get("scope", "")
        if not isinstance(scope, str) or not set(scopes) & set(scope.split()):
            raise Unauthorized(reason="no matching scope")
    else:
        if token_use != "id":
            raise Unauthorized(reason="method has no scopes: an ID token is required")
        if not _is_known_client(claims.get("aud"), pool):
            raise Unauthorized(reason="unknown client")
    return claims


def _is_known_client(client_id: Any, pool: PoolConfig) -> bool:
    return isinstance(client_id, str) and client_id in pool.clients
