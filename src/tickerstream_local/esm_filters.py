"""An event-source mapping's FilterCriteria, applied as Lambda applies them before invoking: a record
that matches no filter is not delivered and counts as processed (its shard moves past it).

Patterns are EventBridge-style: a key maps to a nested pattern or to a list of alternatives, each a
literal or one of {"prefix"}, {"exists"}, {"anything-but"}, {"numeric"}. For Kinesis the `data` key
matches the record's data parsed as JSON (and the other keys the record's metadata); for DynamoDB
Streams the pattern matches the record itself (eventName, dynamodb.Keys, dynamodb.NewImage, ...).
"""

from __future__ import annotations

import base64
import json
import operator
from typing import Any

_MISSING = object()
_NUMERIC = {"<": operator.lt, "<=": operator.le, "=": operator.eq, ">": operator.gt, ">=": operator.ge}


class UnsupportedFilter(ValueError):
    pass


def parse_filters(filter_criteria: dict[str, Any] | None) -> list[dict[str, Any]]:
    patterns = []
    for entry in (filter_criteria or {}).get("Filters") or []:
        pattern = entry.get("Pattern")
        patterns.append(json.loads(pattern) if isinstance(pattern, str) else pattern)
    return patterns


def _view(record: dict[str, Any]) -> dict[str, Any]:
    if "kinesis" not in record:
        return record
    view = dict(record["kinesis"])
    try:
        view["data"] = json.loads(base64.b64decode(view["data"]))
    except ValueError:
        view["data"] = _MISSING  # not JSON: a pattern on data cannot match it
    return view


def matches_any(record: dict[str, Any], patterns: list[dict[str, Any]]) -> bool:
    if not patterns:
        return True
    view = _view(record)
    return any(_matches(pattern, view) for pattern in patterns)


def _matches(pattern: dict[str, Any], value: Any) -> bool:
    for key, expected in pattern.items():
        actual = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if isinstance(expected, dict):
            if actual is _MISSING or not _matches(expected, actual):
                return False
        elif isinstance(expected, list):
            if not any(_alternative(option, actual) for option in expected):
                return False
        else:
            raise UnsupportedFilter(f"filter pattern values must be objects or lists, got {expected!r} for {key!r}")
    return True


def _alternative(option: Any, actual: Any) -> bool:
    if not isinstance(option, dict):
        if actual is _MISSING:
            return False
        return option in actual if isinstance(actual, list) else option == actual
    if "exists" in option:
        return (actual is not _MISSING) == bool(option["exists"])
    if actual is _MISSING:
        return False
    if "prefix" in option:
        return isinstance(actual, str) and actual.startswith(option["prefix"])
    if "anything-but" in option:
        excluded = option["anything-but"]
        return actual not in (excluded if isinstance(excluded, list) else [excluded])
    if "numeric" in option:
        terms = option["numeric"]
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return False
        return all(_NUMERIC[terms[i]](actual, terms[i + 1]) for i in range(0, len(terms), 2))
    raise UnsupportedFilter(f"filter operator {sorted(option)} is not supported locally")
