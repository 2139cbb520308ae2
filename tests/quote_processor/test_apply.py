"""apply_plan's checkpoint rule, as plain logic: fake store and quarantine, no AWS."""

import time

from hypothesis import given
from hypothesis import strategies as st

from quote_processor.apply import apply_plan
from quote_processor.batch import plan_batch
from quote_processor.store import WriteNotDurable, WriteResult
from support.processor import make_record, quote
from support.properties import budget


class FakeStore:
    def __init__(self, fail_tickers=()):
        self.fail, self.applied = set(fail_tickers), []

    def apply(self, update, now):
        if update.ticker in self.fail:
            raise WriteNotDurable("throttled")
        self.applied.append(update.ticker)
        return WriteResult(len(update.entries), 0, 1)

    def packs(self, updates):
        return [[update] for update in updates]

    def apply_pack(self, pack, now):
        return [(update, self.apply(update, now)) for update in pack], 0


class FakeQuarantine:
    def __init__(self, reject_index=None):
        self.reject_index, self.sent = reject_index, []

    def send(self, chunk):
        indexes = [r.origin.index for r, _ in chunk]
        self.sent.append(indexes)
        if self.reject_index in indexes:
            return self.reject_index
        return None


def plan(items):
    return plan_batch([make_record(item, 100 + i) for i, item in enumerate(items)])


def test_partly_failed_quarantine_chunk_checkpoints_before_a_ticker_it_overtook():
    # invalid at 0 and 3, a ticker first seen at 1: the chunk [0, 3] runs first (first index 0),
    # message 3 is refused, and ticker B (index 1) never ran — the checkpoint must be 1, not 3
    items = [b"x", quote("B", 1), quote("B", 2), b"y"]
    store, quarantine = FakeStore(), FakeQuarantine(reject_index=3)
    outcome = apply_plan(plan(items), store, quarantine, "arn", time.time)
    assert quarantine.sent == [[0, 3]]
    assert store.applied == []
    assert outcome.failed_index == 1


def test_failed_ticker_stops_later_units_and_is_the_checkpoint():
    items = [quote("A", 1), quote("B", 1), b"bad", quote("C", 1), quote("A", 2)]
    store, quarantine = FakeStore(fail_tickers={"B"}), FakeQuarantine()
    outcome = apply_plan(plan(items), store, quarantine, "arn", time.time)
    assert store.applied == ["A"]
    assert quarantine.sent == []  # the chunk (index 2) comes after B: not sent
    assert outcome.failed_index == 1
    assert outcome.applied == 2  # A's two quotes


def test_everything_durable_means_no_checkpoint():
    items = [quote("A", 1), b"bad", quote("B", 1)]
    store, quarantine = FakeStore(), FakeQuarantine()
    outcome = apply_plan(plan(items), store, quarantine, "arn", time.time)
    assert outcome.failed_index is None
    assert (outcome.applied, outcome.quarantined, outcome.write_requests) == (2, 1, 3)


class SlowFakeStore(FakeStore):
    """Writes take a moment, so concurrent units really overlap."""

    def apply(self, update, now):
        time.sleep(0.001)
        return super().apply(update, now)


@budget(60)
@given(
    tickers=st.lists(st.sampled_from("ABCDEFGHIJ"), min_size=1, max_size=30),
    failing=st.sets(st.sampled_from("ABCDEFGHIJ"), max_size=4),
    concurrency=st.integers(1, 6),
)
def test_concurrent_units_checkpoint_at_the_lowest_first_record_not_written(tickers, failing, concurrency):
    batch = plan([quote(t, i + 1) for i, t in enumerate(tickers)])
    store = SlowFakeStore(fail_tickers=failing)
    outcome = apply_plan(batch, store, FakeQuarantine(), "arn", time.time, concurrency)

    first_record = {ticker: update.first_index for ticker, update in batch.updates.items()}
    not_written = [first_record[t] for t in first_record if t not in store.applied]
    assert outcome.failed_index == (min(not_written) if not_written else None)
    # every record before the checkpoint is its ticker's, and that ticker was written
    for index, ticker in enumerate(tickers[: outcome.failed_index]):
        assert ticker in store.applied, f"record {index} ({ticker}) is before the checkpoint but not written"
    assert sorted(store.applied) == sorted(set(store.applied))  # no ticker written twice
    if failing & set(tickers):
        assert outcome.failed_index <= min(first_record[t] for t in failing & set(tickers))
    assert outcome.applied == sum(1 for t in tickers if t in store.applied)
