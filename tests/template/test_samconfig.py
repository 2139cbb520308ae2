"""samconfig.toml's environments: dev (`default`) and `prod` differ where they should, and every override
is a parameter template.yaml has, with a value the template accepts (a typo would otherwise surface
only as a failed `sam deploy`)."""

from __future__ import annotations

import re
import tomllib

import boto3
import pytest
from moto import mock_aws

from tickerstream_local.stack import deploy
from tickerstream_local.template import REPO_ROOT, parameter_defaults, sam_template

CONFIG = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
PARAMETERS = sam_template()["Parameters"]
ENVIRONMENTS = ("default", "prod")


def overrides(environment: str, command: str = "deploy") -> dict[str, str]:
    """parameter_overrides read by SAM CLI's own parser (the one `sam deploy --config-env` uses)."""
    from samcli.cli.types import CfnParameterOverridesType

    value = CONFIG[environment][command]["parameters"]["parameter_overrides"]
    return CfnParameterOverridesType().convert(value, None, None)


def accepts(spec: dict, value: str) -> bool:
    if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
        return False
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        return False
    if spec["Type"] == "Number":
        number = float(value)
        return spec.get("MinValue", number) <= number <= spec.get("MaxValue", number)
    return True


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_override_is_a_template_parameter_with_an_accepted_value(environment):
    for command in ("deploy", "local_invoke"):
        if command not in CONFIG[environment]:
            continue
        for name, value in overrides(environment, command).items():
            assert name in PARAMETERS, f"{environment}.{command}: no parameter {name}"
            assert accepts(PARAMETERS[name], value), f"{environment}.{command}: {name}={value}"


def test_dev_and_prod_differ_in_stage_stream_retention_and_logs():
    dev, prod = overrides("default"), overrides("prod")
    assert (dev["Stage"], prod["Stage"]) == ("dev", "prod")  # prod: deletion protection (IsProd)
    for name in ("StreamMode", "RetentionPeriodHours", "LogRetentionInDays"):
        assert dev.get(name, str(PARAMETERS[name]["Default"])) != prod[name], name
    assert CONFIG["default"]["global"]["parameters"]["stack_name"] != CONFIG["prod"]["global"]["parameters"]["stack_name"]


def test_no_e_mail_address_is_committed():
    text = (REPO_ROOT / "samconfig.toml").read_text()
    assert not re.search(r"[^@\s\"]+@[^@\s\"]+\.\w+", text)
    assert all("OpsEmail" not in overrides(environment) for environment in ENVIRONMENTS)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_local_stack_deploys_each_environment(environment):
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        deployment = deploy(session, parameter_overrides=overrides(environment))
        stream = session.client("kinesis").describe_stream_summary(StreamName=deployment.ctx.refs["QuoteStream"])
    summary = stream["StreamDescriptionSummary"]
    expected = {**parameter_defaults(), **overrides(environment)}
    assert summary["StreamModeDetails"]["StreamMode"] == expected["StreamMode"]
    assert summary["RetentionPeriodHours"] == int(expected["RetentionPeriodHours"])
