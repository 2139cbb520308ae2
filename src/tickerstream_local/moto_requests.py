"""How the local DynamoDB reads a request's parameters and condition expressions without redoing work
(installed by ``moto_patches.install``; see there for why each cost matters).

- A TransactWriteItems without binary values is read with ``json.loads`` rather than moto's walk over
  botocore's model, which for such a request only copies what ``json.loads`` gives.
- A condition expression is tokenised once, and parsed once per set of names and value placeholders:
  each call gets a copy of that tree with its own values put in.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from typing import Any

_BLOB_MEMBER = re.compile(rb'"BS?"\s*:')


def plain_json_parameters(parse_parameters: Any) -> Any:
    """moto reads every request by walking botocore's model of it, member by member (a fifth of a
    100-action transaction's cost). For a TransactWriteItems with no binary attribute values that walk
    only copies what ``json.loads`` already gives (strings, numbers, maps, lists), so read it that way;
    anything that may hold a blob (``B``/``BS``, which the model decodes from base64) takes moto's path."""

    @functools.wraps(parse_parameters)
    def parse(self: Any, request: Any) -> None:
        if self._get_action() == "TransactWriteItems" and not _BLOB_MEMBER.search(request.data or b""):
            self.params = json.loads(request.data)
            return
        parse_parameters(self, request)

    return parse


_PLACEHOLDER = "\x00tickerstream-value\x00"


def remembered_parse(parse: Any) -> Any:
    """A writer sends the same few condition expressions with new values every time, and moto parses a
    transaction's conditions twice (to validate, then to apply). Here an expression is parsed once per
    set of names and value placeholders, with stand-in values, and each call gets a copy of that tree
    with its own values put in. A tree whose stand-ins cannot all be found is not reused."""
    templates: dict[tuple[str, str, tuple[str, ...]], _Template | None] = {}

    @functools.wraps(parse)
    def remembered(self: Any) -> Any:
        values = self.expression_attribute_values or {}
        if not self.condition_expression or not isinstance(values, dict):
            return parse(self)
        key = (self.condition_expression, json.dumps(self.expression_attribute_names, sort_keys=True), tuple(sorted(values)))
        if key not in templates:
            if len(templates) >= 1024:
                templates.clear()
            templates[key] = _Template.of(parse, self, values)
        template = templates[key]
        if template is None:
            return parse(self)
        self.expr_attr_names_found.extend(template.names_found)
        self.expr_attr_values_found.extend(template.values_found)
        return template.bind(values)

    return remembered


class _Template:
    """A condition's tree parsed with stand-in values, and which of its nodes lead to a stand-in."""

    def __init__(self, tree: Any, names_found: list[str], values_found: list[str]) -> None:
        from moto.dynamodb.comparisons import AttributeValue, Func, Op, Operand

        self.tree, self.names_found, self.values_found = tree, names_found, values_found
        self._value_type, self._node_types = AttributeValue, (Op, Func, Operand, list, tuple)
        self.stand_ins: dict[int, str] = {}  # id of a stand-in leaf -> its placeholder
        self.hot: set[int] = set()  # ids of the nodes on the way to a stand-in
        self._mark(tree)

    @classmethod
    def of(cls, parse: Any, parser: Any, values: dict[str, Any]) -> _Template | None:
        stand_ins = {name: {"S": _PLACEHOLDER + name} for name in values}
        twin = type(parser)(parser.condition_expression, parser.expression_attribute_names, stand_ins)
        try:
            template = cls(parse(twin), list(twin.expr_attr_names_found), list(twin.expr_attr_values_found))
        except Exception:  # noqa: BLE001 - parse with the real values, which raises moto's own error
            return None
        try:
            found = set(template.stand_ins.values())
            if found != set(twin.expr_attr_values_found) or _PLACEHOLDER in repr(template.bind(values)):
                return None
        except Exception:  # noqa: BLE001 - a tree this code cannot copy is simply not reused
            return None
        return template

    def _mark(self, node: Any) -> bool:
        if isinstance(node, self._value_type):
            if isinstance(node.value, str) and node.value.startswith(_PLACEHOLDER):
                self.stand_ins[id(node)] = node.value[len(_PLACEHOLDER):]
                self.hot.add(id(node))
                return True
            return False
        if isinstance(node, (list, tuple)):
            children = list(node)
        elif isinstance(node, self._node_types):
            children = [child for child in vars(node).values() if isinstance(child, self._node_types)]
        else:
            return False
        leads = [self._mark(child) for child in children]
        if any(leads):
            self.hot.add(id(node))
        return any(leads)

    def bind(self, values: dict[str, Any]) -> Any:
        return self._bind(self.tree, values)

    def _bind(self, node: Any, values: dict[str, Any]) -> Any:
        name = self.stand_ins.get(id(node))
        if name is not None:
            return self._value_type(values[name])
        hot = self.hot
        if isinstance(node, (list, tuple)):
            return type(node)(self._bind(child, values) if id(child) in hot else child for child in node)
        clone = copy.copy(node)
        for attribute, child in vars(node).items():
            if id(child) in hot:
                setattr(clone, attribute, self._bind(child, values))
        return clone


def remembered_tokens(lex: Any) -> Any:
    """moto's lexer ``lex`` remembered per expression: its tokens are immutable named tuples, and names
    and values are substituted after lexing."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    @functools.lru_cache(maxsize=1024)
    def tokens(expression: str) -> tuple[Any, ...]:
        return tuple(lex(ConditionExpressionParser(expression, {}, {})))

    return tokens
