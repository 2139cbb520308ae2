"""The metrics AWS itself publishes about the template's resources, computed by the local stack.

Names, namespaces, dimensions and units are AWS's:
- AWS/Lambda, FunctionName: Invocations, Errors, Throttles (always 0: nothing throttles locally), Duration
  (ms) per invocation, and IteratorAge (ms: now - arrival of the last record of the batch) for every
  invocation by a stream event-source mapping.
- AWS/ApiGateway, ApiName + Stage: Count, 4XXError, 5XXError (0 or 1 per request), Latency (ms).
- AWS/SQS, QueueName: ApproximateNumberOfMessagesVisible, once a minute (as SQS publishes it).
- AWS/Firehose, DeliveryStreamName: ExecuteProcessing.Success (1 or 0 per transform invocation: 0 when the
  function raised), and DeliveryToS3.DataFreshness (s: age of the oldest record the delivery
  stream holds), once a minute while it holds records.
Kinesis's WriteProvisionedThroughputExceeded is not published: moto never throttles a write.
The datapoints carry the monitor's clock (steppable in tests); durations and ages are measured on the wall
clock, where they happen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tickerstream_local.metrics_store import Datum

Record = Callable[[Datum], None]


class InvocationRecorder:
    """Wraps the functions' in-process handlers (handlers.resolve_handler asks it) to count invocations."""

    def __init__(self, record: Record, clock: Callable[[], float], function_names: dict[str, str]):
        self.record = record
        self.clock = clock
        self.function_names = function_names
        self._wrapped: dict[tuple[str, int], Callable[..., Any]] = {}
        # Transform function logical id -> delivery stream: Firehose's own view of those invocations.
        self.firehose_streams: dict[str, str] = {}

    def wrap(self, logical_id: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        key = (logical_id, id(handler))
        if key not in self._wrapped:
            self._wrapped[key] = self._counting(logical_id, handler)
        return self._wrapped[key]

    def _counting(self, logical_id: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        dimensions = (("FunctionName", self.function_names.get(logical_id, logical_id)),)

        def invoke(event: Any, context: Any) -> Any:
            started = time.perf_counter()
            failed = True
            try:
                result = handler(event, context)
                failed = False
                return result
            finally:
                self._invoked(dimensions, event, (time.perf_counter() - started) * 1000, failed)
                if logical_id in self.firehose_streams:
                    stream = (("DeliveryStreamName", self.firehose_streams[logical_id]),)
                    self.record(Datum("AWS/Firehose", "ExecuteProcessing.Success", stream, self.clock(),
                                      (float(not failed),), "Count"))

        invoke.__wrapped__ = handler  # type: ignore[attr-defined]
        return invoke

    def _invoked(self, dimensions: tuple[tuple[str, str], ...], event: Any, duration_ms: float, failed: bool) -> None:
        now = self.clock()
        record = self.record
        record(Datum("AWS/Lambda", "Invocations", dimensions, now, (1.0,), "Count"))
        record(Datum("AWS/Lambda", "Errors", dimensions, now, (float(failed),), "Count"))
        record(Datum("AWS/Lambda", "Throttles", dimensions, now, (0.0,), "Count"))
        record(Datum("AWS/Lambda", "Duration", dimensions, now, (duration_ms,), "Milliseconds"))
        records = event.get("Records") if isinstance(event, dict) else None
        if records and isinstance(records[-1], dict) and "kinesis" in records[-1]:
            arrival = records[-1]["kinesis"].get("approximateArrivalTimestamp")
            if isinstance(arrival, int | float):
                age_ms = max(0.0, (time.time() - arrival) * 1000)
                record(Datum("AWS/Lambda", "IteratorAge", dimensions, now, (age_ms,), "Milliseconds"))


def count_api_requests(app: Any, deployment: Any, record: Record, clock: Callable[[], float]) -> None:
    """API Gateway's per-request metrics for the local REST API (app: api.LocalApi), by ApiName and Stage.

    Requests to the local Cognito endpoints the same server answers (token, identity) are not API
    Gateway's and are not counted.
    """
    original = app.dispatch
    names: dict[str, str] = {}
    for config in app.configs.values():
        props = deployment.properties(config.logical_id)
        names[config.logical_id] = str(props.get("Name") or deployment.ctx.stack_name)

    def dispatch(request: Any) -> Any:
        started = time.perf_counter()
        status = 500
        try:
            response = original(request)
            status = response.status_code
            return response
        finally:
            if request.path != "/oauth2/token" and not app.identity.handles(request.path):
                config = app.api_for(request.path)
                if config is not None:
                    dimensions = (("ApiName", names.get(config.logical_id, config.logical_id)), ("Stage", config.stage))
                    now = clock()
                    latency = (time.perf_counter() - started) * 1000
                    record(Datum("AWS/ApiGateway", "Count", dimensions, now, (1.0,), "Count"))
                    record(Datum("AWS/ApiGateway", "4XXError", dimensions, now, (float(400 <= status < 500),), "Count"))
                    record(Datum("AWS/ApiGateway", "5XXError", dimensions, now, (float(status >= 500),), "Count"))
                    record(Datum("AWS/ApiGateway", "Latency", dimensions, now, (latency,), "Milliseconds"))

    app.dispatch = dispatch


def sample_queues(deployment: Any, sqs: Any, record: Record, now: float) -> None:
    for logical_id, resource in deployment.template["Resources"].items():
        if resource.get("Type") != "AWS::SQS::Queue" or logical_id not in deployment.ctx.refs:
            continue
        url = deployment.ctx.refs[logical_id]
        name = deployment.ctx.attributes.get(logical_id, {}).get("QueueName") or url.rsplit("/", 1)[-1]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        visible = float(attributes["Attributes"].get("ApproximateNumberOfMessages", 0))
        record(Datum("AWS/SQS", "ApproximateNumberOfMessagesVisible", (("QueueName", name),), now, (visible,), "Count"))


def sample_firehoses(firehoses: list[Any], record: Record, now: float) -> None:
    wall = time.time()
    for hose in firehoses:
        arrivals = [source.arrival_ms for source in list(getattr(hose, "_pending", []))]
        for buffer in list(getattr(hose, "_buffers", {}).values()):
            arrivals += [arrival for _, arrival in list(buffer.records)]
        if not arrivals:
            continue  # nothing held: Firehose has no freshness to report
        age = max(0.0, wall - min(arrivals) / 1000)
        record(Datum("AWS/Firehose", "DeliveryToS3.DataFreshness", (("DeliveryStreamName", hose.config.name),),
                     now, (age,), "Seconds"))
