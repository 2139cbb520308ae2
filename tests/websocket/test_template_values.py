"""The board's settings as the template gives them, on AWS and on the local stack."""

from __future__ import annotations

from tickerstream_local.intrinsics import Context, resolve
from tickerstream_local.template import parameter_values, sam_template

from .conftest import environment

TEMPLATE = sam_template()
SECTORS = str(TEMPLATE["Parameters"]["LakeSectors"]["Default"]).split(",")


def test_ws_connections_knows_the_lake_sectors_as_cloudformation_passes_them():
    assert environment("WsConnections")["BOARD_SECTORS"].split(",") == SECTORS


def test_the_local_stack_resolves_the_sector_list_the_same_way():
    """The local stack's parameters (tickerstream_local.template.parameter_values) give Ref a CommaDelimitedList
    as a list; before, Fn::Join joined the default string's characters and WsConnections knew no sector."""
    ctx = Context(parameters=parameter_values(TEMPLATE), conditions=TEMPLATE.get("Conditions", {}))
    variables = TEMPLATE["Resources"]["WsConnections"]["Properties"]["Environment"]["Variables"]
    assert resolve(variables["BOARD_SECTORS"], ctx).split(",") == SECTORS


def test_connection_items_outlive_api_gateways_two_hour_lifetime_by_minutes():
    ttl = int(environment("WsConnections")["CONNECTION_TTL_SECONDS"])
    assert 2 * 3600 < ttl <= 2 * 3600 + 15 * 60


def test_board_fanout_budget_leaves_room_in_its_timeout():
    env = environment("BoardFanout")
    timeout = TEMPLATE["Resources"]["BoardFanout"]["Properties"]["Timeout"]
    most = TEMPLATE["Parameters"]["BoardPushBudgetSeconds"]["MaxValue"]
    assert most + 2 * float(env["PUSH_TIMEOUT_SECONDS"]) + 2 < timeout


def test_the_connections_url_is_the_stage_of_this_api():
    assert environment("BoardFanout")["CONNECTIONS_URL"] == "https://wsapi12345.execute-api.us-east-1.amazonaws.com/dev"
