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
