"""Where a local event-source mapping reads from: a Kinesis stream, or a DynamoDB table's stream
(moto's dynamodbstreams API). Both give shards, iterators and batches of records in Lambda's shape."""

from __future__ import annotations

from typing import Any, Protocol

from tickerstream_local.esm_events import dynamodb_event_record, kinesis_event_record

# Template event types a local mapping serves, and the source class for each.
STREAM_EVENT_TYPES = ("Kinesis", "DynamoDB")


class StreamSource(Protocol):
    MAX_RECORDS_PER_CALL: int

    def shard_ids(self) -> list[str]: ...

    def iterator(self, shard_id: str, position: str) -> str: ...

    def read(self, shard_id: str, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None, float | None]:
        """(Lambda-shaped records, next iterator, milliseconds behind the tip if the source says)."""
        ...


class KinesisSource:
    MAX_RECORDS_PER_CALL = 10000

    def __init__(self, deployment: Any, stream_arn: str) -> None:
        self.client = deployment.client("kinesis")
        self.stream_arn = stream_arn
        self.region = deployment.ctx.region
        # moto's shard iterators lose the stream when asked for by ARN, so the name is used
        self.stream_name = stream_arn.split(":stream/", 1)[1]

    def shard_ids(self) -> list[str]:
        return [shard["ShardId"] for shard in self.client.list_shards(StreamName=self.stream_name)["Shards"]]

    def iterator(self, shard_id: str, position: str) -> str:
        return self.client.get_shard_iterator(
            StreamName=self.stream_name, ShardId=shard_id,
            ShardIteratorType="TRIM_HORIZON" if position == "TRIM_HORIZON" else "LATEST",
        )["ShardIterator"]

    def read(self, shard_id: str, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None, float | None]:
        response = self.client.get_records(ShardIterator=iterator, Limit=limit)
        records = [kinesis_event_record(r, shard_id, self.stream_arn, self.region) for r in response.get("Records", [])]
        behind = response.get("MillisBehindLatest")
        return records, response.get("NextShardIterator"), float(behind) if behind is not None else None


class DynamoDBStreamSource:
    """A table's stream. GetRecords answers at most 1,000 records a call, as DynamoDB Streams does."""

    MAX_RECORDS_PER_CALL = 1000

    def __init__(self, deployment: Any, stream_arn: str) -> None:
        self.client = deployment.client("dynamodbstreams")
        self.stream_arn = stream_arn
        self.region = deployment.ctx.region

    def shard_ids(self) -> list[str]:
        description = self.client.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        return [shard["ShardId"] for shard in description.get("Shards", [])]

    def iterator(self, shard_id: str, position: str) -> str:
        return self.client.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard_id,
            ShardIteratorType="TRIM_HORIZON" if position == "TRIM_HORIZON" else "LATEST",
        )["ShardIterator"]

    def read(self, shard_id: str, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None, float | None]:
        response = self.client.get_records(ShardIterator=iterator, Limit=min(limit, self.MAX_RECORDS_PER_CALL))
        records = [dynamodb_event_record(r, self.stream_arn, self.region) for r in response.get("Records", [])]
        return records, response.get("NextShardIterator"), None


def stream_source(deployment: Any, event_type: str, stream_arn: str) -> StreamSource:
    if event_type == "Kinesis":
        return KinesisSource(deployment, stream_arn)
    if event_type == "DynamoDB":
        return DynamoDBStreamSource(deployment, stream_arn)
    raise ValueError(f"no local event-source mapping for {event_type} events")
