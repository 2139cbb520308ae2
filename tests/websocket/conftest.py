"""The board's three functions on in-process moto: ConnectionsTable made from template.yaml's own
properties, each function loaded with the environment template.yaml gives it (references resolved to
the names used here)."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import boto3
import pytest

from tickerstream_local.functions import LocalContext, load_function
from tickerstream_local.intrinsics import Context
from tickerstream_local.stack import template_environment
from tickerstream_local.template import REPO_ROOT, parameter_values, sam_template

# The functions' own packages, importable for unit and property tests (as Lambda puts CodeUri on the path).
for _code in ("ws_authorizer", "ws_connections", "board_fanout"):
    if str(REPO_ROOT / "functions" / _code) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "functions" / _code))

TEMPLATE = sam_template()
TABLE = "tickerstream-test-ConnectionsTable"
API_ID = "wsapi12345"
REFS = {"ConnectionsTable": TABLE, "WebSocketApi": API_ID, "UserPool": "us-east-1_TestPool",
        "UserClient": "userclient0000000000000000", "MachineClient": "machineclient000000000000"}


def environment(logical_id: str, **overrides: str) -> dict[str, str]:
    ctx = Context(parameters=parameter_values(TEMPLATE), conditions=TEMPLATE.get("Conditions", {}), refs=dict(REFS))
    return {**template_environment(TEMPLATE, logical_id, ctx), **overrides}


def load(logical_id: str, **overrides: str) -> ModuleType:
    return load_function(logical_id, environment(logical_id, **overrides))


def context(logical_id: str, timeout_seconds: int | None = None) -> LocalContext:
    props = TEMPLATE["Resources"][logical_id]["Properties"]
    return LocalContext(logical_id, timeout_seconds=timeout_seconds or int(props.get("Timeout", 60)))


def create_connections_table(session: boto3.Session) -> Any:
    props = TEMPLATE["Resources"]["ConnectionsTable"]["Properties"]
    client = session.client("dynamodb")
    client.create_table(TableName=TABLE, AttributeDefinitions=props["AttributeDefinitions"], KeySchema=props["KeySchema"],
                        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"], BillingMode=props["BillingMode"])
    return client


@pytest.fixture
def dynamodb(aws):
    return create_connections_table(aws)


def items(client: Any) -> list[dict[str, Any]]:
    return client.scan(TableName=TABLE)["Items"]  # tests only: the functions never scan
