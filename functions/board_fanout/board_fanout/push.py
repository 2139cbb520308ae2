"""Pushes through @connections: concurrent, one attempt each, within the batch's time budget.

A push that starts before the deadline runs to its own short timeout; one that would start after it
is skipped and counted. A client that answers 410 (GoneException) is gone; any other failure (a
timeout, throttling, a 5xx) costs that one push only - the next quote supersedes it anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

Post = Callable[[str, bytes], None]

SENT, GONE, FAILED, SKIPPED = "sent", "gone", "failed", "skipped"


@dataclass
class PushOutcome:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    gone: set[str] = field(default_factory=set)
    gone_pushes: int = 0


def is_gone(exc: BaseException) -> bool:
    if not isinstance(exc, ClientError):
        return False
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code") in ("GoneException", "410") or status == 410


class Pusher:
    def __init__(self, post: Post, concurrency: int, clock: Callable[[], float] = time.monotonic):
        self.post = post
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="push")
        self._lock = threading.Lock()

    def push(self, deliveries: list[tuple[str, bytes]], deadline: float, grace: float) -> PushOutcome:
        """Send each (connection id, data); wait at most until `deadline + grace` for pushes in flight."""
        outcome = PushOutcome()
        futures = [self._pool.submit(self._one, connection_id, data, deadline) for connection_id, data in deliveries]
        done, not_done = wait(futures, timeout=max(0.0, deadline + grace - self._clock()))
        for future in not_done:
            future.cancel()  # still queued (or stuck past its timeout): counted as skipped
        for (connection_id, _), future in zip(deliveries, futures):
            result = future.result() if future in done else SKIPPED
            if result == SENT:
                outcome.sent += 1
            elif result == GONE:
                outcome.gone.add(connection_id)
                outcome.gone_pushes += 1
            elif result == FAILED:
                outcome.failed += 1
            else:
                outcome.skipped += 1
        return outcome

    def _one(self, connection_id: str, data: bytes, deadline: float) -> str:
        if self._clock() >= deadline:
            return SKIPPED
        try:
            self.post(connection_id, data)
        except Exception as exc:  # noqa: BLE001 - a client's failure costs its push, never the batch
            return GONE if is_gone(exc) else FAILED
        return SENT


def management_poster(endpoint_url: str, timeout_seconds: float, concurrency: int) -> Post:
    """PostToConnection through the API Gateway management API; the client is made on first use."""
    client: list[Any] = []
    lock = threading.Lock()

    def post(connection_id: str, data: bytes) -> None:
        if not client:
            with lock:
                if not client:
                    import boto3
                    from botocore.config import Config

                    client.append(boto3.client(
                        "apigatewaymanagementapi", endpoint_url=endpoint_url,
                        config=Config(retries={"total_max_attempts": 1}, connect_timeout=timeout_seconds,
                                      read_timeout=timeout_seconds, max_pool_connections=max(10, concurrency)),
                    ))
        client[0].post_to_connection(ConnectionId=connection_id, Data=data)

    return post
