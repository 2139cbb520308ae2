"""The quarantine queue: where invalid records go, whole and with their reason, instead of blocking a shard."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from quote_processor.batch import Rejected
from quote_processor.store import WriteNotDurable

MESSAGE_KIND = "invalid-record"
# The reason of a valid quote DynamoDB refused for good (the detail holds DynamoDB's error text).
UNSTORABLE = "unstorable"
# SQS takes 256 KiB per SendMessageBatch; raw data past this is cut (the record stays in the stream
# until retention runs out, and the message says where it is).
MAX_RAW_BYTES = 16 * 1024
MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 240 * 1024


def quarantine_message(rejected: Rejected, event_source_arn: str) -> dict[str, Any]:
    origin = rejected.origin
    return {
        "kind": MESSAGE_KIND,
        "reason": rejected.reason,
        "detail": rejected.detail,
        "event_source_arn": event_source_arn,
        "shard_id": origin.shard_id,
        "sequence_number": origin.sequence_number,
        "sub_sequence_number": origin.sub_sequence_number,
        "partition_key": origin.partition_key,
        "approximate_arrival_timestamp": origin.arrival,
        "data_base64": base64.b64encode(rejected.data[:MAX_RAW_BYTES]).decode(),
        "data_bytes": len(rejected.data),
        "data_truncated": len(rejected.data) > MAX_RAW_BYTES,
    }


def chunk_messages(rejects: list[Rejected], event_source_arn: str) -> list[list[tuple[Rejected, str]]]:
    """Group rejects, in stream order, into SendMessageBatch-sized chunks of (reject, body)."""
    chunks: list[list[tuple[Rejected, str]]] = []
    current: list[tuple[Rejected, str]] = []
    size = 0
    for rejected in rejects:
        body = json.dumps(quarantine_message(rejected, event_source_arn), separators=(",", ":"))
        if current and (len(current) == MAX_BATCH_ENTRIES or size + len(body) > MAX_BATCH_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append((rejected, body))
        size += len(body)
    if current:
        chunks.append(current)
    return chunks


class Quarantine:
    """Sends rejects to the queue. Most batches have no invalid record, so the SQS client is built on
    first use (from `client_factory`) rather than in every cold start."""

    def __init__(self, client_factory: Callable[[], Any], queue_url: str):
        self._client_factory = client_factory
        self._client_instance: Any = None
        self._client_lock = threading.Lock()  # writer threads may need it at once; build one client
        self._queue_url = queue_url

    @property
    def _client(self) -> Any:
        if self._client_instance is None:
            with self._client_lock:
                if self._client_instance is None:
                    self._client_instance = self._client_factory()
        return self._client_instance

    @_client.setter
    def _client(self, client: Any) -> None:  # tests wrap the client to inject faults
        self._client_instance = client

    def send(self, chunk: list[tuple[Rejected, str]]) -> int | None:
        """Send one chunk; return the batch index of the first record not accepted, or None if all were."""
        entries = [
            {
                "Id": str(number),
                "MessageBody": body,
                "MessageAttributes": {
                    "kind": {"DataType": "String", "StringValue": MESSAGE_KIND},
                    "reason": {"DataType": "String", "StringValue": rejected.reason},
                },
            }
            for number, (rejected, body) in enumerate(chunk)
        ]
        try:
            response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            raise WriteNotDurable(f"quarantine: {exc}") from exc
        failed = [int(entry["Id"]) for entry in response.get("Failed") or []]
        if not failed:
            return None
        return min(chunk[number][0].origin.index for number in failed)
