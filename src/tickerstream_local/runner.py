"""The whole template, running locally: moto server, deploy(), every Kinesis event-source mapping, every
Firehose delivery stream, the REST API + token endpoint; `.tickerstream/local.json` while it runs.

    with LocalStack(api_port=0, moto_port=0) as stack:   # or: tickerstream local
        ... stack.info["api_url"] ...
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tickerstream_local.paths import LOCAL_STACK_FILE
from tickerstream_local.template import REPO_ROOT
from tickerstream_local.functions import Handler
from tickerstream_local.server import DEFAULT_MOTO_PORT, MotoServer

log = logging.getLogger("tickerstream.local")
STATE_FILE = LOCAL_STACK_FILE
DEFAULT_REGION = "us-east-1"


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

    moto: MotoServer | None = field(default=None, init=False)
    deployment: Any = field(default=None, init=False)
    mappings: list[Any] = field(default_factory=list, init=False)
    firehoses: list[Any] = field(default_factory=list, init=False)
    api: Any = field(default=None, init=False)
    info: dict[str, Any] = field(default_factory=dict, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False)
    _saved_env: dict[str, str | None] = field(default_factory=dict, init=False)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> LocalStack:
        import boto3

        from tickerstream_local.api import ApiServer, LocalApi
        from tickerstream_local.server import ensure_port_free

        ensure_port_free(self.api_port, "local API")  # fail before anything starts
        self.moto = MotoServer(port=self.moto_port, separate_process=self.moto_in_own_process).start()
        try:
            endpoint = self.moto.endpoint_url
            # Everything in this process (CLI clients and the in-process functions) talks to moto only.
            # (restored by stop(), so nothing else in this process keeps pointing at a stopped server)
            self._saved_env = {n: os.environ.get(n) for n in
                               ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
            os.environ["AWS_ENDPOINT_URL"] = endpoint
            for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                os.environ.setdefault(name, "testing")
            os.environ.setdefault("AWS_DEFAULT_REGION", self.region)
            session = boto3.Session(region_name=self.region, aws_access_key_id="testing",
                                    aws_secret_access_key="testing")
            from tickerstream_local.stack import deploy

            self.deployment = deploy(session, endpoint_url=endpoint, template=self.template,
                                     stack_name=self.stack_name, parameter_overrides=self.parameter_overrides)
            self._start_mappings()
            self._start_firehoses()
            self.api = ApiServer(LocalApi(self.deployment, handlers=self.handlers), port=self.api_port).start()
            self.api_port = self.api.port
            self.info = self.connection_details()
            if self.state_file is not None:
                self.state_file.parent.mkdir(parents=True, exist_ok=True)
                self.state_file.write_text(json.dumps(self.info, indent=2) + "\n")
        except BaseException:
            self.stop()
            raise
        return self

    def _start_mappings(self) -> None:
        from tickerstream_local.esm import EventSourceMapping

        for function_id, resource in self.deployment.template["Resources"].items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            for event_name, event in (resource["Properties"].get("Events") or {}).items():
                if event.get("Type") != "Kinesis":
                    continue
                if not self.deployment.resolve(event["Properties"].get("Enabled", True)):
                    continue
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

    def stop(self) -> None:
        """Stop everything this stack started, release its ports and remove local.json (idempotent)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
        for hose in self.firehoses:
            hose.stop()
        self.firehoses.clear()
        if self.api is not None:
            self.api.stop()
            self.api = None
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}
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
        from tickerstream_local.cognito import pool_config, user_pools

        api_url = self.api.url
        info: dict[str, Any] = {
            "api_url": api_url,
            "token_url": f"{api_url}/oauth2/token",
            "aws_endpoint_url": self.moto.endpoint_url,
            "region": self.region,
            "user_pool_id": None,
            "machine_client_id": None,
            "machine_client_secret": None,
            "user_client_id": None,
            "resources": dict(self.deployment.physical),
        }
        pools = user_pools(self.deployment)
        if pools:
            pool = pool_config(self.deployment, pools[0])
            machine = pool.machine_client_id()
            info.update(
                user_pool_id=pool.pool_id,
                machine_client_id=machine,
                machine_client_secret=pool.clients[machine].get("ClientSecret") if machine else None,
                user_client_id=pool.user_client_id(),
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
        }


# ---------------------------------------------------------------------------------------------
# `tickerstream local`


def usage_lines(info: dict[str, Any], routes: list[Any]) -> list[str]:
    api, token_url = info["api_url"], info["token_url"]
    lines = [
        f"API:            {api}",
        f"Token endpoint: {token_url}",
        f"AWS endpoint:   {info['aws_endpoint_url']}  (region {info['region']})",
        f"Connection details: {STATE_FILE.relative_to(REPO_ROOT)}",
    ]
    if info.get("machine_client_id"):
        lines += [
            "",
            "Fetch a machine token:",
            "  TOKEN=$(.venv/bin/tickerstream token)        # or, by hand:",
            f"  TOKEN=$(curl -s -u '{info['machine_client_id']}:{info['machine_client_secret']}' "
            f"-d grant_type=client_credentials {token_url} | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
        ]
    lines += ["", "Try:"]
    for route in routes:
        path = route.path.replace("{ticker}", "AAPL").replace("{sector}", "TECHNOLOGY")
        if route.method == "GET" and path == "/quotes":
            path += "?sector=TECHNOLOGY"
        auth = "" if route.authorizer is None else ' -H "Authorization: Bearer $TOKEN"'
        if route.method == "POST":
            data = (" -H 'Content-Type: application/json' -d '{\"ticker_symbol\":\"AAPL\","
                    "\"sector\":\"TECHNOLOGY\",\"change\":0.42,\"price\":190.5}'")
            lines.append(f"  curl -s -X POST{auth}{data} {api}{path}")
        else:
            lines.append(f"  curl -s{auth} {api}{path}")
    return lines


def run_local(args: argparse.Namespace) -> int:
    from tickerstream_local.api import api_routes
    from tickerstream_local.server import PortBusyError

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    stack = LocalStack(api_port=args.port, moto_port=args.aws_port, region=args.region, stack_name=args.stack_name)

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        try:
            stack.start()
        except PortBusyError as error:
            print(f"error: {error}")
            return 2
        print("\n".join(usage_lines(stack.info, api_routes(stack.deployment))))
        print("\nLocal stack running. Ctrl-C to stop.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nStopping the local stack...", flush=True)
        return 0
    finally:
        stack.stop()
        signal.signal(signal.SIGTERM, previous)


def add_local_commands(subparsers: Any) -> None:
    """Register `tickerstream local` on the CLI's subparsers (the lead wires this into main.py)."""
    parser = subparsers.add_parser(
        "local", help="run the whole template locally on moto (API, token endpoint, streams, Firehose)"
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("TICKERSTREAM_API_PORT", 3000)),
                        help="port of the local API and token endpoint on 127.0.0.1 (default 3000)")
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("TICKERSTREAM_AWS_PORT", DEFAULT_MOTO_PORT)),
                        help=f"port of the local AWS endpoint (moto) on 127.0.0.1 (default {DEFAULT_MOTO_PORT})")
    parser.add_argument("--region", default=DEFAULT_REGION)
    parser.add_argument("--stack-name", default="tickerstream-local")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request and batch")
    parser.set_defaults(func=run_local)
