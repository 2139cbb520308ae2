"""The local event-source mapping closes CandleAggregator's windows as Lambda does: a window whose records
were all processed before its end gets its final invoke (without records) when its time is up, or when
the shard's next record belongs to a later window, and its state is not dropped."""

from __future__ import annotations

import json

from tickerstream_local.esm import EventSourceMapping
from tickerstream_local.stack import deploy


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder:
    def __init__(self):
        self.events: list[dict] = []

    def __call__(self, event, context):
        self.events.append(event)
        kept = dict(event["state"] or {})
        kept["n"] = kept.get("n", 0) + len(event["Records"])
        return {"state": {} if event["isFinalInvokeForWindow"] else kept, "batchItemFailures": []}


def put(deployment, count):
    kinesis = deployment.client("kinesis")
    for i in range(count):
        kinesis.put_record(StreamName=deployment.physical["QuoteStream"], Data=json.dumps({"n": i}).encode(), PartitionKey="k")


def mapping_for(aws, recorder):
    deployment = deploy(aws, parameter_overrides={"StreamMode": "PROVISIONED", "ShardCount": 1, "CandleWindowSeconds": 60})
    clock = Clock(0.0)
    mapping = EventSourceMapping(deployment, "CandleAggregator", "QuoteStream", handler=recorder, clock=clock)
    return deployment, mapping, clock


def test_a_window_closes_when_its_time_is_up_without_new_records(aws):
    recorder = Recorder()
    deployment, mapping, clock = mapping_for(aws, recorder)
    put(deployment, 3)
    arrival = None
    clock.now = 1e12  # far future for the fetch; set to inside the window below
    mapping.shards[0].fetch(eager=True)
    arrival = mapping.shards[0].pending[0]["kinesis"]["approximateArrivalTimestamp"]
    start = arrival - arrival % 60
    clock.now = start + 1  # inside the window: the batch is not the window's last
    mapping.poll_once(flush=True)
    assert [e["isFinalInvokeForWindow"] for e in recorder.events] == [False]
    clock.now = start + 60  # the window's end: the final invoke comes without records, with the state
    mapping.poll_once(flush=True)
    final = recorder.events[-1]
    assert (final["isFinalInvokeForWindow"], final["Records"], final["state"]["n"]) == (True, [], 3)
    assert final["window"]["start"].startswith(json.loads(json.dumps(recorder.events[0]["window"]["start"]))[:19])
    mapping.poll_once(flush=True)
    assert len(recorder.events) == 2  # closed once


def test_a_record_of_a_later_window_closes_the_earlier_one_first(aws):
    recorder = Recorder()
    deployment, mapping, clock = mapping_for(aws, recorder)
    put(deployment, 2)
    mapping.shards[0].fetch(eager=True)
    arrival = mapping.shards[0].pending[0]["kinesis"]["approximateArrivalTimestamp"]
    start = arrival - arrival % 60
    clock.now = start + 1
    mapping.poll_once(flush=True)
    # the next records carry a later window's arrival time (as after a quiet minute)
    shard = mapping.shards[0]
    later = [dict(r, kinesis=dict(r["kinesis"], approximateArrivalTimestamp=start + 61)) for r in recorder_records(recorder)]
    shard.pending.extend(later)
    clock.now = start + 61.5
    mapping._process_batch(shard, shard.ready_batch(flush=True))
    kinds = [(e["isFinalInvokeForWindow"], len(e["Records"]), e["window"]["start"]) for e in recorder.events]
    assert kinds[1][:2] == (True, 0) and kinds[1][2] == kinds[0][2]  # the first window closed, state kept
    assert recorder.events[1]["state"]["n"] == 2
    assert kinds[2][2] != kinds[0][2]


def recorder_records(recorder):
    return recorder.events[0]["Records"]
