"""What a failed-batches message says, how its records are read back from the stream, and the Lambda
event that carries them: plain functions over clients, no CLI.

Lambda's OnFailure message for a Kinesis source holds only metadata (`KinesisBatchInfo`: shard id, first
and last sequence number, batch size, stream ARN), never the records, so a redrive re-reads them while
the stream still retains them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tickerstream_local.esm_events import kinesis_event_record

# GetRecords rounds that return nothing although the range is not complete: the shard has no more.
MAX_EMPTY_ROUNDS = 3
GET_RECORDS_LIMIT = 10_000


class UnreadableMessage(ValueError):
    """A message that is not Lambda's OnFailure record of a Kinesis batch."""


class RecordsGone(Exception):
    """The stream no longer holds (all of) the batch's records: retention has trimmed them."""


@dataclass(frozen=True)
class FailedBatch:
    message_id: str
    receipt_handle: str
    shard_id: str
    start_sequence: str
    end_sequence: str
    batch_size: int
    stream_arn: str
    condition: str  # RetryAttemptsExhausted, RecordAgeExceeded …
    failed_at: str  # the message's timestamp

    @property
    def stream_name(self) -> str:
        return self.stream_arn.split(":stream/", 1)[1] if ":stream/" in self.stream_arn else self.stream_arn

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> FailedBatch:
        """Parse an SQS message (ReceiveMessage's shape) holding Lambda's OnFailure body."""
        try:
            body = json.loads(message["Body"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UnreadableMessage(f"body is not JSON ({exc})") from None
        info = body.get("KinesisBatchInfo") if isinstance(body, dict) else None
        if not isinstance(info, dict):
            raise UnreadableMessage("no KinesisBatchInfo: not an OnFailure record of a Kinesis event source mapping")
        missing = [k for k in ("shardId", "startSequenceNumber", "endSequenceNumber", "batchSize", "streamArn")
                   if info.get(k) in (None, "")]
        if missing:
            raise UnreadableMessage(f"KinesisBatchInfo lacks {', '.join(missing)}")
        start, end = str(info["startSequenceNumber"]), str(info["endSequenceNumber"])
        if not (start.isdigit() and end.isdigit()) or int(start) > int(end):
            raise UnreadableMessage(f"sequence range {start!r}..{end!r} is not a range of sequence numbers")
        try:
            size = int(info["batchSize"])
        except (TypeError, ValueError):
            raise UnreadableMessage(f"batchSize {info['batchSize']!r} is not a number") from None
        if size < 1:
            raise UnreadableMessage(f"batchSize {size} is not positive")
        return cls(
            message_id=message.get("MessageId", ""),
            receipt_handle=message.get("ReceiptHandle", ""),
            shard_id=str(info["shardId"]),
            start_sequence=start,
            end_sequence=end,
            batch_size=size,
            stream_arn=str(info["streamArn"]),
            condition=str((body.get("requestContext") or {}).get("condition", "")),
            failed_at=str(body.get("timestamp", "")),
        )


def read_batch(kinesis: Any, stream_name: str, batch: FailedBatch) -> list[dict[str, Any]]:
    """The batch's records as GetRecords returns them, first to last sequence number inclusive.

    Raises RecordsGone when the stream no longer holds the first record (retention trimmed it, or the
    shard itself has expired) or fewer records than the batch had.
    """
    start, end = int(batch.start_sequence), int(batch.end_sequence)
    try:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream_name, ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=batch.start_sequence,
        )["ShardIterator"]
    except Exception as exc:  # noqa: BLE001 - a trimmed position or an expired shard, as Kinesis words it
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        if code in ("ResourceNotFoundException", "InvalidArgumentException"):
            raise RecordsGone(f"the stream no longer has shard {batch.shard_id} at {batch.start_sequence} ({code})") from None
        raise
    records: list[dict[str, Any]] = []
    empty_rounds = 0
    while iterator and empty_rounds < MAX_EMPTY_ROUNDS:
        response = kinesis.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
        got = response.get("Records") or []
        empty_rounds = 0 if got else empty_rounds + 1
        for record in got:
            sequence = int(record["SequenceNumber"])
            if sequence > end:
                iterator = None
                break
            if sequence >= start:
                records.append(record)
        else:
            iterator = response.get("NextShardIterator")
        if records and int(records[-1]["SequenceNumber"]) == end:
            break
    if not records or records[0]["SequenceNumber"] != batch.start_sequence:
        first = records[0]["SequenceNumber"] if records else "nothing"
        raise RecordsGone(f"the stream's shard {batch.shard_id} starts after {batch.start_sequence} now "
                          f"(first record found: {first}): retention has trimmed the batch")
    if records[-1]["SequenceNumber"] != batch.end_sequence or len(records) < batch.batch_size:
        raise RecordsGone(f"only {len(records)} of the batch's {batch.batch_size} records are left in the stream")
    return records


def lambda_event(records: list[dict[str, Any]], batch: FailedBatch, region: str) -> dict[str, Any]:
    """The event Lambda's event source mapping passes QuoteProcessor for these records."""
    return {"Records": [kinesis_event_record(r, batch.shard_id, batch.stream_arn, region) for r in records]}


def answer_failure(response: Any) -> str | None:
    """Why a function's answer means its records are not durable, or None when they are."""
    if not isinstance(response, dict):
        return f"the function answered {type(response).__name__}, not a batch response"
    failures = response.get("batchItemFailures")
    if failures:
        return f"the function reported batchItemFailures from {failures[0].get('itemIdentifier')!r}"
    if "errorType" in response or "errorMessage" in response:
        return f"{response.get('errorType', 'error')}: {response.get('errorMessage', '')}"
    return None
