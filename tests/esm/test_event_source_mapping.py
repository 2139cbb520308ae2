"""The local event-source mapping honours the template's Kinesis event settings as Lambda does."""

import json

import pytest

from tickerstream_local.esm import EventSourceMapping
from tickerstream_local.stack import deploy


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A stand-in function: records every batch; `respond` decides the result."""

    def __init__(self, respond=None):
        self.batches: list[list[str]] = []
        self.respond = respond or (lambda batch, call: {"batchItemFailures": []})

    def __call__(self, event, context):
        sequences = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
        self.batches.append(sequences)
        return self.respond(sequences, len(self.batches))


def setup(aws, count: int, handler, clock=None, **parameters):
    deployment = deploy(aws, parameter_overrides={"StreamMode": "PROVISIONED", "ShardCount": 1, **parameters})
    kinesis = deployment.client("kinesis")
    stream = deployment.physical["QuoteStream"]
    sequences = []
    for i in range(count):
        put = kinesis.put_record(StreamName=stream, Data=json.dumps({"n": i}).encode(), PartitionKey="k")
        sequences.append(put["SequenceNumber"])
    mapping = EventSourceMapping(deployment, "QuoteProcessor", "QuoteStream", handler=handler, clock=clock or Clock(_arrival(kinesis, stream)))
    return deployment, mapping, sequences


def _arrival(kinesis, stream) -> float:
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator, Limit=1)["Records"]
    return records[0]["ApproximateArrivalTimestamp"].timestamp() if records else 0.0


def on_failure_messages(deployment) -> list[dict]:
    sqs = deployment.client("sqs")
    url = deployment.ctx.refs["FailedBatchesQueue"]
    found = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_batch_size_from_the_template(aws):
    recorder = Recorder()
    _, mapping, sequences = setup(aws, 25, recorder, BatchSize=10)
    mapping.drain()
    assert [len(b) for b in recorder.batches] == [10, 10, 5]
    assert [s for b in recorder.batches for s in b] == sequences


def test_partial_failure_checkpoints_at_the_lowest_reported_sequence(aws):
    def respond(batch, call):
        if call == 1:  # report two failures; the lower one is the checkpoint
            return {"batchItemFailures": [{"itemIdentifier": batch[6]}, {"itemIdentifier": batch[3]}]}
        return {"batchItemFailures": []}

    recorder = Recorder(respond)
    _, mapping, sequences = setup(aws, 8, recorder, BatchSize=100)
    mapping.drain()
    assert recorder.batches == [sequences, sequences[3:]]
    assert mapping.stats.records_checkpointed == 8


def test_unknown_item_identifier_fails_the_whole_batch(aws):
    def respond(batch, call):
        return {"batchItemFailures": [{"itemIdentifier": ""}]} if call == 1 else {"batchItemFailures": []}

    recorder = Recorder(respond)
    _, mapping, sequences = setup(aws, 4, recorder)
    mapping.drain()
    assert recorder.batches == [sequences, sequences]


def test_bisect_isolates_a_poison_record_then_sends_it_to_on_failure(aws):
    poison = {}

    def respond(batch, call):
        if poison["seq"] in batch:
            raise RuntimeError("poison")
        return {"batchItemFailures": []}

    recorder = Recorder(respond)
    deployment, mapping, sequences = setup(aws, 8, recorder, BatchSize=8, MaximumRetryAttempts=2)
    poison["seq"] = sequences[5]
    mapping.drain()

    healthy_delivered = {s for b in recorder.batches if poison["seq"] not in b for s in b}
    assert healthy_delivered == set(sequences) - {poison["seq"]}
    single_poison_calls = [b for b in recorder.batches if b == [poison["seq"]]]
    assert len(single_poison_calls) == 3  # first try + MaximumRetryAttempts (bisection is free)
    [message] = on_failure_messages(deployment)
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 3
    info = message["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (poison["seq"], poison["seq"], 1)
    assert info["shardId"] == "shardId-000000000000"
    assert info["streamArn"].endswith(":stream/tickerstream-local-QuoteStream")


def test_retry_exhaustion_without_bisect_sends_the_whole_batch(aws):
    recorder = Recorder(lambda batch, call: (_ for _ in ()).throw(RuntimeError("down")))
    deployment, mapping, sequences = setup(aws, 3, recorder, MaximumRetryAttempts=1)
    # turn bisect off in the mapping only: the template always bisects
    object.__setattr__(mapping.settings, "bisect", False)
    mapping.drain()
    assert recorder.batches == [sequences, sequences]
    [message] = on_failure_messages(deployment)
    assert message["KinesisBatchInfo"]["startSequenceNumber"] == sequences[0]
    assert message["KinesisBatchInfo"]["endSequenceNumber"] == sequences[-1]
    assert message["responseContext"]["functionError"] == "Unhandled"


def test_records_older_than_the_maximum_age_are_not_invoked(aws):
    recorder = Recorder()
    clock = Clock(0)
    deployment, mapping, sequences = setup(aws, 3, recorder, clock=clock, MaximumRecordAgeInSeconds=60)
    clock.now = _arrival(deployment.client("kinesis"), deployment.physical["QuoteStream"]) + 61
    mapping.drain()
    assert recorder.batches == []
    [message] = on_failure_messages(deployment)
    assert message["requestContext"]["condition"] == "RecordAgeExceeded"
    assert message["KinesisBatchInfo"]["batchSize"] == 3


def test_batching_window_waits_until_full_or_expired(aws):
    recorder = Recorder()
    clock = Clock(1000.0)
    _, mapping, sequences = setup(aws, 5, recorder, clock=clock, BatchSize=100, MaximumBatchingWindowInSeconds=2)
    mapping.poll_once()
    assert recorder.batches == []  # 5 < BatchSize and the window is still open
    clock.now += 1.0
    mapping.poll_once()
    assert recorder.batches == []
    clock.now += 1.5
    mapping.poll_once()
    assert recorder.batches == [sequences]


def test_full_batch_does_not_wait_for_the_window(aws):
    recorder = Recorder()
    clock = Clock(1000.0)
    _, mapping, sequences = setup(aws, 10, recorder, clock=clock, BatchSize=10, MaximumBatchingWindowInSeconds=300)
    mapping.poll_once()
    assert recorder.batches == [sequences]


@pytest.mark.parametrize("starting_position", ["TRIM_HORIZON"])
def test_starting_position_comes_from_the_template(aws, starting_position):
    recorder = Recorder()
    _, mapping, sequences = setup(aws, 2, recorder)
    assert mapping.settings.starting_position == starting_position
    mapping.drain()
    assert recorder.batches == [sequences]  # records put before the mapping started are read


def test_tumbling_windows_carry_state_and_close_on_the_next_window(aws):
    """Records of two 60 s windows: state flows between invocations of a window, resets after it."""
    seen = []

    def handler(event, context):
        seen.append((event["window"]["start"], len(event["Records"]), dict(event["state"]), event["isFinalInvokeForWindow"]))
        return {"state": {"count": event["state"].get("count", 0) + len(event["Records"])}, "batchItemFailures": []}

    deployment = deploy(aws, parameter_overrides={"StreamMode": "PROVISIONED", "ShardCount": 1, "BatchSize": 2})
    mapping = EventSourceMapping(deployment, "QuoteProcessor", "QuoteStream", handler=handler, clock=Clock(0))
    object.__setattr__(mapping.settings, "tumbling_window", 60)
    shard = mapping.shards[0]
    arrivals = [120.0, 130.0, 150.0, 185.0, 190.0]  # window [120, 180): three records; [180, 240): two
    records = [
        {"kinesis": {"sequenceNumber": str(i), "approximateArrivalTimestamp": t, "data": "", "partitionKey": "k"}}
        for i, t in enumerate(arrivals)
    ]
    shard.pending = records[2:]
    mapping._process_batch(shard, records[:2])
    batch = shard.ready_batch(flush=True)
    mapping._process_batch(shard, batch)
    mapping._process_batch(shard, shard.ready_batch(flush=True))

    assert seen == [
        ("1970-01-01T00:02:00.000Z", 2, {}, False),
        ("1970-01-01T00:02:00.000Z", 1, {"count": 2}, True),  # the next record is in the next window
        ("1970-01-01T00:03:00.000Z", 1, {}, False),
        ("1970-01-01T00:03:00.000Z", 1, {"count": 1}, False),
    ]


def test_a_paused_mapping_invokes_nothing_until_resumed(aws):
    import threading

    recorder = Recorder()
    _, mapping, sequences = setup(aws, 5, recorder, MaximumBatchingWindowInSeconds=0)
    mapping.pause()
    stop = threading.Event()
    poller = threading.Thread(target=mapping.run, args=(stop,))
    poller.start()
    try:
        stop.wait(0.5)
        assert mapping.paused and recorder.batches == []
        mapping.resume()
        for _ in range(100):
            if recorder.batches:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        poller.join()
    assert [s for b in recorder.batches for s in b] == sequences


def test_drain_stops_at_its_bound_and_keeps_what_it_did_not_process(aws):
    import time

    from tickerstream_local.esm import DrainTimeout

    def failing(batch, call):
        time.sleep(0.05)
        raise RuntimeError("down")

    recorder = Recorder(failing)
    deployment, mapping, sequences = setup(aws, 5, recorder, MaximumRetryAttempts=10000)
    object.__setattr__(mapping.settings, "bisect", False)
    started = time.monotonic()
    with pytest.raises(DrainTimeout, match="5 fetched record"):
        mapping.drain(timeout=0.5)
    assert time.monotonic() - started < 2
    assert mapping.stats.records_discarded == 0 and on_failure_messages(deployment) == []
    recorder.respond = lambda batch, call: {"batchItemFailures": []}  # the function recovers
    mapping.drain()
    assert recorder.batches[-1] == sequences  # resumed with the records left, in order
