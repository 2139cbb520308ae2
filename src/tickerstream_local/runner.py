"""The whole template, running locally: moto server, deploy(), every stream event-source mapping (Kinesis,
DynamoDB), every Firehose delivery stream, the REST API + token endpoint, the WebSocket API + its
@connections endpoint; `.tickerstream/local.json` while it runs.

    with LocalStack(api_port=0, moto_port=0, ws_port=0) as stack:   # or: tickerstream local
        ... stack.info["api_url"], stack.info["websocket_url"] ...
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tickerstream_local.faults import FaultPlan
from tickerstream_local.paths import LOCAL_STACK_FILE, running_stack
from tickerstream_local.functions import Handler
from tickerstream_local.server import DEFAULT_MOTO_PORT, MotoServer

log = logging.getLogger("tickerstream.local")
STATE_FILE = LOCAL_STACK_FILE
DEFAULT_REGION = "us-east-1"
DEFAULT_WS_PORT = 3001


class StackAlreadyRunning(RuntimeError):
    """Another local stack is running and owns the state file: starting would overwrite its details."""

    def __init__(self, state_file: Path, info: dict[str, Any]) -> None:
        super().__init__(
            f"a local stack is already running (pid {info.get('pid')}, API {info.get('api_url')}, "
            f"AWS {info.get('aws_endpoint_url')}) and its details are in {state_file}. Stop it first, or run "
            f"this one with its own details file and ports: tickerstream local --state-file <other.json> "
            f"--port 0 --aws-port 0 (tools find it with TICKERSTREAM_LOCAL_STACK_FILE=<other.json>)")
        self.state_file = state_file
        self.info = info


@dataclass
class StopReport:
    """What a stop did with the work still in the stack: drained, flushed, or (past the bound) left."""

    drained: list[str] = field(default_factory=list)  # mappings that processed everything in their stream
    flushed: dict[str, int] = field(default_factory=dict)  # delivery stream -> records delivered at stop
    unfinished: list[str] = field(default_factory=list)  # what could not be finished, and why
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.unfinished


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only (0600) from the first byte: it holds a secret."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)  # an older file's wider mode is not inherited
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@dataclass
class LocalStack:
    api_port: int = 3000
    moto_port: int = DEFAULT_MOTO_PORT
    region: str = DEFAULT_REGION
    stack_name: str = "tickerstream-local"
    template: dict[str, Any] | None = None
    parameter_overrides: dict[str, Any] | None = None
    handlers: dict[str, Handler] | None = None  # stand-ins by function logical id (tests)
    state_file: Path | None = STATE_FILE
    # Firehose reads each source shard about once a second; faster polling only competes with the stack.
    firehose_options: dict[str, Any] = field(default_factory=lambda: {"poll_interval": 1.0})
    moto_in_own_process: bool = True
    # A local AWS endpoint already running (a moto server) to deploy onto instead of starting one; the
    # stack leaves it running when it stops, with everything the stack wrote (tests read the lake there).
    aws_endpoint_url: str | None = None
    # Longest a stop spends letting the mappings drain their streams before it gives up on them.
    stop_timeout: float = 60.0
    faults: FaultPlan | None = None  # faults injected into the functions' AWS calls (see faults.py)
    # Seconds between the local CloudWatch's ticks (EMF, AWS-side metrics, alarms; ops_monitor.py); None: off.
    ops_interval: float | None = 10.0
    # The WebSocket API and its @connections endpoint (0: any free port). None: 3001, or any free port
    # when api_port is 0 (a stack on ephemeral ports never collides on this one either).
    ws_port: int | None = None
    ws_quotas: Any = None  # websocket.Quotas: API Gateway's by default; tests shorten the timeouts

    moto: MotoServer | None = field(default=None, init=False)
    deployment: Any = field(default=None, init=False)
    mappings: list[Any] = field(default_factory=list, init=False)
    firehoses: list[Any] = field(default_factory=list, init=False)
    api: Any = field(default=None, init=False)
    websocket: Any = field(default=None, init=False)  # websocket.LocalWebSocketServer while running
    ops: Any = field(default=None, init=False)  # ops_monitor.OpsMonitor while running
    info: dict[str, Any] = field(default_factory=dict, init=False)
    last_stop: StopReport | None = field(default=None, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False)
    _saved_env: dict[str, str | None] = field(default_factory=dict, init=False)
    _started: bool = field(default=False, init=False)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        if self.aws_endpoint_url:
            return self.aws_endpoint_url.rstrip("/")
        assert self.moto is not None, "the stack is not running"
        return self.moto.endpoint_url

    def start(self) -> LocalStack:
        import boto3

        from tickerstream_local.api import ApiServer, LocalApi
        from tickerstream_local.board import serve_board
        from tickerstream_local.server import ensure_port_free

        self._refuse_if_taken()  # fail before anything starts
        ensure_port_free(self.api_port, "local API")
        if self.ws_port is None:
            self.ws_port = 0 if self.api_port == 0 else DEFAULT_WS_PORT
        ensure_port_free(self.ws_port, "local WebSocket API")
        self._started = True
        self._stop.clear()
        if not self.aws_endpoint_url:
            self.moto = MotoServer(port=self.moto_port, separate_process=self.moto_in_own_process).start()
        try:
            endpoint = self.endpoint_url
            # Everything in this process (CLI clients and the in-process functions) talks to moto only.
            # (restored by stop(), so nothing else in this process keeps pointing at a stopped server)
            self._saved_env = {n: os.environ.get(n) for n in
                               ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
            os.environ["AWS_ENDPOINT_URL"] = endpoint
            for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                os.environ.setdefault(name, "testing")
            os.environ.setdefault("AWS_DEFAULT_REGION", self.region)
            if self.faults is not None:
                self.faults.install(endpoint)  # before the functions load and make their clients
            session = boto3.Session(region_name=self.region, aws_access_key_id="testing",
                                    aws_secret_access_key="testing")
            from tickerstream_local.stack import deploy

            self.deployment = deploy(session, endpoint_url=endpoint, template=self.template,
                                     stack_name=self.stack_name, parameter_overrides=self.parameter_overrides)
            if self.ops_interval is not None:
                from tickerstream_local.ops_monitor import OpsMonitor

                self.ops = OpsMonitor(self.deployment, interval=self.ops_interval).start()  # before the functions load
            self.api = ApiServer(LocalApi(self.deployment, handlers=self.handlers), port=self.api_port).start()
            self._start_websocket()  # before the mappings: the fan-out must load pointing at it
            self._start_mappings()
            self._start_firehoses()
            if self.ops is not None:
                self.ops.attach(firehoses=self.firehoses, api_app=self.api.app)
            self.api_port = self.api.port
            self.info = self.connection_details()
            serve_board(self.api.app, lambda: self.info, self.deployment)  # board_url: connection_details()
            if self.state_file is not None:
                self._refuse_if_taken()  # one started while this one deployed
                write_private(self.state_file, json.dumps(self.info, indent=2) + "\n")
        except BaseException:
            self.stop()
            raise
        return self

    def _refuse_if_taken(self) -> None:
        if self.state_file is None:
            return
        running = running_stack(self.state_file)
        if running is not None and running.get("api_url") != self.info.get("api_url"):
            raise StackAlreadyRunning(self.state_file, running)
        if running is None and self.state_file.exists() and not self.info:
            log.warning("replacing %s: the stack that wrote it is no longer running", self.state_file)

    def _start_websocket(self) -> None:
        from tickerstream_local.websocket_stack import start_websocket

        pool = self.api.app.default_pool()
        self.websocket = start_websocket(self.deployment, port=self.ws_port, issuer=pool.issuer if pool else None,
                                         handlers=self.handlers, quotas=self.ws_quotas)
        if self.websocket is not None:
            self.ws_port = self.websocket.port

    def _start_mappings(self) -> None:
        from tickerstream_local.esm import EventSourceMapping, stream_events

        for function_id, event_name in stream_events(self.deployment):
            handler = (self.handlers or {}).get(function_id)
            mapping = EventSourceMapping(self.deployment, function_id, event_name, handler=handler)
            self.mappings.append(mapping)
            thread = threading.Thread(target=self._run_mapping, args=(mapping,),
                                      name=f"esm-{function_id}-{event_name}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run_mapping(self, mapping: Any) -> None:
        while not self._stop.is_set():
            try:
                mapping.run(self._stop)
            except Exception:  # noqa: BLE001 - keep polling, as Lambda's poller does
                log.exception("event-source mapping %s/%s failed; restarting", mapping.function_id, mapping.event_name)
                self._stop.wait(1)

    def _start_firehoses(self) -> None:
        from tickerstream_local.firehose import LocalFirehose, delivery_streams

        for logical_id in delivery_streams(self.deployment):
            hose = LocalFirehose(self.deployment, logical_id, handlers=self.handlers, **self.firehose_options)
            self.firehoses.append(hose.start())

    def mapping(self, function_id: str) -> Any:
        """The (first) event-source mapping of a function, e.g. to pause() and resume() it."""
        for mapping in self.mappings:
            if mapping.function_id == function_id:
                return mapping
        raise KeyError(f"{function_id} has no running event-source mapping")

    def stop(self) -> StopReport:
        """Stop without losing work, then release everything (idempotent).

        In order: the API stops taking requests; each mapping finishes its invocation in flight and
        drains what its stream holds (all mappings together within `stop_timeout`; what is left past
        it is named in the report and the log); every Firehose delivers its buffers; only then does
        the local AWS stop. Ports are released and local.json removed.
        """
        if not self._started:
            return self.last_stop or StopReport()
        self._started = False
        started = time.monotonic()
        report = StopReport()
        self._stop.set()
        if self.api is not None:
            self.api.stop()
            self.api = None
        deadline = started + self.stop_timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        report.unfinished += [f"{t.name}: its invocation was still running at the stop bound"
                              for t in self._threads if t.is_alive()]
        self._threads.clear()
        if self.moto is not None or self.aws_endpoint_url:
            self._drain_mappings(deadline, report)
        if self.websocket is not None:  # after the drain: the fan-out still had clients to post to
            self.websocket.stop()  # each connection's $disconnect runs, while the local AWS is up
            self.websocket = None
        for hose in self.firehoses:
            before = hose.stats.delivered
            if hose.stop():
                report.flushed[hose.config.name] = hose.stats.delivered - before
            else:
                report.unfinished.append(f"{hose.config.name}: its buffers could not be delivered (see the log)")
        if self.ops is not None:
            self.ops.stop()  # what the functions printed last reaches the local CloudWatch
            self.ops = None
        self.firehoses.clear()
        self.mappings.clear()
        if self.faults is not None:
            self.faults.uninstall()
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}
        self._remove_state_file()
        report.seconds = time.monotonic() - started
        for problem in report.unfinished:
            log.error("stopped with work left: %s", problem)
        self.last_stop = report
        return report

    def _drain_mappings(self, deadline: float, report: StopReport) -> None:
        from tickerstream_local.esm import DrainTimeout

        for mapping in self.mappings:
            name = f"{mapping.function_id}/{mapping.event_name}"
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise DrainTimeout(name, self.stop_timeout, sum(len(s.pending) for s in mapping.shards))
                mapping.drain(timeout=remaining)
                report.drained.append(name)
            except DrainTimeout as exc:
                report.unfinished.append(f"{exc} (the stop bound is {self.stop_timeout:g} s)")
            except Exception as exc:  # noqa: BLE001 - the other mappings and the lake still get their turn
                log.exception("draining %s failed", name)
                report.unfinished.append(f"{name}: draining failed: {type(exc).__name__}: {exc}")

    def _remove_state_file(self) -> None:
        if self.state_file is not None and self.info:
            try:
                current = json.loads(self.state_file.read_text())
                if current.get("api_url") == self.info.get("api_url"):
                    self.state_file.unlink()
            except (FileNotFoundError, ValueError):
                pass

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what clients need -----------------------------------------------------------------------

    def connection_details(self) -> dict[str, Any]:
        from tickerstream_local.cognito_idp import ENDPOINT_PATH

        api_url = self.api.url
        info: dict[str, Any] = {
            "pid": os.getpid(),  # with the API port, tells a running stack's file from a stale one
            "api_url": api_url,
            "token_url": f"{api_url}/oauth2/token",
            "aws_endpoint_url": self.endpoint_url,
            "region": self.region,
            "user_pool_id": None,
            "machine_client_id": None,
            "machine_client_secret": None,
            "user_client_id": None,
            "cognito_endpoint_url": None,
            "issuer": None,
            "resources": dict(self.deployment.physical),
        }
        if self.websocket is not None:  # a template with a WebSocket API has the live board too
            info.update(websocket_url=self.websocket.url, connections_url=self.websocket.connections_url,
                        board_url=f"{api_url}/")  # the board page, served by the local API at `/`
        pool = self.api.app.default_pool()
        if pool is not None:
            machine = pool.machine_client_id()
            info.update(
                user_pool_id=pool.pool_id,
                machine_client_id=machine,
                machine_client_secret=pool.clients[machine].get("ClientSecret") if machine else None,
                user_client_id=pool.user_client_id(),
                cognito_endpoint_url=f"{api_url}{ENDPOINT_PATH}",
                issuer=pool.issuer,
            )
        return info

    def drain(self, timeout: float = 60.0) -> None:
        """Process everything in the streams now and deliver every Firehose buffer (demos, tests)."""
        deadline = time.monotonic() + timeout
        for mapping in self.mappings:
            mapping.drain(timeout=max(1.0, deadline - time.monotonic()))
        for hose in self.firehoses:
            hose.flush()

    def stats(self) -> dict[str, Any]:
        return {
            "mappings": {f"{m.function_id}/{m.event_name}": vars(m.stats) for m in self.mappings},
            "firehoses": {h.config.logical_id: vars(h.stats) for h in self.firehoses},
            "api": {"requests": self.api.app.requests, "rejected": self.api.app.rejected} if self.api else {},
            "websocket": dict(self.websocket.stats) if self.websocket else {},
        }


# ---------------------------------------------------------------------------------------------
# `tickerstream local` lives in local_command.py; main.py registers it through here.


def add_local_commands(subparsers: Any) -> None:
    from tickerstream_local.local_command import add_local_commands as add

    add(subparsers)
