"""Optional webhook delivery of alerts (a chat or incident tool), after SNS and never instead of it.

The URL is a secret: it lives in AWS Secrets Manager (the template's AlertWebhookSecret, as
``{"url": "https://…"}``; an empty url turns the webhook off) and is read with Powertools Parameters,
cached for ``max_age`` seconds, so a warm function asks Secrets Manager at most once per cache period.
It is never logged: failures are logged by kind (HTTP status, exception class) and counted.

Best effort by design: one POST per 25 alerts, a short timeout, no retry, and the first failure stops
the rest of this invocation's posts. A slow or failing webhook costs at most one timeout per
invocation and never touches the SNS alerts, which are published (and recorded) before it runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SECRET_MAX_AGE_SECONDS = 300
ALERTS_PER_POST = 25


class WebhookUnavailable(Exception):
    """The webhook's URL could not be read or is not usable (the message never holds the URL)."""


def secret_reader(secret_id: str, max_age: int = SECRET_MAX_AGE_SECONDS, provider: Any = None) -> Callable[[], str | None]:
    """A function returning the webhook URL (None if the webhook is off), through Powertools' cache."""
    if not secret_id:
        return lambda: None

    def read() -> str | None:
        from aws_lambda_powertools.utilities import parameters

        try:
            if provider is not None:
                value = provider.get(secret_id, max_age=max_age)
            else:
                value = parameters.get_secret(secret_id, max_age=max_age)
        except parameters.GetParameterError as exc:
            # Powertools wraps the SDK's error (as the context); name its code, never the value
            cause = exc.__cause__ or exc.__context__ or exc
            response = getattr(cause, "response", None)
            code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
            raise WebhookUnavailable(f"cannot read the webhook secret ({code or type(cause).__name__})") from None
        return url_of(value)

    return read


def url_of(value: Any) -> str | None:
    """The URL a secret value holds: ``{"url": "…"}`` (or the bare URL); None for an empty url."""
    if isinstance(value, bytes):
        value = value.decode()
    text = str(value).strip()
    if text.startswith("{"):
        try:
            text = str(json.loads(text).get("url") or "").strip()
        except (ValueError, AttributeError):
            raise WebhookUnavailable("the webhook secret is not JSON of the form {\"url\": \"https://…\"}") from None
    if not text:
        return None
    if not text.startswith(("https://", "http://")):
        raise WebhookUnavailable("the webhook secret's url is not an http(s) URL")
    return text


@dataclass(slots=True)
class WebhookResult:
    posted: int = 0  # alerts delivered
    failures: int = 0  # posts that failed (or the secret that could not be read)
    reasons: list[str] = field(default_factory=list)  # failure kinds, without the URL


class Webhook:
    def __init__(self, read_url: Callable[[], str | None], timeout: float = 2.0,
                 post: Callable[[str, bytes, float], int] | None = None):
        self._read_url = read_url
        self._timeout = timeout
        self._post = post or _post

    def deliver(self, bodies: list[dict[str, Any]], dumps: Callable[[Any], str]) -> WebhookResult:
        result = WebhookResult()
        if not bodies:
            return result
        try:
            url = self._read_url()
        except WebhookUnavailable as exc:
            result.failures += 1
            result.reasons.append(str(exc))
            return result
        if url is None:
            return result
        import urllib.error  # here, not at import: most invocations send nothing (cold start)

        for start in range(0, len(bodies), ALERTS_PER_POST):
            chunk = bodies[start : start + ALERTS_PER_POST]
            payload = dumps({"alerts": chunk}).encode()
            try:
                status = self._post(url, payload, self._timeout)
            except urllib.error.HTTPError as exc:
                reason = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError, ValueError) as exc:
                # URLError's reason (refused, timed out, name not known) never holds the URL itself
                reason = type(getattr(exc, "reason", exc)).__name__
            else:
                if 200 <= status < 300:
                    result.posted += len(chunk)
                    continue
                reason = f"HTTP {status}"
            result.failures += 1
            result.reasons.append(reason)
            break  # a failing endpoint gets no more of this invocation's time
        return result


def _post(url: str, payload: bytes, timeout: float) -> int:
    import urllib.request

    request = urllib.request.Request(url, data=payload, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) checked in url_of
        return response.status
