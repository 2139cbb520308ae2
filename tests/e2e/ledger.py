"""What a local stack produced and what it made of it, read back from its local AWS after it stopped.

The stream itself is the ground truth of what was produced (every record, valid or not, with its
position); the table, the quarantine queue and the lake are what the pipeline made of it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tickerstream.codec import InvalidRecord, decode_quote, position_key
from tickerstream_cli.demo import lake_objects


@dataclass
class Ledger:
    produced: int = 0
    valid: int = 0
    invalid: int = 0
    highest: dict[str, tuple[str, float]] = field(default_factory=dict)  # ticker -> (position, price)
    applied: int = 0  # sum of the sector summaries' quote counts
    latest: dict[str, tuple[str, float]] = field(default_factory=dict)  # ticker -> stored (position, price)
    quarantined: int = 0  # distinct records quarantined (by shard, sequence and sub-sequence number)
    quarantine_messages: int = 0  # messages in the queue (a redelivered batch may quarantine a record again)
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    failed_batches: int = 0
    lake_lines: int = 0
    lake_positions: set[tuple[str, str, int]] = field(default_factory=set)
    lake_error_lines: int = 0

    def problems(self) -> list[str]:
        """Every way the pipeline's views disagree with what was produced (empty: they reconcile)."""
        found = []
        if self.produced != self.applied + self.quarantined:
            found.append(f"produced {self.produced} != applied {self.applied} + quarantined {self.quarantined}")
        if self.applied != self.valid:
            found.append(f"applied {self.applied} != distinct valid quotes {self.valid} (lost or applied twice)")
        if self.quarantined != self.invalid:
            found.append(f"quarantined {self.quarantined} != invalid records {self.invalid}")
        regressed = {t: (self.latest.get(t), h) for t, h in self.highest.items() if self.latest.get(t) != h}
        if regressed:
            found.append(f"stored position is not the highest produced for {len(regressed)} tickers: {list(regressed.items())[:3]}")
        if self.failed_batches:
            found.append(f"{self.failed_batches} batch(es) ran out of retries (failed-batches queue)")
        if self.lake_lines != self.valid or len(self.lake_positions) != self.lake_lines:
            found.append(f"lake: {self.lake_lines} lines ({len(self.lake_positions)} distinct) for {self.valid} valid records")
        if self.lake_error_lines != self.invalid:
            found.append(f"lake: {self.lake_error_lines} error records for {self.invalid} invalid records")
        return found


@dataclass
class DeployedStack:
    """Enough of a Deployment to read a stack back, from its local.json (once its process has ended)."""

    physical: dict[str, str]
    endpoint_url: str
    region: str
    template: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_state(cls, info: dict[str, Any]) -> DeployedStack:
        from tickerstream_local.template import sam_template

        return cls(info["resources"], info["aws_endpoint_url"], info["region"], sam_template())

    def client(self, service: str) -> Any:
        import boto3

        return boto3.Session(region_name=self.region, aws_access_key_id="testing",
                             aws_secret_access_key="testing").client(service, endpoint_url=self.endpoint_url)


def stream_records(deployment: Any, logical_id: str = "QuoteStream") -> list[dict[str, Any]]:
    kinesis = deployment.client("kinesis")
    name = deployment.physical[logical_id]
    records = []
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            response = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            records += response["Records"]
            iterator = response.get("NextShardIterator") if response["Records"] else None
    return records


def _queue_messages(deployment: Any, logical_id: str) -> list[dict[str, Any]]:
    sqs = deployment.client("sqs")
    url = sqs.get_queue_url(QueueName=deployment.physical[logical_id])["QueueUrl"]
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get("Messages"):
        messages += batch
    return messages


def _lake(deployment: Any, prefix: str) -> list[bytes]:
    return [line for body in lake_objects(deployment, prefix) for line in body.splitlines() if line.strip()]


def read_ledger(deployment: Any) -> Ledger:
    from tickerstream_cli.demo import lake_prefixes, table_contents

    ledger = Ledger()
    for record in stream_records(deployment):
        ledger.produced += 1
        try:
            quote = decode_quote(record["Data"])
        except InvalidRecord:
            ledger.invalid += 1
            continue
        ledger.valid += 1
        position = position_key(record["SequenceNumber"])
        if quote.ticker_symbol not in ledger.highest or position > ledger.highest[quote.ticker_symbol][0]:
            ledger.highest[quote.ticker_symbol] = (position, quote.price)
    latest, summaries = table_contents(deployment)
    ledger.applied = sum(int(summary["quote_count"]) for summary in summaries.values())
    ledger.latest = {ticker: (item["position"], float(item["price"])) for ticker, item in latest.items()}
    quarantine = _queue_messages(deployment, "QuarantineQueue")
    bodies = [json.loads(message["Body"]) for message in quarantine]
    ledger.quarantine_messages = len(bodies)
    ledger.quarantined = len({(b["shard_id"], b["sequence_number"], b["sub_sequence_number"]) for b in bodies})
    ledger.quarantine_reasons = Counter(b["reason"] for b in bodies)
    ledger.failed_batches = len(_queue_messages(deployment, "FailedBatchesQueue"))
    data_prefix, error_prefix = lake_prefixes(deployment)
    lines = [json.loads(line) for line in _lake(deployment, data_prefix)]
    ledger.lake_lines = len(lines)
    ledger.lake_positions = {(x["ticker_symbol"], x["sequence_number"], x["sub_sequence_number"]) for x in lines}
    ledger.lake_error_lines = len(_lake(deployment, error_prefix))
    return ledger
