"""Just enough of CloudFormation's intrinsic functions to read template.yaml's values locally."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


@dataclass
class Context:
    """Values that Ref and GetAtt resolve to: parameters, pseudo parameters and provisioned resources."""

    parameters: dict[str, Any]
    conditions: dict[str, Any]
    stack_name: str = "tickerstream-local"
    region: str = "us-east-1"
    account_id: str = "123456789012"
    refs: dict[str, Any] = field(default_factory=dict)  # logical id -> what Ref returns
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical id -> GetAtt values

    def pseudo(self) -> dict[str, Any]:
        return {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }

    def ref(self, name: str) -> Any:
        pseudo = self.pseudo()
        for source in (self.parameters, pseudo, self.refs):
            if name in source:
                return source[name]
        raise KeyError(f"Ref to unknown or not yet provisioned {name!r}")

    def get_att(self, name: str, attribute: str) -> Any:
        try:
            return self.attributes[name][attribute]
        except KeyError:
            raise KeyError(f"GetAtt {name}.{attribute} is not available locally") from None

    def condition(self, name: str) -> bool:
        return bool(resolve(self.conditions[name], self))


def _sub(template: str, variables: dict[str, Any], ctx: Context) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables:
            return str(variables[name])
        if "." in name:
            resource, attribute = name.split(".", 1)
            return str(ctx.get_att(resource, attribute))
        return str(ctx.ref(name))

    return _SUB_VARIABLE.sub(replace, template)


def resolve(value: Any, ctx: Context) -> Any:
    if isinstance(value, list):
        return [v for v in (resolve(item, ctx) for item in value) if v is not NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            return ctx.ref(arg)
        if key == "Fn::GetAtt":
            resource, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return ctx.get_att(resource, attribute)
        if key == "Fn::Sub":
            if isinstance(arg, str):
                return _sub(arg, {}, ctx)
            text, variables = arg
            return _sub(text, {k: resolve(v, ctx) for k, v in variables.items()}, ctx)
        if key == "Fn::If":
            name, when_true, when_false = arg
            return resolve(when_true if ctx.condition(name) else when_false, ctx)
        if key == "Fn::Equals":
            left, right = (resolve(v, ctx) for v in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not resolve(arg[0], ctx)
        if key == "Fn::And":
            return all(resolve(v, ctx) for v in arg)
        if key == "Fn::Or":
            return any(resolve(v, ctx) for v in arg)
        if key == "Fn::Join":
            separator, items = arg
            return separator.join(str(v) for v in resolve(items, ctx))
        if key == "Fn::Select":
            index, items = arg
            return resolve(items, ctx)[int(resolve(index, ctx))]
        if key == "Fn::Split":
            separator, text = arg
            return str(resolve(text, ctx)).split(separator)
        if key == "Condition":
            return ctx.condition(arg)
    return {k: v for k, v in ((k, resolve(v, ctx)) for k, v in value.items()) if v is not NO_VALUE}
