"""Where a command's AWS resources are (explicit flags, a deployed stack's outputs, or the local stack) and
which credentials reach them.

Against the local stack nothing about AWS needs to be set up: its region and endpoint come from
local.json and the credentials are harmless local ones (moto accepts any; real keys are never sent to
it). Against AWS the usual credential chain applies, and if it finds nothing the command stops at once
with CREDENTIALS_HELP instead of retrying calls that can never be signed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tickerstream_local.paths import LOCAL_STACK_ENV, LOCAL_STACK_FILE
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

CREDENTIALS_HELP = (
    "AWS credentials were not found: set AWS_PROFILE (a profile from `aws configure` or `aws configure sso`), "
    "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; against the local stack none are needed (start it "
    "with `make local`)"
)
REGION_HELP = "no AWS region: pass --region, or set AWS_DEFAULT_REGION or AWS_REGION (or a region in your AWS profile)"
# botocore errors (by class name) that mean "cannot sign": the credential chain is empty or broken.
CREDENTIAL_ERRORS = frozenset({
    "NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError", "UnauthorizedSSOTokenError",
    "SSOTokenLoadError", "TokenRetrievalError", "InvalidConfigError",
})


class ConfigError(Exception):
    """Raised with a message that tells the user what to pass."""


class CredentialsError(ConfigError):
    """No usable AWS credentials for a command that needs AWS."""

    def __init__(self, detail: str | None = None):
        super().__init__(CREDENTIALS_HELP + (f" ({detail})" if detail else ""))


def explain(exc: BaseException) -> ConfigError | None:
    """A usage error for botocore's 'cannot even send the request' exceptions, else None."""
    return explain_code(type(exc).__name__, str(exc))


def explain_code(name: str, message: str = "") -> ConfigError | None:
    """The same, from an error's class name or code (as PutRecords results carry them)."""
    if name in CREDENTIAL_ERRORS:
        return CredentialsError(None if name == "NoCredentialsError" else f"{name}: {message}")
    if name == "NoRegionError":
        return ConfigError(REGION_HELP)
    if name == "ProfileNotFound":
        return ConfigError(f"{message}: check AWS_PROFILE and ~/.aws/config")
    return None


def local_stack_file() -> Path:
    return Path(os.environ.get(LOCAL_STACK_ENV) or LOCAL_STACK_FILE)  # read at each call: tests set it


def local_stack(path: Path | None = None) -> dict[str, Any] | None:
    """Connection details written by a running `tickerstream local`, or None."""
    try:
        return json.loads((path or local_stack_file()).read_text())
    except FileNotFoundError:
        return None


def is_local_endpoint(endpoint_url: str | None) -> bool:
    """A loopback endpoint: moto, LocalStack or the local stack, never AWS."""
    if not endpoint_url:
        return False
    host = (urlsplit(endpoint_url).hostname or "").lower()
    return host in {"localhost", "127.0.0.1", "::1"} or host.endswith(".localhost") or host.startswith("127.")


def local_session(region: str | None = None) -> Any:
    import boto3

    return boto3.Session(region_name=region or LOCAL_REGION, **LOCAL_CREDENTIALS)


def aws_session(region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A boto3 session whose credentials and region are known to exist (or a one-line ConfigError).

    A loopback endpoint with no credentials configured gets the harmless local ones.
    """
    import boto3

    region = region or os.environ.get("AWS_REGION")  # the AWS CLI reads it; botocore only AWS_DEFAULT_REGION
    try:
        session = boto3.Session(region_name=region)
        credentials = session.get_credentials()
    except Exception as exc:  # noqa: BLE001 - ProfileNotFound, a broken config file …
        raise explain(exc) or ConfigError(f"cannot read the AWS configuration: {exc}") from None
    if credentials is None:
        if is_local_endpoint(endpoint_url):
            return local_session(region or session.region_name)
        raise CredentialsError()
    if not session.region_name:
        if is_local_endpoint(endpoint_url):
            return boto3.Session(region_name=LOCAL_REGION)
        raise ConfigError(REGION_HELP)
    return session


def stack_outputs(
    stack_name: str, region: str | None = None, endpoint_url: str | None = None, client: Any = None
) -> dict[str, str]:
    """A deployed stack's outputs, OutputKey -> OutputValue."""
    if client is None:
        client = aws_session(region, endpoint_url).client("cloudformation", endpoint_url=endpoint_url)
    try:
        stack = client.describe_stacks(StackName=stack_name)["Stacks"][0]
    except Exception as exc:  # noqa: BLE001 - surfaced as a usage error
        raise explain(exc) or ConfigError(f"cannot read stack {stack_name!r}: {exc}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


@dataclass(frozen=True)
class Target:
    """An AWS endpoint (None = real AWS) and region, plus the resolved resource value."""

    value: str
    region: str | None
    endpoint_url: str | None
    source: str
    local: bool = False  # the local stack: local credentials, whatever the environment holds

    def session(self) -> Any:
        if self.local:
            return local_session(self.region)
        return aws_session(self.region, self.endpoint_url)

    def client(self, service: str) -> Any:
        return self.session().client(service, endpoint_url=self.endpoint_url)


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
            region or local.get("region") or LOCAL_REGION,
            endpoint_url or local.get("aws_endpoint_url"),
            f"local stack ({local_stack_file()})",
            local=True,
        )
    raise ConfigError(
        f"no {logical_id} given: pass it explicitly, or --stack-name of a deployed stack, "
        "or start the local stack with `make local`"
    )
