"""Run the template's functions in-process: their code, their environment, a Lambda-shaped context."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from tickerstream_local.template import REPO_ROOT, sam_template

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LocalContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_seconds: int = 60
    function_version: str = "$LATEST"
    region: str = "us-east-1"
    account_id: str = "123456789012"

    def __post_init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = (
            f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"
        )
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


def function_setting(logical_id: str, name: str, default: Any = None) -> Any:
    template = sam_template()
    props = template["Resources"][logical_id]["Properties"]
    return props.get(name, template.get("Globals", {}).get("Function", {}).get(name, default))


def load_function(logical_id: str, environment: dict[str, str]) -> ModuleType:
    """Import a function's handler module the way Lambda would, with its environment applied first."""
    props = sam_template()["Resources"][logical_id]["Properties"]
    code_dir = REPO_ROOT / props["CodeUri"]
    module_name, _, _ = props["Handler"].rpartition(".")
    os.environ.update(environment)
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    spec = importlib.util.spec_from_file_location(
        f"{logical_id}__{module_name}", code_dir / f"{module_name.replace('.', '/')}.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def handler_of(logical_id: str, module: ModuleType) -> Handler:
    _, _, function = sam_template()["Resources"][logical_id]["Properties"]["Handler"].rpartition(".")
    return getattr(module, function)
