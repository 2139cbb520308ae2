"""template.yaml, read once: the raw SAM template and its CloudFormation form after the SAM transform.

Tests, the demo and the local stack take names, settings and key schemas from here instead of
repeating them.
"""

from __future__ import annotations

import copy
import os
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
# TICKERSTREAM_TEMPLATE points tests and tools at another template (e.g. a variant under review).
TEMPLATE_PATH = Path(os.environ.get("TICKERSTREAM_TEMPLATE", REPO_ROOT / "template.yaml"))

_LOCAL_URI_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::Api": "DefinitionUri",
}


@cache
def sam_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(path.read_text())


@cache
def transformed_template(path: Path = TEMPLATE_PATH, region: str = "us-east-1") -> dict[str, Any]:
    """The CloudFormation template `sam deploy` would submit (local code paths stood in by S3 URIs)."""
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(sam_template(path))
    for resource in template["Resources"].values():
        prop = _LOCAL_URI_PROPERTIES.get(resource.get("Type"))
        props = resource.get("Properties", {})
        if prop and isinstance(props.get(prop), str) and not props[prop].startswith("s3://"):
            props[prop] = f"s3://tickerstream-artifacts/{props[prop].strip('/')}"

    class _NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region
    try:
        return transform(template, {}, _NoManagedPolicies())
    finally:
        if previous is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous


def parameter_defaults(template: dict[str, Any] | None = None) -> dict[str, Any]:
    template = template or sam_template()
    return {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}


def parameter_values(template: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stack's parameter values as CloudFormation hands them to Ref: the defaults with ``overrides``
    over them, and a ``CommaDelimitedList`` or ``List<...>`` parameter as a list of its items."""
    template = template or sam_template()
    values = {**parameter_defaults(template), **(overrides or {})}
    for name, spec in template.get("Parameters", {}).items():
        kind, value = str(spec.get("Type", "")), values.get(name)
        if (kind == "CommaDelimitedList" or kind.startswith("List<")) and isinstance(value, str):
            values[name] = [item.strip() for item in value.split(",")] if value else []
    return values


def resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """Resolve a property that is a literal or a {"Ref": Parameter} to a value, using parameter values."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    return value


def resources_of_type(resource_type: str, template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    template = template or sam_template()
    return {name: r for name, r in template["Resources"].items() if r.get("Type") == resource_type}


def function_dir(logical_id: str) -> Path:
    props = sam_template()["Resources"][logical_id]["Properties"]
    return REPO_ROOT / props["CodeUri"]
