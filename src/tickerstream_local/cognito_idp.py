"""The local stack's Cognito as people meet it: the IdP JSON protocol's SignUp, ConfirmSignUp and
InitiateAuth (USER_PASSWORD_AUTH) at `<api>/cognito-idp`, and each pool's discovery documents at
`<api>/<pool_id>/.well-known/{jwks.json,openid-configuration}` (the issuer its tokens name).

moto stores the users; the template's triggers run here as Cognito runs them (PreSignUp on sign-up;
PreAuthentication, PostAuthentication, PreTokenGeneration on sign-in, see cognito.sign_in) and tokens
are signed with the stack's own key. boto3's cognito-idp client and the aws CLI work pointed at
`<api>/cognito-idp` (local.json's `cognito_endpoint_url`). There is no mail locally: the confirmation
code Cognito would e-mail is logged (and kept in `sent_codes` for tests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from tickerstream_local.cognito import PoolConfig, TriggerError, _run_trigger, _trigger_event, sign_in
from tickerstream_local.functions import Handler

log = logging.getLogger("tickerstream.local.cognito")
ENDPOINT_PATH = "/cognito-idp"
TARGET_PREFIX = "AWSCognitoIdentityProviderService."
AMZ_JSON = "application/x-amz-json-1.1"
MAX_REQUEST_BYTES = 64 * 1024
# Cognito's IdP endpoint answers browsers from any origin (web apps sign in with it directly): a preflight
# echoes the requested headers, and answers expose the error headers SDKs read.
CORS_HEADERS = {"Access-Control-Allow-Origin": "*",
                "Access-Control-Expose-Headers": "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date"}
PREFLIGHT_MAX_AGE = "172800"
DISCOVERY = re.compile(r"^/(?P<pool>[\w-]+_[0-9A-Za-z]+)/\.well-known/(?P<document>jwks\.json|openid-configuration)$")


class IdpError(Exception):
    """A Cognito error as the JSON protocol answers it: `__type` and `message`, HTTP 400."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _mask(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain[:1]}***" if domain else "***"


class LocalIdentity:
    """Serves the identity requests of a LocalApi; `pools()` gives the pools (with their issuers)."""

    def __init__(self, deployment: Any, pools: Callable[[], list[PoolConfig]],
                 handlers: dict[str, Handler] | None = None) -> None:
        self.deployment = deployment
        self.pools = pools
        self.handlers = handlers
        self.sent_codes: dict[str, str] = {}  # lower-cased user name -> the code Cognito would e-mail

    def handles(self, path: str) -> bool:
        return path.rstrip("/") == ENDPOINT_PATH or DISCOVERY.match(path) is not None

    def respond(self, request: Request, token_url: str) -> Response:
        found = DISCOVERY.match(request.path)
        if found:
            return self.discovery(found["pool"], found["document"], token_url)
        if request.method == "OPTIONS":
            return Response("", status=200, headers={
                **CORS_HEADERS, "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers")
                or "content-type,x-amz-target,x-amz-user-agent",
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE})
        try:
            action, body = self._read(request)
            handler = {"SignUp": self.sign_up, "ConfirmSignUp": self.confirm_sign_up,
                       "InitiateAuth": self.initiate_auth}.get(action)
            if handler is None:
                raise IdpError("InvalidAction", f"the local Cognito endpoint serves SignUp, ConfirmSignUp and "
                               f"InitiateAuth, not {action!r}; use the local AWS endpoint (moto) for the rest")
            answer = handler(body)
        except IdpError as error:
            return Response(json.dumps({"__type": error.code, "message": error.message}), status=error.status,
                            headers={"Content-Type": AMZ_JSON, "x-amzn-ErrorType": error.code, **CORS_HEADERS})
        return Response(json.dumps(answer), status=200, headers={"Content-Type": AMZ_JSON, **CORS_HEADERS})

    # -- protocol ------------------------------------------------------------------------------

    @staticmethod
    def _read(request: Request) -> tuple[str, dict[str, Any]]:
        if request.method != "POST":
            raise IdpError("InvalidAction", "the Cognito IdP protocol is POST only", 405)
        target = request.headers.get("X-Amz-Target", "")
        if not target.startswith(TARGET_PREFIX):
            raise IdpError("InvalidAction", "missing X-Amz-Target: AWSCognitoIdentityProviderService.<Action>")
        if (request.content_length or 0) > MAX_REQUEST_BYTES:
            raise IdpError("InvalidParameterException", "request too large")
        try:
            body = json.loads(request.get_data(as_text=True) or "{}")
        except ValueError:
            raise IdpError("SerializationException", "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise IdpError("SerializationException", "the request body is not a JSON object")
        return target[len(TARGET_PREFIX):], body

    def _client(self, body: dict[str, Any]) -> tuple[PoolConfig, str, dict[str, Any]]:
        client_id = body.get("ClientId")
        for pool in self.pools():
            if isinstance(client_id, str) and client_id in pool.clients:
                return pool, client_id, pool.clients[client_id]
        raise IdpError("ResourceNotFoundException", f"User pool client {client_id} does not exist.")

    @staticmethod
    def _check_secret_hash(client: dict[str, Any], client_id: str, username: str, given: Any) -> None:
        secret = client.get("ClientSecret")
        if not secret:
            return
        expected = base64.b64encode(hmac.new(secret.encode(), (username + client_id).encode(),
                                             hashlib.sha256).digest()).decode()
        if not isinstance(given, str) or not hmac.compare_digest(given, expected):
            raise IdpError("NotAuthorizedException",
                           f"Client {client_id} is configured with secret but SECRET_HASH was not received")

    def _moto(self, call: Callable[[], Any]) -> Any:
        """A call to moto's pool; its Cognito errors are answered as they are."""
        from botocore.exceptions import ClientError

        try:
            return call()
        except ClientError as error:
            details = error.response.get("Error", {})
            raise IdpError(details.get("Code", "InternalErrorException"), details.get("Message", str(error))) from None

    # -- actions -------------------------------------------------------------------------------

    def sign_up(self, body: dict[str, Any]) -> dict[str, Any]:
        pool, client_id, client = self._client(body)
        username, password = body.get("Username"), body.get("Password")
        if not isinstance(username, str) or not username or not isinstance(password, str):
            raise IdpError("InvalidParameterException", "Username and Password are required")
        self._check_secret_hash(client, client_id, username, body.get("SecretHash"))
        pool_props = self.deployment.properties(pool.logical_id)
        if _truthy((pool_props.get("AdminCreateUserConfig") or {}).get("AllowAdminCreateUserOnly")):
            raise IdpError("NotAuthorizedException", "SignUp is not permitted for this user pool")
        attributes = {a.get("Name"): a.get("Value") for a in body.get("UserAttributes") or []
                      if isinstance(a, dict)}
        if "email" in (pool_props.get("UsernameAttributes") or []):
            attributes.setdefault("email", username)
        if "PreSignUp" in pool.triggers:
            request = {"validationData": {a["Name"]: a["Value"] for a in body.get("ValidationData") or []
                                          if isinstance(a, dict) and "Name" in a},
                       "clientMetadata": body.get("ClientMetadata") or {}}
            event = _trigger_event(pool, "PreSignUp_SignUp", username, client_id, dict(attributes), request)
            try:
                event = _run_trigger(self.deployment, pool, "PreSignUp", event, self.handlers)
            except TriggerError as refusal:
                raise IdpError("UserLambdaValidationException", str(refusal)) from None
            response = event.get("response") or {}
        else:
            response = {}
        idp = self.deployment.client("cognito-idp")
        created = self._moto(lambda: idp.sign_up(
            ClientId=client_id, Username=username, Password=password,
            UserAttributes=[{"Name": k, "Value": v} for k, v in attributes.items()]))
        answer: dict[str, Any] = {"UserConfirmed": False, "UserSub": created["UserSub"]}
        if response.get("autoConfirmUser"):
            self._moto(lambda: idp.admin_confirm_sign_up(UserPoolId=pool.pool_id, Username=username))
            answer["UserConfirmed"] = True
            return answer
        code = f"{secrets.randbelow(10**6):06d}"
        self.sent_codes[username.lower()] = code
        log.warning("confirmation code for %s: %s (Cognito would e-mail it; the local stack has no mail)",
                    username, code)
        answer["CodeDeliveryDetails"] = {"Destination": _mask(attributes.get("email") or username),
                                         "DeliveryMedium": "EMAIL", "AttributeName": "email"}
        return answer

    def confirm_sign_up(self, body: dict[str, Any]) -> dict[str, Any]:
        pool, client_id, client = self._client(body)
        username, code = body.get("Username"), body.get("ConfirmationCode")
        if not isinstance(username, str) or not isinstance(code, str):
            raise IdpError("InvalidParameterException", "Username and ConfirmationCode are required")
        self._check_secret_hash(client, client_id, username, body.get("SecretHash"))
        idp = self.deployment.client("cognito-idp")
        expected = self.sent_codes.get(username.lower())
        if expected is None:
            user = self._moto(lambda: idp.admin_get_user(UserPoolId=pool.pool_id, Username=username))
            raise IdpError("NotAuthorizedException",
                           f"User cannot be confirmed. Current status is {user.get('UserStatus')}")
        if not hmac.compare_digest(code, expected):
            raise IdpError("CodeMismatchException", "Invalid verification code provided, please try again.")
        self._moto(lambda: idp.admin_confirm_sign_up(UserPoolId=pool.pool_id, Username=username))
        self._moto(lambda: idp.admin_update_user_attributes(
            UserPoolId=pool.pool_id, Username=username, UserAttributes=[{"Name": "email_verified", "Value": "true"}]))
        del self.sent_codes[username.lower()]
        return {}

    def initiate_auth(self, body: dict[str, Any]) -> dict[str, Any]:
        pool, client_id, client = self._client(body)
        flow = body.get("AuthFlow")
        flows = client.get("ExplicitAuthFlows") or []
        if flow != "USER_PASSWORD_AUTH":
            raise IdpError("InvalidParameterException",
                           f"the local stack serves AuthFlow USER_PASSWORD_AUTH only, not {flow!r}")
        if "ALLOW_USER_PASSWORD_AUTH" not in flows and "USER_PASSWORD_AUTH" not in flows:
            raise IdpError("InvalidParameterException", "USER_PASSWORD_AUTH flow not enabled for this client")
        parameters = body.get("AuthParameters") or {}
        username, password = parameters.get("USERNAME"), parameters.get("PASSWORD")
        if not isinstance(username, str) or not isinstance(password, str):
            raise IdpError("InvalidParameterException", "USERNAME and PASSWORD are required")
        self._check_secret_hash(client, client_id, username, parameters.get("SECRET_HASH"))
        try:
            result = self._moto(lambda: sign_in(self.deployment, pool, username, password, client_id, self.handlers))
        except TriggerError as refusal:
            raise IdpError("UserLambdaValidationException", str(refusal)) from None
        if "AccessToken" not in result:
            raise IdpError("InvalidParameterException", f"sign-in needs the {result.get('ChallengeName')} "
                           "challenge, which the local Cognito endpoint does not answer")
        return {"AuthenticationResult": result, "ChallengeParameters": {}}

    # -- discovery -----------------------------------------------------------------------------

    def discovery(self, pool_id: str, document: str, token_url: str) -> Response:
        pool = next((p for p in self.pools() if p.pool_id == pool_id), None)
        if pool is None:
            return Response(json.dumps({"message": f"no user pool {pool_id} in this stack"}), status=404,
                            headers={"Content-Type": "application/json"})
        if document == "jwks.json":
            body: dict[str, Any] = pool.signing_key.jwks()
        else:
            body = {
                "issuer": pool.issuer,
                "jwks_uri": f"{pool.issuer}/.well-known/jwks.json",
                "token_endpoint": token_url,
                "grant_types_supported": ["client_credentials"],
                "response_types_supported": ["token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "scopes_supported": sorted({s for c in pool.clients.values() for s in c.get("AllowedOAuthScopes") or []}),
            }
        return Response(json.dumps(body), status=200, headers={"Content-Type": "application/json"})
