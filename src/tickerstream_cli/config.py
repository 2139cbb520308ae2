"""Where a command's AWS resources are: explicit flags, a deployed stack's outputs, or the local stack."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tickerstream_local.paths import LOCAL_STACK_FILE


class ConfigError(Exception):
    """Raised with a message that tells the user what to pass."""


def local_stack(path: Path | None = None) -> dict[str, Any] | None:
    """Connection details written by a running `tickerstream local`, or None."""
    try:
        return json.loads((path or LOCAL_STACK_FILE).read_text())
    except FileNotFoundError:
        return None


def stack_outputs(
    stack_name: str, region: str | None = None, endpoint_url: str | None = None, client: Any = None
) -> dict[str, str]:
    """A deployed stack's outputs, OutputKey -> OutputValue."""
    if client is None:
        import boto3

        client = boto3.client("cloudformation", region_name=region, endpoint_url=endpoint_url)
    try:
        stack = client.describe_stacks(StackName=stack_name)["Stacks"][0]
    except Exception as exc:  # noqa: BLE001 - surfaced as a usage error
        raise ConfigError(f"cannot read stack {stack_name!r}: {exc}") from exc
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


@dataclass(frozen=True)
class Target:
    """An AWS endpoint (None = real AWS) and region, plus the resolved resource value."""

    value: str
    region: str | None
    endpoint_url: str | None
    source: str

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint_url)


def resolve(
    *,
    explicit: str | None,
    output_key: str,
    logical_id: str,
    stack_name: str | None,
    region: str | None,
    endpoint_url: str | None,
) -> Target:
    """Explicit value > --stack-name outputs > running local stack; otherwise a clear error."""
    if explicit:
        return Target(explicit, region, endpoint_url, "command line")
    if stack_name:
        outputs = stack_outputs(stack_name, region, endpoint_url)
        if output_key not in outputs:
            raise ConfigError(f"stack {stack_name!r} has no output {output_key!r}")
        return Target(outputs[output_key], region, endpoint_url, f"stack {stack_name}")
    local = local_stack()
    if local and logical_id in local.get("resources", {}):
        return Target(
            local["resources"][logical_id],
            region or local.get("region"),
            endpoint_url or local.get("aws_endpoint_url"),
            f"local stack ({LOCAL_STACK_FILE.relative_to(REPO_ROOT)})",
        )
    raise ConfigError(
        f"no {logical_id} given: pass it explicitly, or --stack-name of a deployed stack, "
        "or start the local stack with `make local`"
    )
