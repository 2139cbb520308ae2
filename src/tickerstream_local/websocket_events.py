"""The events API Gateway sends a WebSocket API's functions (REQUEST authorizer, CONNECT, MESSAGE,
DISCONNECT) and how it reads a Lambda authorizer's answer (an IAM policy plus context)."""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import json
import secrets
import string
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

_ID_ALPHABET = string.ascii_letters + string.digits


def new_connection_id() -> str:
    """Shaped like API Gateway's (e.g. `L0SM9cOFvHcCIhw=`), without '/' or '+' so it sits in a URL path as is."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(14)) + "="


def request_time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


@dataclass
class ConnectionInfo:
    """What API Gateway knows about one connection (GetConnection's answer, the events' requestContext)."""

    connection_id: str
    api_id: str
    stage: str
    domain_name: str
    source_ip: str
    user_agent: str | None
    connected_at: float = field(default_factory=time.time)
    last_active_at: float = field(default_factory=time.time)
    authorizer: dict[str, Any] | None = None  # the authorizer's context + principalId, for every route

    def request_context(self, route_key: str, event_type: str, **extra: Any) -> dict[str, Any]:
        now = time.time()
        request_id = str(uuid.uuid4())
        context: dict[str, Any] = {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id.replace("-", "")[:16] + "=",
            "requestTime": request_time(now),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": int(self.connected_at * 1000),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": self.source_ip, "userAgent": self.user_agent},
            "requestId": request_id,
            "domainName": self.domain_name,
            "connectionId": self.connection_id,
            "apiId": self.api_id,
        }
        if self.authorizer is not None:
            context["authorizer"] = dict(self.authorizer)
        context.update(extra)
        return context

    def management_view(self) -> dict[str, Any]:
        def iso(epoch: float) -> str:
            return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

        return {"connectedAt": iso(self.connected_at), "lastActiveAt": iso(self.last_active_at),
                "identity": {"sourceIp": self.source_ip, "userAgent": self.user_agent}}


def header_maps(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
        single[name] = ",".join(multi[name])
    return single, multi


def query_maps(query: dict[str, list[str]]) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    if not query:
        return None, None
    return {k: v[-1] for k, v in query.items()}, dict(query)


def method_arn(region: str, account_id: str, api_id: str, stage: str, route_key: str) -> str:
    return f"arn:aws:execute-api:{region}:{account_id}:{api_id}/{stage}/{route_key}"


def authorizer_event(info: ConnectionInfo, arn: str, headers: list[tuple[str, str]],
                     query: dict[str, list[str]]) -> dict[str, Any]:
    single, multi = header_maps(headers)
    query_single, query_multi = query_maps(query)
    event: dict[str, Any] = {
        "type": "REQUEST",
        "methodArn": arn,
        "headers": single,
        "multiValueHeaders": multi,
        "stageVariables": {},
        "requestContext": info.request_context("$connect", "CONNECT"),
    }
    event["requestContext"].pop("authorizer", None)
    if query_single:
        event["queryStringParameters"], event["multiValueQueryStringParameters"] = query_single, query_multi
    return event


def connect_event(info: ConnectionInfo, headers: list[tuple[str, str]], query: dict[str, list[str]]) -> dict[str, Any]:
    single, multi = header_maps(headers)
    query_single, query_multi = query_maps(query)
    event: dict[str, Any] = {"headers": single, "multiValueHeaders": multi,
                             "requestContext": info.request_context("$connect", "CONNECT"), "isBase64Encoded": False}
    if query_single:
        event["queryStringParameters"], event["multiValueQueryStringParameters"] = query_single, query_multi
    return event


def message_event(info: ConnectionInfo, route_key: str, data: str | bytes) -> dict[str, Any]:
    context = info.request_context(route_key, "MESSAGE", messageId=new_connection_id())
    if isinstance(data, bytes):
        return {"requestContext": context, "body": base64.b64encode(data).decode(), "isBase64Encoded": True}
    return {"requestContext": context, "body": data, "isBase64Encoded": False}


def disconnect_event(info: ConnectionInfo, status_code: int, reason: str) -> dict[str, Any]:
    headers = {"Host": info.domain_name, "X-Forwarded-For": info.source_ip}
    return {
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": info.request_context("$disconnect", "DISCONNECT", disconnectStatusCode=status_code,
                                               disconnectReason=reason),
        "isBase64Encoded": False,
    }


def route_key_of(body: str | bytes, path: list[str]) -> str | None:
    """Evaluate `$request.body.<path>` on a message; None when it does not name a string route key."""
    if isinstance(body, bytes):
        return None
    try:
        value: Any = json.loads(body)
    except ValueError:
        return None
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value if isinstance(value, str) else None


class AuthorizerRefusal(Exception):
    """The handshake is refused with `status` (401: the authorizer said Unauthorized; 403: a Deny)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def _matches(patterns: Any, value: str) -> bool:
    patterns = patterns if isinstance(patterns, list) else [patterns]
    return any(isinstance(p, str) and fnmatch.fnmatchcase(value, p) for p in patterns)


def allowed_context(answer: Any, arn: str) -> dict[str, Any]:
    """The authorizer context (with principalId) if the policy allows execute-api:Invoke on `arn`.

    Raises AuthorizerRefusal(403) on an explicit Deny or no Allow, as API Gateway does; a malformed
    answer is the authorizer's fault (AuthorizerConfigurationError, 500 in API Gateway).
    """
    if not isinstance(answer, dict) or not isinstance(answer.get("policyDocument"), dict):
        raise AuthorizerRefusal(500, "the authorizer returned no policy document")
    statements = answer["policyDocument"].get("Statement") or []
    statements = statements if isinstance(statements, list) else [statements]
    allow = deny = False
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        applies = _matches(statement.get("Action"), "execute-api:Invoke") and _matches(statement.get("Resource"), arn)
        if applies and statement.get("Effect") == "Allow":
            allow = True
        elif applies and statement.get("Effect") == "Deny":
            deny = True
    if deny or not allow:
        raise AuthorizerRefusal(403, "the authorizer's policy does not allow this connection")
    context = answer.get("context") or {}
    if not isinstance(context, dict) or any(isinstance(v, dict | list) for v in context.values()):
        raise AuthorizerRefusal(500, "the authorizer context must map names to strings, numbers or booleans")
    return {**context, "principalId": answer.get("principalId")}
