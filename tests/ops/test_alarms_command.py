"""`tickerstream alarms` against a running local stack, from a shell with no AWS settings at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tickerstream_local.paths import LOCAL_STACK_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], state: Path, home: Path) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", "COLUMNS": "200",
           LOCAL_STACK_ENV: str(state)}
    return subprocess.run([sys.executable, "-m", "tickerstream_cli.main", "alarms", *args], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)


def test_alarms_lists_every_template_alarm_with_state_reason_and_change(ops_stack, tmp_path):
    state = tmp_path / "local.json"
    home = tmp_path / "home"
    home.mkdir()
    harness = ops_stack(state_file=state)
    harness.advance(60)  # one evaluation: alarms with notBreaching and no data go OK
    cloudwatch = harness.stack.deployment.client("cloudwatch")
    firing = harness.alarm_name("QuarantineQueueDepthAlarm")
    cloudwatch.set_alarm_state(AlarmName=firing, StateValue="ALARM", StateReason="set by hand for the test")
    template_alarms = {harness.stack.deployment.properties(lid)["AlarmName"]
                       for lid, r in harness.stack.deployment.template["Resources"].items()
                       if r["Type"] == "AWS::CloudWatch::Alarm"}

    done = _run(["--format", "json"], state, home)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {r["name"] for r in rows} == template_alarms
    assert rows[0]["name"] == firing and rows[0]["state"] == "ALARM"  # ALARM first
    assert rows[0]["reason"] == "set by hand for the test" and rows[0]["last_change"]
    judged = {r["name"]: r for r in rows}
    for name, status in harness.monitor.evaluator.status.items():
        if name != firing:
            assert judged[name]["state"] == status.state and judged[name]["reason"] == status.reason

    table = _run([], state, home)
    assert table.returncode == 0 and firing in table.stdout and "1 in ALARM" in table.stdout
    only = json.loads(_run(["--format", "json", "--state", "ALARM"], state, home).stdout)
    assert [r["name"] for r in only] == [firing]


def test_alarms_without_a_running_stack_says_how_to_start_one(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    done = _run([], tmp_path / "absent.json", home)
    assert done.returncode == 2 and "make local" in done.stderr
    stale = tmp_path / "stale.json"  # left by a stack that was killed: its pid is gone
    stale.write_text(json.dumps({"pid": 2**22 + 12345, "api_url": "http://127.0.0.1:1", "aws_endpoint_url": "http://localhost:1"}))
    done = _run([], stale, home)
    assert done.returncode == 2 and "stale" in done.stderr and "Traceback" not in done.stderr
