"""Fault injection into the AWS calls the local stack's functions make, while the stack runs.

A FaultPlan is a list of Faults, each naming an operation (`dynamodb:TransactWriteItems`) and which of
its calls fail: skip `after` calls, fail the next `count`, and (with `every`) do it again every `every`
calls. Counting is per HTTP attempt, so botocore's own retries meet the fault as they would in AWS.

The plan hooks botocore's `before-send` event of boto3's default session, which is where the template's
functions get their clients (`boto3.client(...)` at import time): installed before the functions are
loaded, it reaches exactly their clients, and only requests to the stack's own endpoint. The local
stack's own clients (event-source mappings, Firehose, CLI) use sessions of their own and are never hit.

    plan = FaultPlan([throttled("dynamodb:TransactWriteItems", after=40, count=3, every=150)])
    with LocalStack(..., faults=plan) as stack: ...
    plan.injected  # {"dynamodb:TransactWriteItems ProvisionedThroughputExceededException": 12, ...}
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# JSON-protocol error shapes botocore parses into ClientError codes (as DynamoDB sends them).
_ERROR_TYPE_PREFIX = {"dynamodb": "com.amazonaws.dynamodb.v20120810#", "kinesis": "", "sqs": "com.amazonaws.sqs#"}


class InjectedCrash(RuntimeError):
    """Raised out of a client call: the function dies mid-batch, as with a bug or the runtime failing."""


@dataclass
class Fault:
    operation: str  # "<service id>:<Operation>", e.g. "dynamodb:TransactWriteItems"
    after: int = 0  # matching calls let through before the first fault
    count: int = 1  # faulted calls in a burst
    every: int | None = None  # a burst starts again every `every` calls (None: once)
    status: int = 500
    code: str = "InternalServerError"
    crash: bool = False  # raise InjectedCrash instead of answering with an error
    committed: bool = False  # send the request, then lose the response (the write happened)
    # Only calls whose request body contains this text count (e.g. one table's name, for one function's writes).
    touching: str | None = None
    _calls: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if ":" not in self.operation:
            raise ValueError(f"operation must read '<service>:<Operation>', not {self.operation!r}")
        if self.every is not None and self.every <= self.count:
            raise ValueError("a burst must be shorter than the period it repeats in (count < every)")

    @property
    def calls(self) -> int:
        """Matching calls seen so far (faulted or not)."""
        return self._calls

    @property
    def label(self) -> str:
        return f"{self.operation} {'crash' if self.crash else self.code}{' (after commit)' if self.committed else ''}"

    def hit(self) -> bool:
        """Count one matching call; True if this one is to fail."""
        number = self._calls
        self._calls += 1
        if number < self.after:
            return False
        offset = number - self.after
        if self.every is not None:
            offset %= self.every
        return offset < self.count


def throttled(operation: str, *, code: str = "ProvisionedThroughputExceededException", **when: Any) -> Fault:
    """400 with a throttling code (ProvisionedThroughputExceededException, ThrottlingException …)."""
    return Fault(operation, status=400, code=code, **when)


def server_error(operation: str, *, committed: bool = False, **when: Any) -> Fault:
    """500 InternalServerError; with committed=True the request reached the service and took effect."""
    return Fault(operation, status=500, code="InternalServerError", committed=committed, **when)


def crash(operation: str, **when: Any) -> Fault:
    return Fault(operation, crash=True, **when)


class _Body:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


@dataclass
class FaultPlan:
    faults: list[Fault]
    injected: Counter[str] = field(default_factory=Counter)
    _endpoint: str | None = field(default=None, init=False, repr=False)
    _session: Any = field(default=None, init=False, repr=False)
    _http: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _hook_id: str = field(default_factory=lambda: f"tickerstream-faults-{uuid.uuid4()}", init=False, repr=False)

    @property
    def total(self) -> int:
        return sum(self.injected.values())

    def install(self, endpoint_url: str) -> None:
        """Hook the clients boto3's default session creates from now on (the functions' clients)."""
        import boto3
        from botocore.httpsession import URLLib3Session

        self._endpoint = endpoint_url.rstrip("/")
        self._http = URLLib3Session()
        self._session = boto3._get_default_session()._session  # noqa: SLF001 - the functions' session
        self._session.register("before-send", self._before_send, unique_id=self._hook_id)

    def uninstall(self) -> None:
        if self._session is not None:
            self._session.unregister("before-send", unique_id=self._hook_id)
            self._session = None
        if self._http is not None:
            self._http.close()
            self._http = None

    def _before_send(self, request: Any, event_name: str, **_: Any) -> Any:
        if self._endpoint is None or not request.url.startswith(self._endpoint):
            return None
        _, service, operation = event_name.split(".", 2)
        name = f"{service}:{operation}"
        with self._lock:
            body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
            firing = [f for f in self.faults  # every matching rule counts the call
                      if f.operation == name and (f.touching is None or f.touching.encode() in body) and f.hit()]
            fault = firing[0] if firing else None
            if fault is not None:
                self.injected[fault.label] += 1
        if fault is None:
            return None
        if fault.crash:
            raise InjectedCrash(f"injected crash in {name}")
        if fault.committed:
            self._http.send(request)  # it takes effect; the answer is lost
        return self._error_response(request, service, fault)

    @staticmethod
    def _error_response(request: Any, service: str, fault: Fault) -> Any:
        from botocore.awsrequest import AWSResponse

        body = json.dumps({"__type": _ERROR_TYPE_PREFIX.get(service, "") + fault.code,
                           "message": f"injected by the local stack's fault plan ({fault.label})"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": str(uuid.uuid4()),
                   "Content-Length": str(len(body))}
        return AWSResponse(request.url, fault.status, headers, _Body(body))
