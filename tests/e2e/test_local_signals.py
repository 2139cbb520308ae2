"""`tickerstream local` stopped by a signal, as a terminal's Ctrl-C or a service manager would stop it.

Ctrl-C signals the terminal's whole foreground process group, so the tests send SIGINT to the group
(the moto server the stack started must not die before the stack has flushed into it) and SIGTERM to
the process alone. The stacks run on free ports with their own state files; two deploy onto a moto
server the test owns, so the lake can be read after the process has gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from e2e.ledger import DeployedStack, read_ledger
from tickerstream_cli.demo_quotes import DemoQuotes
from tickerstream_cli.producer import produce
from tickerstream_local.server import MotoServer
from tickerstream_local.template import REPO_ROOT

RECORDS = 300
CASES = {  # name -> (signal, to the whole process group?, on a moto server the test owns?)
    "ctrl-c, own moto": (signal.SIGINT, True, False),
    "ctrl-c": (signal.SIGINT, True, True),
    "sigterm": (signal.SIGTERM, False, True),
}


def _start(name: str, tmp: Path, endpoint: str | None) -> tuple[subprocess.Popen, Path]:
    state = tmp / f"{name.replace(' ', '_').replace(',', '')}.json"
    command = [str(REPO_ROOT / ".venv/bin/tickerstream"), "local", "--port", "0", "--state-file", str(state)]
    command += ["--aws-endpoint-url", endpoint] if endpoint else ["--aws-port", "0"]
    environment = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, env=environment)  # its own group, as in a terminal
    return process, state


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """Every case started at once (they start in parallel), fed, signalled, and waited for."""
    tmp = tmp_path_factory.mktemp("signals")
    servers = {name: MotoServer(port=0, separate_process=True).start() for name, c in CASES.items() if c[2]}
    try:
        running = {name: _start(name, tmp, servers[name].endpoint_url if name in servers else None) for name in CASES}
        results = {}
        for name, (process, state) in running.items():
            deadline = time.monotonic() + 120
            while not state.exists():
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, f"{name}: the stack did not start"
                time.sleep(0.2)
            info = json.loads(state.read_text())
            deployed = DeployedStack.from_state(info)
            report = produce(deployed.client("kinesis"), info["resources"]["QuoteStream"],
                             DemoQuotes(seed=len(name), invalid_fraction=0.05), count=RECORDS)
            results[name] = {"info": info, "deployed": deployed, "report": report, "state": state}
        for name, (process, _) in running.items():
            number, to_group, _ = CASES[name]
            os.killpg(process.pid, number) if to_group else process.send_signal(number)
        for name, (process, _) in running.items():
            out, err = process.communicate(timeout=120)
            results[name].update(code=process.returncode, out=out, err=err)
            results[name]["ledger"] = read_ledger(results[name]["deployed"]) if name in servers else None
        yield results
    finally:
        for server in servers.values():
            server.stop()


@pytest.mark.parametrize("name", list(CASES))
def test_stops_cleanly_with_the_conventional_status(stopped, name):
    result = stopped[name]
    assert result["code"] == (130 if CASES[name][0] == signal.SIGINT else 0), result["err"][-2000:]
    output = result["out"] + result["err"]
    assert "Traceback" not in output and "failed" not in output, output[-3000:]
    assert not result["state"].exists()  # local.json removed


@pytest.mark.parametrize("name", list(CASES))
def test_everything_in_flight_and_buffered_was_delivered(stopped, name):
    result = stopped[name]
    valid = RECORDS - result["report"].invalid_sent
    assert "QuoteProcessor/QuoteStream: processed everything in its stream" in result["out"]
    assert f"LakeDeliveryStream: {valid} buffered record(s) delivered to the lake" in result["out"]
    assert "Stopped cleanly" in result["out"]


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if case[2]])
def test_the_lake_and_table_hold_every_record_after_the_process_is_gone(stopped, name):
    ledger = stopped[name]["ledger"]
    assert ledger.produced == RECORDS
    assert ledger.problems() == []
