"""The local stack's CloudWatch loop: captured EMF, AWS-side metrics, and the template's alarms judged.

    monitor = OpsMonitor(deployment).start()     # LocalStack does this; tests pass clock= and call tick()
    monitor.attach(firehoses=..., api_app=...)
    monitor.tick(now)                             # what the background thread does every `interval` s

Every tick: the EMF lines the functions printed become datums; once per minute of the clock the queue
depths and Firehose freshness are sampled; everything is put to the local CloudWatch; then every alarm
is evaluated at the clock's time. With the real clock the alarms keep their real periods: an alarm of
Period 60 and 1 evaluation period goes to ALARM within a minute and a tick of the period it breached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from tickerstream_local.alarm_model import AlarmSpec, UnsupportedAlarm
from tickerstream_local.alarms import AlarmEvaluator, AlarmStatus
from tickerstream_local.aws_metrics import InvocationRecorder, count_api_requests, sample_firehoses, sample_queues
from tickerstream_local.emf import EmfCapture
from tickerstream_local.metrics_store import MetricPublisher, MetricStore

log = logging.getLogger("tickerstream.local.ops")
DEFAULT_INTERVAL = 10.0
GAUGE_PERIOD = 60  # SQS and Firehose publish their gauges once a minute


def supported_alarms(deployment: Any) -> tuple[list[AlarmSpec], dict[str, str]]:
    """The template's alarms the evaluator can judge, and why each other one is left out."""
    specs, unsupported = [], {}
    for logical_id, resource in deployment.template["Resources"].items():
        if resource.get("Type") != "AWS::CloudWatch::Alarm" or logical_id not in deployment.physical:
            continue  # not an alarm, or not created (a condition left it out)
        props = deployment.properties(logical_id)
        name = props.get("AlarmName") or deployment.physical.get(logical_id) or deployment.name_for(logical_id)
        try:
            specs.append(AlarmSpec.from_properties(name, props))
        except (UnsupportedAlarm, KeyError, ValueError) as exc:
            unsupported[name] = str(exc)
            log.warning("alarm %s is not evaluated locally: %s", name, exc)
    return specs, unsupported


class OpsMonitor:
    def __init__(self, deployment: Any, *, clock: Callable[[], float] = time.time, interval: float = DEFAULT_INTERVAL,
                 alarms: list[AlarmSpec] | None = None):
        self.deployment = deployment
        self.clock = clock
        self.interval = interval
        self.cloudwatch = deployment.client("cloudwatch")
        self.sqs = deployment.client("sqs")
        self.store = MetricStore()
        self.publisher = MetricPublisher(self.cloudwatch, self.store)
        self.capture = EmfCapture(self.publisher.record)
        names = {lid: deployment.physical.get(lid, lid) for lid, r in deployment.template["Resources"].items()
                 if r.get("Type") == "AWS::Serverless::Function"}
        # Through self.clock, so a test that sets monitor.clock steps every datapoint the stack stamps.
        self.invocations = InvocationRecorder(self.publisher.record, lambda: self.clock(), names)
        self.unsupported: dict[str, str] = {}
        if alarms is None:
            alarms, self.unsupported = supported_alarms(deployment)
        # The samples the longest evaluation range can look at, and a margin; not hours of them.
        self.store.retention = max([s.range_periods * s.period for s in alarms] + [0]) + 600.0
        self.evaluator = AlarmEvaluator(self.store, alarms, self.cloudwatch, deployment.client("sns"),
                                        region=deployment.ctx.region, account_id=deployment.ctx.account_id)
        self.firehoses: list[Any] = []
        self._last_gauge_minute: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self, background: bool = True) -> OpsMonitor:
        """Capture the functions' EMF and count their invocations; with `background`, tick every interval."""
        self.capture.install()
        self.deployment.invocation_observer = self.invocations
        if background:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="ops-monitor", daemon=True)
            self._thread.start()
        return self

    def attach(self, firehoses: list[Any] | None = None, api_app: Any = None) -> None:
        self.firehoses = list(firehoses or [])
        self.invocations.firehose_streams = {hose.config.processor.function_logical_id: hose.config.name
                                             for hose in self.firehoses if hose.config.processor is not None}
        if api_app is not None:
            count_api_requests(api_app, self.deployment, self.publisher.record, lambda: self.clock())

    def stop(self) -> None:
        """A last tick (what the functions printed last is published), then the capture is undone."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        try:
            self.tick()
        except Exception:  # noqa: BLE001 - stopping must go on
            log.exception("the last ops tick failed")
        self.capture.uninstall()
        self.deployment.__dict__.pop("invocation_observer", None)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - keep watching, as CloudWatch does
                log.exception("ops tick failed")

    # -- one step -------------------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> list[Any]:
        """Publish what is pending and evaluate every alarm at `now` (the clock's time if None)."""
        with self._lock:
            now = self.clock() if now is None else now
            self.capture.drain()
            minute = int(now // GAUGE_PERIOD)
            if minute != self._last_gauge_minute:
                self._last_gauge_minute = minute
                self.sample_gauges(now)
            self.publisher.flush()
            changes = self.evaluator.evaluate(now)
            self.store.prune(now)
            return changes

    def sample_gauges(self, now: float) -> None:
        try:
            sample_queues(self.deployment, self.sqs, self.publisher.record, now)
        except Exception:  # noqa: BLE001 - a queue read failing costs one sample, not the loop
            log.exception("sampling queue depths failed")
        sample_firehoses(self.firehoses, self.publisher.record, now)

    def states(self) -> dict[str, AlarmStatus]:
        return dict(self.evaluator.status)
