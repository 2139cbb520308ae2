"""The whole local stack's lifecycle: local.json while running, everything stopped and released after."""

from __future__ import annotations

import json
import os
import stat
import threading

import pytest

from local.synthetic import api_template, echo_handler, ensure_cognito_provisioners, ensure_provisioners, firehose_template, json_transform
from tickerstream_local.runner import LocalStack, write_private
from tickerstream_local.server import PortBusyError, port_is_listening


def combined_template():
    template = api_template()
    lake = firehose_template({"Prefix": "q/", "ErrorOutputPrefix": "e/", "CompressionFormat": "GZIP",
                              "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1}})
    template["Resources"].update(lake["Resources"])
    return template


def test_stack_writes_local_json_and_stops_cleanly(tmp_path):
    ensure_provisioners()
    ensure_cognito_provisioners()
    state = tmp_path / "local.json"
    before = {t.ident for t in threading.enumerate()}
    stack = LocalStack(api_port=0, moto_port=0, template=combined_template(), state_file=state,
                       handlers={"Echo": echo_handler, "Transform": json_transform})
    with stack:
        info = json.loads(state.read_text())
        assert stat.S_IMODE(state.stat().st_mode) == 0o600, "local.json holds a client secret"
        assert set(info) == {"pid", "api_url", "token_url", "aws_endpoint_url", "region", "user_pool_id",
                             "machine_client_id", "machine_client_secret", "user_client_id", "cognito_endpoint_url",
                             "issuer", "resources"}
        assert info["machine_client_id"] == stack.deployment.ctx.refs["MachineClient"]
        assert info["user_client_id"] == stack.deployment.ctx.refs["UserClient"]
        assert info["machine_client_secret"]
        assert info["resources"]["Source"] == stack.deployment.physical["Source"]
        ports = [stack.api_port, stack.moto.port]
        assert all(port_is_listening(p) for p in ports)
        moto_process = stack.moto._process  # moto runs in a process of its own
        assert moto_process is not None and moto_process.poll() is None
        # Busy ports are refused with a clear error, before anything starts.
        with pytest.raises(PortBusyError):
            LocalStack(api_port=ports[0], moto_port=0, template=combined_template(), state_file=None).start()
        kinesis = stack.deployment.client("kinesis")
        kinesis.put_record(StreamName=info["resources"]["Source"], Data=b'{"ticker":"AAPL"}', PartitionKey="AAPL")
        stack.drain()
        s3 = stack.deployment.client("s3")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=info["resources"]["Lake"]).get("Contents", [])]
        assert len(keys) == 1 and keys[0].startswith("q/") and keys[0].endswith(".gz")
    assert not state.exists()
    assert not any(port_is_listening(p) for p in ports)
    assert moto_process.poll() is not None, "the moto server process outlived the stack"
    leftover = [t.name for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert leftover == []
    assert "AWS_ENDPOINT_URL" not in __import__("os").environ or __import__("os").environ["AWS_ENDPOINT_URL"] != info["aws_endpoint_url"]


def test_local_json_is_private_from_its_first_byte(tmp_path, monkeypatch):
    """Written 0600 from creation (never world-readable, whatever the umask), replacing an older file."""
    state = tmp_path / "state" / "local.json"
    state.parent.mkdir()
    state.write_text("old")
    state.chmod(0o644)
    modes_before_rename = []
    replace = os.replace

    def watching_replace(source, target):
        modes_before_rename.append(stat.S_IMODE(os.stat(source).st_mode))
        replace(source, target)

    monkeypatch.setattr(os, "replace", watching_replace)
    previous = os.umask(0)
    try:
        write_private(state, '{"machine_client_secret": "s3cret"}')
    finally:
        os.umask(previous)
    assert modes_before_rename == [0o600]
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert json.loads(state.read_text()) == {"machine_client_secret": "s3cret"}
    assert [p.name for p in state.parent.iterdir()] == ["local.json"]  # no temporary left behind


def test_a_second_stack_on_the_same_details_file_is_refused_and_one_with_its_own_leaves_the_first_intact(tmp_path):
    """One running stack per details file: a second start names the running one and how to run a second;
    a second with its own file runs alongside, and its stop leaves the first's details in place."""
    import subprocess

    from tickerstream_local.runner import StackAlreadyRunning

    ensure_cognito_provisioners()
    first_file, second_file = tmp_path / "local.json", tmp_path / "second.json"
    with LocalStack(api_port=0, moto_port=0, template=api_template(), state_file=first_file,
                    handlers={"Echo": echo_handler}) as first:
        written = first_file.read_text()
        assert json.loads(written)["pid"] == os.getpid()
        with pytest.raises(StackAlreadyRunning) as refused:
            LocalStack(api_port=0, moto_port=0, template=api_template(), state_file=first_file).start()
        message = str(refused.value)
        assert first.info["api_url"] in message and str(first_file) in message and "--state-file" in message
        assert first_file.read_text() == written
        # The CLI refuses the same way, with exit status 2, before starting anything.
        done = subprocess.run([os.path.join(os.path.dirname(os.sys.executable), "tickerstream"), "local", "--port",
                               "0", "--aws-port", "0", "--state-file", str(first_file)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "already running" in done.stderr and first.info["api_url"] in done.stderr
        assert first_file.read_text() == written
        with LocalStack(api_port=0, moto_port=0, template=api_template(), state_file=second_file,
                        handlers={"Echo": echo_handler}) as second:
            assert json.loads(second_file.read_text())["api_url"] == second.info["api_url"] != first.info["api_url"]
            assert first_file.read_text() == written
        assert not second_file.exists()
        assert first_file.read_text() == written
        assert port_is_listening(first.api_port)
    assert not first_file.exists()


def test_a_details_file_left_by_a_killed_stack_is_replaced(tmp_path):
    import subprocess
    import sys

    ensure_cognito_provisioners()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    state = tmp_path / "local.json"
    # Its pid is dead (and its port closed): the file is stale.
    write_private(state, json.dumps({"pid": gone.pid, "api_url": "http://127.0.0.1:9/", "machine_client_secret": "x"}))
    with LocalStack(api_port=0, moto_port=0, template=api_template(), state_file=state,
                    handlers={"Echo": echo_handler}) as stack:
        assert json.loads(state.read_text())["api_url"] == stack.info["api_url"]
    # A file naming this very (live) process but a port nobody answers on is stale too: a recycled pid.
    write_private(state, json.dumps({"pid": os.getpid(), "api_url": "http://127.0.0.1:9/"}))
    with LocalStack(api_port=0, moto_port=0, template=api_template(), state_file=state,
                    handlers={"Echo": echo_handler}) as stack:
        assert json.loads(state.read_text())["pid"] == os.getpid()
        assert json.loads(state.read_text())["api_url"] == stack.info["api_url"]
