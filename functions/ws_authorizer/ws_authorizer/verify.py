"""Verify a Cognito access token as the REST API's Cognito authorizer with scopes does: RS256
signature against the pool's JWKS, expiry, issuer, token_use "access", a client of the pool, and the
required scope.

The JWKS is fetched once and kept (a PyJWKClient at module level, so warm invocations reuse it); an
unknown `kid` refetches it once, which is how a rotated pool key is picked up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt


class Refused(Exception):
    """The token is missing or not valid: API Gateway answers 401 (the authorizer raises "Unauthorized")."""


class Forbidden(Exception):
    """The token is valid but lacks the scope: a Deny policy (API Gateway answers 403)."""


class KeysUnavailable(RuntimeError):
    """The pool's JWKS could not be fetched: a server-side failure, not the caller's (API Gateway answers 500)."""


@dataclass(frozen=True)
class Identity:
    sub: str
    client_id: str
    scope: str


@dataclass
class TokenVerifier:
    issuer: str
    client_ids: frozenset[str]
    required_scope: str
    jwks: jwt.PyJWKClient

    @classmethod
    def create(cls, issuer: str, client_ids: frozenset[str], required_scope: str, timeout: float = 3.0) -> TokenVerifier:
        issuer = issuer.rstrip("/")
        jwks = jwt.PyJWKClient(f"{issuer}/.well-known/jwks.json", cache_jwk_set=True, lifespan=3600,
                               cache_keys=True, timeout=timeout)
        return cls(issuer, client_ids, required_scope, jwks)

    def verify(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Refused("malformed token") from None
        if header.get("alg") != "RS256":
            raise Refused(f"alg {header.get('alg')!r} not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Refused("token header has no kid")
        key = self._key(kid)
        try:
            claims = jwt.decode(
                token, key, algorithms=["RS256"], issuer=self.issuer, leeway=0,
                options={"require": ["exp", "iss", "token_use"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise Refused("token expired") from None
        except jwt.InvalidIssuerError:
            raise Refused("wrong issuer") from None
        except (jwt.InvalidTokenError, TypeError) as exc:  # TypeError: pyjwt meeting an `iss` that is a list
            raise Refused(f"invalid token: {exc}") from None
        return self._admit(claims)

    def _key(self, kid: str) -> Any:
        try:
            return self.jwks.get_signing_key(kid).key
        except jwt.PyJWKClientConnectionError as exc:
            raise KeysUnavailable(f"could not fetch the pool's JWKS: {exc}") from None
        except jwt.PyJWKClientError:
            raise Refused(f"unknown kid {kid!r}") from None

    def _admit(self, claims: dict[str, Any]) -> Identity:
        # Claims come from whoever signed the token: a list or an object where a string belongs is refused.
        if claims.get("token_use") != "access":
            raise Refused("an access token is required")
        client_id = claims.get("client_id")
        if not isinstance(client_id, str) or client_id not in self.client_ids:
            raise Refused("unknown client")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Refused("token has no subject")
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise Refused("scope claim is not a string")
        if self.required_scope not in scope.split():
            raise Forbidden(f"token lacks scope {self.required_scope}")
        return Identity(sub=sub, client_id=client_id, scope=scope)
