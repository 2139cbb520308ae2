"""QuoteProcessor against Lambda's Kinesis contract: random streams over 1-3 shards (plain records,
KPL aggregates, invalid records, a ticker DynamoDB always refuses), random batching, replays, and
faults at random SDK calls. Driven by tests/support/kinesis_contract.py on in-process moto.

After every invocation: no ticker's stored position moves backwards, and its item is the quote at that
position; every record before the first reported failure is durable (applied or quarantined with its
reason); every sector summary equals exactly the quotes applied so far. At the end: every ticker holds
its last quote, every quote is counted once, every bad record is quarantined.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from decimal import Decimal

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator
from hypothesis import event, given, note
from hypothesis import strategies as st

from support.kinesis_contract import FAULT_KINDS, FaultySdk, deliver, mapping_settings, Shard
from support.processor import STREAM_ARN, touches_ticker
from support.properties import budget
from tickerstream.codec import position_key

TICKERS = ["AAA", "BBB", "CCC", "DDD", "EEE"]
POISON = "PZN"  # DynamoDB refuses every write of it for good (as it would an unstorable value)
SECTORS = ["TECH", "ENERGY"]
CHANGES = [0, 0.5, -0.25, 0.000001, -999999.999999, 12.345678, 1]
PRICES = [0.000001, 1, 84.51, 999999999999.99]
# bytes that are no quote, with the reason QuoteProcessor must give them
INVALID = [
    (b"not json", "invalid_json"),
    (b"[1, 2]", "not_an_object"),
    (b'{"ticker_symbol":"AAA","sector":"TECH","change":0,"price":-1}', "invalid_quote"),
    (b'{"ticker_symbol":"AAA","sector":"TECH","change":1e-7,"price":1}', "invalid_quote"),
    (b"\xff\xfe", "invalid_utf8"),
]
BAD_BASE64 = "this is not base64!"
SETTINGS = mapping_settings()


def shard_tickers(shard: int, shards: int) -> list[str]:
    # producers use the ticker as partition key: a ticker lives on one shard
    return [t for i, t in enumerate([*TICKERS, POISON]) if i % shards == shard]


@st.composite
def user_records(draw, tickers: list[str]):
    if draw(st.integers(0, 5)) == 0:
        return draw(st.sampled_from(INVALID))
    quote = {
        "ticker_symbol": draw(st.sampled_from(tickers)),
        "sector": draw(st.sampled_from(SECTORS)),
        "change": draw(st.sampled_from(CHANGES)),
        "price": draw(st.sampled_from(PRICES)),
    }
    return json.dumps(quote).encode(), None


@st.composite
def streams(draw):
    shards = draw(st.integers(1, 3))
    stream = []
    for shard in range(shards):
        tickers = shard_tickers(shard, shards)
        shard_id = f"shardId-{shard:012d}"
        base = 49654545165112456784571549023486612048960102839364386818 + shard * 10**20
        records = []
        for i in range(draw(st.integers(0, 14))):
            sequence = str(base + i * 7919)
            kind = draw(st.sampled_from(["plain", "plain", "plain", "aggregate", "bad_base64"]))
            if kind == "bad_base64":
                users, data = [(None, "invalid_base64")], BAD_BASE64
            elif kind == "plain":
                users = [draw(user_records(tickers))]
                data = base64.b64encode(users[0][0]).decode()
            else:
                users = draw(st.lists(user_records(tickers), min_size=1, max_size=4))
                aggregator = RecordAggregator()
                for raw, _ in users:
                    aggregator.add_user_record("agg", raw)
                data = base64.b64encode(aggregator.clear_and_get().get_contents()[2]).decode()
            records.append(
                (
                    kind == "aggregate",
                    {
                        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "p", "sequenceNumber": sequence,
                                    "data": data, "approximateArrivalTimestamp": 1763700000.0 + i},
                        "eventSource": "aws:kinesis", "eventID": f"{shard_id}:{sequence}",
                        "eventSourceARN": STREAM_ARN, "awsRegion": "us-east-1",
                    },
                    users,
                )
            )
        stream.append((shard_id, records))
    return stream


def describe(stream) -> str:
    """The stream in short: per shard, each record's last sequence digits and its user records."""
    lines = []
    for shard_id, records in stream:
        parts = []
        for aggregated, record, users in records:
            shown = []
            for raw, reason in users:
                if reason is None:
                    quote = json.loads(raw)
                    shown.append(f"{quote['ticker_symbol']}:{quote['sector']}:{quote['change']}")
                else:
                    shown.append(reason)
            parts.append(f"{record['kinesis']['sequenceNumber'][-5:]}={'agg' if aggregated else ''}{shown}")
        lines.append(f"{shard_id[-1]}: {' '.join(parts)}")
    return "\n".join(lines)


class Reference:
    """What the stream holds: every user record with its place, and what must become of it."""

    def __init__(self, stream):
        self.quotes: dict[str, dict[str, dict]] = {}  # ticker -> position -> quote
        self.expected: dict[str, list[tuple[str, str, int, str | None]]] = {}  # sequence -> user records
        for shard_id, records in stream:
            for aggregated, record, users in records:
                sequence = record["kinesis"]["sequenceNumber"]
                outcomes = []
                for sub, (raw, reason) in enumerate(users):
                    sub = sub if aggregated else 0
                    if reason is None:
                        quote = json.loads(raw)
                        ticker = quote["ticker_symbol"]
                        self.quotes.setdefault(ticker, {})[position_key(sequence, sub)] = quote
                        outcomes.append((shard_id, ticker, sub, "unstorable" if ticker == POISON else None))
                    else:
                        outcomes.append((shard_id, None, sub, reason))
                self.expected[sequence] = outcomes

    def applied(self, stored: dict[str, str]) -> dict[str, tuple[int, Decimal, int, int]]:
        """Sector summaries that exactly the quotes at or before each ticker's stored position make."""
        sums: dict[str, list] = {}
        for ticker, quotes in self.quotes.items():
            if ticker == POISON or ticker not in stored:
                continue
            for position, quote in quotes.items():
                if position <= stored[ticker]:
                    s = sums.setdefault(quote["sector"], [0, Decimal(0), 0, 0])
                    s[0] += 1
                    s[1] += Decimal(repr(quote["change"]))
                    s[2] += quote["change"] > 0
                    s[3] += quote["change"] < 0
        return {sector: tuple(s) for sector, s in sums.items()}


def number(attribute) -> Decimal:
    return Decimal(attribute.value)


class MotoState:
    """Reads the table and the quarantine queue straight from moto's in-process backends: a boto3
    round trip through moto costs ~40 ms, and the invariants are checked after every invocation."""

    def __init__(self, deployment):
        from moto.dynamodb.models import dynamodb_backends
        from moto.sqs.models import sqs_backends

        account, region = deployment.ctx.account_id, "us-east-1"
        self._dynamodb, self._table_name = dynamodb_backends[account][region], deployment.physical["QuotesTable"]
        self.queue = sqs_backends[account][region].get_queue(deployment.physical["QuarantineQueue"])

    @property
    def table(self):
        return self._dynamodb.get_table(self._table_name)  # TransactWriteItems replaces the table object

    def clear(self) -> None:
        self.table.items.clear()
        self.queue._messages.clear()

    def table_state(self) -> tuple[dict[str, dict], dict[str, tuple]]:
        latest, summaries = {}, {}
        for item in self.table.all_items():
            attrs = item.attrs
            if attrs["sk"].value == "LATEST":
                latest[attrs["ticker_symbol"].value] = {
                    "position": attrs["position"].value, "price": number(attrs["price"]),
                    "change": number(attrs["change"]), "sector": attrs["sector"].value,
                }
            elif attrs["quote_count"].value != "0":
                summaries[attrs["sector"].value] = (
                    int(attrs["quote_count"].value), number(attrs["change_sum"]),
                    int(attrs["advances"].value), int(attrs["declines"].value),
                )
        return latest, summaries

    def quarantined(self) -> Counter:
        """(shard, sequence number, sub-sequence number, reason) of every message in the queue."""
        found: Counter = Counter()
        for message in self.queue._messages:
            body = json.loads(message.body)
            found[(body["shard_id"], body["sequence_number"], body["sub_sequence_number"], body["reason"])] += 1
        return found


@pytest.fixture
def harness(deployment, quote_processor, lambda_context):
    state = MotoState(deployment)
    real_store, real_queue = quote_processor.store._client, quote_processor.quarantine._client

    def reset(sdk: FaultySdk, concurrency: int, pack: int):
        state.clear()
        quote_processor.store._client = sdk.wrap(real_store)
        quote_processor.quarantine._client = sdk.wrap(real_queue)
        quote_processor.WRITE_CONCURRENCY = concurrency
        quote_processor.store.max_pack_tickers = pack

    return {"reset": reset, "invoke": lambda event: quote_processor.handler(event, lambda_context), "state": state}


def refuse_poison(operation, kwargs):
    return operation == "transact_write_items" and touches_ticker(kwargs, POISON)


@budget(100)
@given(
    stream=streams(),
    schedule=st.dictionaries(st.integers(1, 30), st.sampled_from(FAULT_KINDS), max_size=5),
    steps=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 12), st.integers(0, 9)), min_size=1, max_size=40),
    concurrency=st.sampled_from([3, 1]),  # write units at a time
    pack=st.sampled_from([2, 100, 1]),  # tickers per transaction at most
)
def test_quote_processor_keeps_lambdas_kinesis_contract(harness, stream, schedule, steps, concurrency, pack):
    sdk = FaultySdk(schedule, refuse_poison)
    harness["reset"](sdk, concurrency, pack)
    note(f"write concurrency {concurrency}, at most {pack} tickers per transaction")
    reference = Reference(stream)
    note(describe(stream))
    shards = [Shard(shard_id, [record for _, record, _ in records]) for shard_id, records in stream]
    previous: dict[str, str] = {}
    state = harness["state"]

    def invariants(delivery):
        latest, summaries = state.table_state()
        stored = {ticker: item["position"] for ticker, item in latest.items()}
        for ticker, position in stored.items():
            assert ticker != POISON
            assert position >= previous.get(ticker, ""), f"{ticker} moved backwards"
            quote = reference.quotes[ticker][position]
            assert (latest[ticker]["price"], latest[ticker]["change"], latest[ticker]["sector"]) == (
                Decimal(repr(quote["price"])), Decimal(repr(quote["change"])), quote["sector"])
        previous.update(stored)
        messages = state.quarantined()
        for record in delivery.records[: delivery.durable]:
            sequence = record["kinesis"]["sequenceNumber"]
            for shard_id, ticker, sub, reason in reference.expected[sequence]:
                if reason is None:
                    assert stored.get(ticker, "") >= position_key(sequence, sub), f"{ticker} {sequence}/{sub} reported done, not applied"
                else:
                    assert messages[(shard_id, sequence, sub, reason)], f"{sequence}/{sub} reported done, not quarantined ({reason})"
        assert summaries == reference.applied(stored)

    # the drawn steps, then enough plain deliveries to drain every shard whatever the faults left
    invocations = replays = 0
    for shard_choice, size, rewind in steps + [(i, SETTINGS.batch_size, 0) for i in range(len(shards))] * 20:
        shard = shards[shard_choice % len(shards)]
        if rewind == 9 and not shard.pending and shard.checkpoint:  # a replay of checkpointed records
            shard.checkpoint = max(0, shard.checkpoint - size)
            replays += 1
        calls_before = sdk.calls
        delivery = deliver(shard, size, SETTINGS, harness["invoke"])
        if delivery is not None:
            invocations += 1
            faults = [f"{kind} at {name}" for number, name, kind in sdk.injected if number > calls_before]
            outcome = f"error {type(delivery.error).__name__}" if delivery.error else f"{delivery.durable} durable"
            note(f"invocation {invocations}: {shard.shard_id[-1]} {[r['kinesis']['sequenceNumber'][-5:] for r in delivery.records]} -> {outcome} {faults}")
            invariants(delivery)

    assert all(shard.done for shard in shards), "the stream was not drained"
    latest, summaries = state.table_state()
    messages = state.quarantined()
    for ticker, quotes in reference.quotes.items():
        if ticker != POISON:
            assert latest[ticker]["position"] == max(quotes)
    assert summaries == reference.applied({t: max(q) for t, q in reference.quotes.items()})
    for sequence, outcomes in reference.expected.items():
        for shard_id, _, sub, reason in outcomes:
            if reason is not None:
                assert messages[(shard_id, sequence, sub, reason)] >= 1
    event(f"shards: {len(shards)}")
    event(f"write concurrency {concurrency}, pack {pack}")
    event(f"replays: {min(replays, 2)}{'+' if replays > 2 else ''}")
    event(f"KPL aggregates: {'yes' if any(a for _, records in stream for a, _, _ in records) else 'no'}")
    event(f"refused ticker {POISON}: {'yes' if POISON in reference.quotes else 'no'}")
    event(f"invocations: {'<=5' if invocations <= 5 else '6-15' if invocations <= 15 else '>15'}")
    for _, _, kind in sdk.injected:
        event(f"fault injected: {kind}")
