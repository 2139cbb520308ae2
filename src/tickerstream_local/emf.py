"""The functions' Embedded Metric Format output, turned into CloudWatch metrics as Lambda's log service does.

In Lambda, a function's stdout is its log stream, and CloudWatch Logs extracts a metric from every log
line that is an EMF document (`{"_aws": {"CloudWatchMetrics": [...]}, ...}`). Here the functions run in
the stack's process, so `EmfCapture` puts a tee in front of `sys.stdout`: every line still goes where it
went before (the terminal, or os.devnull in the demo), and lines that start like an EMF document are
handed to a queue. The parsing and the PutMetricData calls happen on the stack's own thread, so the
hot path pays one `str.startswith` per write and a list append per EMF line.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from tickerstream_local.metrics_store import Datum, dimensions_of

log = logging.getLogger("tickerstream.local.emf")
EMF_PREFIXES = ('{"_aws"', '{"_aws" ')  # Powertools writes the _aws key first


class EmfError(ValueError):
    """A log line that claims to be EMF but does not follow the specification."""


def parse_emf(line: str) -> list[Datum]:
    """The metrics an EMF document declares: one datum per metric per dimension set.

    Follows the EMF specification: `_aws.Timestamp` (epoch ms), each CloudWatchMetrics directive's
    Namespace, Dimensions (a list of dimension sets, each a list of keys whose values are top-level
    members; an empty set means no dimension) and Metrics (Name, Unit — default None, StorageResolution —
    default 60); a metric's value
    is the top-level member of its name, a number or an array of numbers (one sample each).
    """
    try:
        document = json.loads(line)
        metadata = document["_aws"]
        timestamp = float(metadata["Timestamp"]) / 1000
        directives = metadata["CloudWatchMetrics"]
    except (ValueError, KeyError, TypeError) as exc:
        raise EmfError(f"not an EMF document: {exc}") from None
    datums = []
    for directive in directives:
        namespace = directive["Namespace"]
        for dimension_set in directive.get("Dimensions") or [[]]:
            try:
                dimensions = dimensions_of({name: document[name] for name in dimension_set})
            except KeyError as missing:
                raise EmfError(f"dimension {missing} has no value in the document") from None
            for metric in directive.get("Metrics", []):
                name = metric["Name"]
                if name not in document:
                    raise EmfError(f"metric {name!r} has no value in the document")
                raw = document[name]
                values = tuple(float(v) for v in (raw if isinstance(raw, list) else [raw]))
                if values:
                    datums.append(Datum(namespace, name, dimensions, timestamp, values, metric.get("Unit", "None"),
                                        int(metric.get("StorageResolution", 60))))
    return datums


class _TeeStream:
    """sys.stdout's stand-in: passes everything through and queues EMF lines."""

    def __init__(self, target: Any, sink: Callable[[str], None]):
        self._target = target
        self._sink = sink

    def write(self, text: str) -> int:
        if text.startswith(EMF_PREFIXES):
            self._sink(text)
        return self._target.write(text)

    def detach(self) -> None:
        """Stop queuing (the capture has stopped) but keep passing through: something may still hold us."""
        self._sink = lambda text: None

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding ...
        return getattr(self._target, name)


class EmfCapture:
    """Tee sys.stdout while the stack runs; `drain()` turns the queued EMF lines into datums."""

    def __init__(self, record: Callable[[Datum], None]):
        self.record = record
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._tee: _TeeStream | None = None
        self._previous: Any = None
        self.metrics = 0
        self.rejected = 0  # lines that looked like EMF but were not (logged, never raised into a function)

    def _queue(self, text: str) -> None:
        with self._lock:
            self._lines.append(text)

    def install(self) -> None:
        self._previous = sys.stdout
        self._tee = _TeeStream(sys.stdout, self._queue)
        sys.stdout = self._tee

    def uninstall(self) -> None:
        # Only undo our own redirection: if something redirected stdout after us, leave theirs alone.
        if self._tee is not None:
            self._tee.detach()
            if sys.stdout is self._tee:
                sys.stdout = self._previous
        self._tee = None

    def drain(self) -> int:
        with self._lock:
            lines, self._lines = self._lines, []
        for line in lines:
            try:
                datums = parse_emf(line)
            except EmfError as exc:
                self.rejected += 1
                log.warning("ignored a malformed EMF line (%s): %.200s", exc, line)
                continue
            for datum in datums:
                self.record(datum)
                self.metrics += 1
        return len(lines)
