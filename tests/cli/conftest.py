"""A running local stack and a way to run the CLI the way a new user does: no AWS settings at all."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tickerstream_cli.config import LOCAL_STACK_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


def scrubbed_environment(home: Path, **extra: str) -> dict[str, str]:
    """PATH and an empty HOME only: no AWS_* variables, no ~/.aws, nothing the conftest set."""
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict[str, str], timeout: float = 60) -> Ran:
    done = subprocess.run([sys.executable, "-m", "tickerstream_cli.main", *args], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)
    return Ran(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def empty_home(tmp_path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory):
    """`tickerstream local`, in this process, writing its local.json to a private place."""
    from tickerstream_local.runner import LocalStack

    state = tmp_path_factory.mktemp("stack") / "local.json"
    with contextlib.redirect_stdout(io.StringIO()), LocalStack(api_port=0, moto_port=0, state_file=state) as stack:
        yield stack, state


@pytest.fixture
def user_env(local_stack, empty_home):
    """What a new user's shell has while `tickerstream local` runs: nothing about AWS."""
    _, state = local_stack
    return scrubbed_environment(empty_home, **{LOCAL_STACK_ENV: str(state)})
