"""Parameters reach Ref as CloudFormation passes them: a CommaDelimitedList is a list, not its string."""

from __future__ import annotations

from tickerstream_local.intrinsics import Context, resolve
from tickerstream_local.template import parameter_values, sam_template

TEMPLATE = sam_template()


def _join(parameters: dict) -> str:
    ctx = Context(parameters=parameters, conditions={})
    return resolve({"Fn::Join": ["|", {"Ref": "LakeSectors"}]}, ctx)


def test_a_comma_delimited_list_is_joined_item_by_item():
    default = TEMPLATE["Parameters"]["LakeSectors"]["Default"]
    assert _join(parameter_values(TEMPLATE)) == default.replace(",", "|")


def test_an_override_is_split_the_same_way_and_other_types_stay_strings():
    values = parameter_values(TEMPLATE, {"LakeSectors": "ENERGY, RETAIL", "Stage": "prod"})
    assert values["LakeSectors"] == ["ENERGY", "RETAIL"] and values["Stage"] == "prod"
    assert _join(values) == "ENERGY|RETAIL"
    assert parameter_values(TEMPLATE, {"LakeSectors": ""})["LakeSectors"] == []
