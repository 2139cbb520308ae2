"""Find the in-process handler of one of the template's functions (or a stand-in given by a test)."""

from __future__ import annotations

import threading
from typing import Any

from tickerstream_local.functions import Handler, LocalContext, handler_of, load_function

_LOCK = threading.Lock()


def function_arn(deployment: Any, logical_id: str) -> str:
    return deployment.ctx.attributes.get(logical_id, {}).get("Arn") or (
        f"arn:aws:lambda:{deployment.ctx.region}:{deployment.ctx.account_id}:function:"
        f"{deployment.physical.get(logical_id, logical_id)}"
    )


def function_for_arn(deployment: Any, arn: str) -> str:
    """The logical id of the function an ARN (possibly qualified: `:$LATEST`, an alias) points at."""
    for logical_id, attributes in deployment.ctx.attributes.items():
        own = attributes.get("Arn")
        if own and (arn == own or arn.startswith(own + ":")):
            return logical_id
    raise KeyError(f"no function of the template has the ARN {arn!r}")


def local_context(deployment: Any, logical_id: str) -> LocalContext:
    props = deployment.template["Resources"][logical_id].get("Properties", {})
    globals_fn = deployment.template.get("Globals", {}).get("Function", {})
    return LocalContext(
        function_name=deployment.physical.get(logical_id, logical_id),
        memory_limit_in_mb=int(props.get("MemorySize", globals_fn.get("MemorySize", 128))),
        timeout_seconds=int(props.get("Timeout", globals_fn.get("Timeout", 3))),
        region=deployment.ctx.region,
        account_id=deployment.ctx.account_id,
    )


def resolve_handler(
    deployment: Any, logical_id: str, overrides: dict[str, Handler] | None = None
) -> Handler:
    """overrides[logical_id] if given, else the template function's real handler, loaded once.

    The function's environment (Globals merged) is applied first, plus AWS_ENDPOINT_URL when the
    deployment talks to a moto server, so its boto3 clients reach the local stack.
    """
    if overrides and logical_id in overrides:
        return _observed(deployment, logical_id, overrides[logical_id])
    cache = deployment.__dict__.setdefault("_local_handlers", {})
    with _LOCK:
        if logical_id not in cache:
            environment = deployment.function_environment(logical_id)
            if deployment.endpoint_url:
                environment.setdefault("AWS_ENDPOINT_URL", deployment.endpoint_url)
            module = load_function(logical_id, environment)
            cache[logical_id] = handler_of(logical_id, module)
        return _observed(deployment, logical_id, cache[logical_id])


def _observed(deployment: Any, logical_id: str, handler: Handler) -> Handler:
    """The handler, counted by the local stack's Lambda metrics when it has them (ops_monitor.py)."""
    observer = deployment.__dict__.get("invocation_observer")
    return observer.wrap(logical_id, handler) if observer is not None else handler
