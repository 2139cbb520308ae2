"""Where a running local stack writes its connection details: the local stack owns the file, the CLI reads it."""

from __future__ import annotations

import os
from pathlib import Path

from tickerstream_local.template import REPO_ROOT

# Another local.json than the repository's .tickerstream/ (tests, several checkouts).
LOCAL_STACK_ENV = "TICKERSTREAM_LOCAL_STACK_FILE"
DEFAULT_LOCAL_STACK_FILE = REPO_ROOT / ".tickerstream" / "local.json"


def local_stack_file() -> Path:
    return Path(os.environ.get(LOCAL_STACK_ENV) or DEFAULT_LOCAL_STACK_FILE)


LOCAL_STACK_FILE = local_stack_file()


def pid_alive(pid: object) -> bool:
    """Whether a process with this id exists (a stack killed with SIGKILL leaves its file behind)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def running_stack(path: Path) -> dict[str, object] | None:
    """The details in `path` if the stack that wrote them still runs: its process is alive and its API
    port still answers (a recycled pid alone does not keep a stale file alive). None otherwise."""
    import json
    import socket
    from urllib.parse import urlsplit

    try:
        info = json.loads(path.read_text())
    except (FileNotFoundError, ValueError, OSError):
        return None
    if not isinstance(info, dict) or not pid_alive(info.get("pid")):
        return None
    try:
        address = urlsplit(str(info.get("api_url", "")))
        host, port = address.hostname, address.port
    except ValueError:
        return None
    if not host or not port:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return info if probe.connect_ex((host, port)) == 0 else None
