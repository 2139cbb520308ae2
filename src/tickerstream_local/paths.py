"""Where a running local stack writes its connection details: the local stack owns the file, the CLI reads it."""

from __future__ import annotations

from tickerstream_local.template import REPO_ROOT

LOCAL_STACK_FILE = REPO_ROOT / ".tickerstream" / "local.json"
