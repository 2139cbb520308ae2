"""Powertools Tracer only when X-Ray SDK subsegments are wanted.

Powertools' Tracer imports the X-Ray SDK even when POWERTOOLS_TRACE_DISABLED is set, and that import
is the largest part of a stream consumer's cold start. Trace context does not cross Kinesis, so the
consumers default to Lambda's active tracing alone (init and invoke segments) and take the SDK only
when the template turns it on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


class _NoTracer:
    """The subset of Tracer's interface the handlers use, doing nothing."""

    def capture_lambda_handler(self, func: Callable | None = None, **_: Any) -> Callable:
        return func if func is not None else (lambda f: f)

    def capture_method(self, func: Callable | None = None, **_: Any) -> Callable:
        return func if func is not None else (lambda f: f)

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        pass


def sdk_tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() not in ("1", "true")


def tracer() -> Any:
    """A Powertools Tracer, or a no-op stand-in when POWERTOOLS_TRACE_DISABLED is true."""
    if not sdk_tracing_enabled():
        return _NoTracer()
    from aws_lambda_powertools import Tracer

    return Tracer()
