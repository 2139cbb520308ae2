"""One batch's fan-out: find each message's subscribers, push, forget and remove the gone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from board_fanout.push import PushOutcome, Pusher
from board_fanout.subscribers import SubscriberIndex


@dataclass(frozen=True)
class Outgoing:
    topics: tuple[str, ...]  # e.g. ("TICKER#QXZ", "SECTOR#HEALTHCARE")
    data: bytes


@dataclass
class FanoutReport:
    messages: int = 0
    deliveries: int = 0
    unanswered_topics: int = 0  # topics whose lookup failed or ran past the deadline
    push: PushOutcome = field(default_factory=PushOutcome)
    items_removed: int = 0
    cleanup_failed: bool = False


def deliveries_for(outgoing: list[Outgoing], subscribers: dict[str, frozenset[str]]) -> list[tuple[str, bytes]]:
    """(connection id, data) per message and subscriber; a connection on two of a message's topics gets it once."""
    out = []
    for message in outgoing:
        connections: set[str] = set()
        for topic in message.topics:
            connections |= subscribers.get(topic, frozenset())
        out += [(connection_id, message.data) for connection_id in sorted(connections)]
    return out


def fan_out(outgoing: list[Outgoing], index: SubscriberIndex, pusher: Pusher, deadline: float, grace: float,
            remove: Callable[[set[str]], int]) -> FanoutReport:
    report = FanoutReport(messages=len(outgoing))
    if not outgoing:
        return report
    topics = [topic for message in outgoing for topic in message.topics]
    subscribers = index.lookup(topics, deadline)
    report.unanswered_topics = len(set(topics) - set(subscribers))
    deliveries = deliveries_for(outgoing, subscribers)
    report.deliveries = len(deliveries)
    report.push = pusher.push(deliveries, deadline, grace) if deliveries else PushOutcome()
    if report.push.gone:
        _reach_replacements(outgoing, subscribers, index, pusher, deadline, grace, report)
        index.forget(report.push.gone)
        try:
            report.items_removed = remove(report.push.gone)
        except Exception:  # noqa: BLE001 - their items expire by TTL anyway; the next push finds them gone again
            report.cleanup_failed = True
    return report


def _reach_replacements(outgoing: list[Outgoing], subscribers: dict[str, frozenset[str]], index: SubscriberIndex,
                        pusher: Pusher, deadline: float, grace: float, report: FanoutReport) -> None:
    """A gone connection in a cached lookup means the lookup is out of date, most often because that client
    reconnected (API Gateway closes every connection after 2 hours) and subscribed again on a new
    connection the cache does not know yet: look those topics up again and push to the newcomers now,
    rather than leave them without this batch's quotes (a quiet ticker may send no other)."""
    stale = {topic for topic, connections in subscribers.items() if connections & report.push.gone}
    index.invalidate(stale)
    fresh = {**subscribers, **index.lookup(stale, deadline)}
    newcomers = []
    for message in outgoing:
        if stale.isdisjoint(message.topics):
            continue
        before = set().union(*(subscribers.get(t, frozenset()) for t in message.topics))
        after = set().union(*(fresh.get(t, frozenset()) for t in message.topics))
        newcomers += [(connection_id, message.data) for connection_id in sorted(after - before - report.push.gone)]
    if not newcomers:
        return
    second = pusher.push(newcomers, deadline, grace)
    report.deliveries += len(newcomers)
    report.push.sent += second.sent
    report.push.failed += second.failed
    report.push.skipped += second.skipped
    report.push.gone |= second.gone
    report.push.gone_pushes += second.gone_pushes
