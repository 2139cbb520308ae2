"""The subset of CloudWatch metric math that rate alarms use, over time series aligned by period.

A series is {period start: value}; a point missing from it is missing data. Supported: numbers, query ids,
`+ - * /`, unary minus, parentheses, comparisons (`== != < <= > >=`, giving 1 or 0), `&&`, `||`, and the
functions FILL(series, value), IF(condition, then[, else]), ABS(x), MAX/MIN/SUM/AVG([a, b, ...]) (per
point, across series). As in CloudWatch, arithmetic between two series keeps only the timestamps both
have; a division by zero gives no point. Anything else raises UnsupportedAlarm with the expression.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from tickerstream_local.alarm_model import UnsupportedAlarm

Series = dict[float, float]
Value = Series | float

_BINARY: dict[type, Callable[[float, float], float | None]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: lambda a, b: None if b == 0 else a / b,
}
_COMPARE: dict[type, Callable[[float, float], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}


def _combine(left: Value, right: Value, op: Callable[[float, float], float | None]) -> Value:
    if not isinstance(left, dict) and not isinstance(right, dict):
        result = op(left, right)
        return math.nan if result is None else result
    if not isinstance(left, dict):
        pairs = {t: (left, v) for t, v in right.items()}  # type: ignore[union-attr]
    elif not isinstance(right, dict):
        pairs = {t: (v, right) for t, v in left.items()}
    else:
        pairs = {t: (left[t], right[t]) for t in left.keys() & right.keys()}
    out: Series = {}
    for moment, (a, b) in pairs.items():
        result = op(a, b)
        if result is not None:
            out[moment] = float(result)
    return out


class Expression:
    def __init__(self, text: str):
        self.text = text
        source = text.replace("&&", " and ").replace("||", " or ")
        try:
            self.tree = ast.parse(source, mode="eval").body
        except SyntaxError as exc:
            raise UnsupportedAlarm(f"cannot read the metric math expression {text!r}: {exc.msg}") from None

    def evaluate(self, series: dict[str, Series], moments: list[float]) -> Series:
        """The expression's series over `moments` (the period starts of the evaluation range)."""
        value = self._eval(self.tree, series, moments)
        if isinstance(value, dict):
            return value
        return {} if math.isnan(value) else {moment: value for moment in moments}

    def _eval(self, node: ast.AST, series: dict[str, Series], moments: list[float]) -> Value:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in series:
                raise UnsupportedAlarm(f"{self.text!r}: {node.id!r} is not a metric of this alarm")
            return series[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return _combine(-1.0, self._eval(node.operand, series, moments), operator.mul)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _combine(self._eval(node.left, series, moments), self._eval(node.right, series, moments),
                            _BINARY[type(node.op)])
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            test = _COMPARE[type(node.ops[0])]
            return _combine(self._eval(node.left, series, moments), self._eval(node.comparators[0], series, moments),
                            lambda a, b: float(test(a, b)))
        if isinstance(node, ast.BoolOp):
            values = [self._eval(v, series, moments) for v in node.values]
            joined = values[0]
            for value in values[1:]:
                if isinstance(node.op, ast.And):
                    joined = _combine(joined, value, lambda a, b: float(bool(a) and bool(b)))
                else:
                    joined = _combine(joined, value, lambda a, b: float(bool(a) or bool(b)))
            return joined
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return self._call(node.func.id.upper(), node.args, series, moments)
        raise UnsupportedAlarm(f"{self.text!r}: {ast.unparse(node)!r} is outside the metric math supported locally")

    def _call(self, name: str, args: list[ast.expr], series: dict[str, Series], moments: list[float]) -> Value:
        if name == "FILL" and len(args) == 2:
            source = self._eval(args[0], series, moments)
            fill = self._eval(args[1], series, moments)
            if not isinstance(source, dict) or isinstance(fill, dict):
                raise UnsupportedAlarm(f"{self.text!r}: FILL takes a series and a number")
            return {moment: source.get(moment, fill) for moment in moments}
        if name == "IF" and len(args) in (2, 3):
            condition = self._as_series(self._eval(args[0], series, moments), moments)
            then = self._as_series(self._eval(args[1], series, moments), moments)
            other = self._as_series(self._eval(args[2], series, moments), moments) if len(args) == 3 else {}
            out: Series = {}
            for moment, test in condition.items():
                chosen = then if test else other
                if moment in chosen:
                    out[moment] = chosen[moment]
            return out
        if name == "ABS" and len(args) == 1:
            value = self._eval(args[0], series, moments)
            return {t: abs(v) for t, v in value.items()} if isinstance(value, dict) else abs(value)
        if name in ("MAX", "MIN", "SUM", "AVG") and len(args) == 1 and isinstance(args[0], ast.List):
            members = [self._as_series(self._eval(a, series, moments), moments) for a in args[0].elts]
            reduce = {"MAX": max, "MIN": min, "SUM": math.fsum, "AVG": lambda v: math.fsum(v) / len(v)}[name]
            out = {}
            for moment in moments:
                present = [m[moment] for m in members if moment in m]
                if present:
                    out[moment] = float(reduce(present))
            return out
        raise UnsupportedAlarm(f"{self.text!r}: function {name} with {len(args)} argument(s) is not supported locally")

    @staticmethod
    def _as_series(value: Value, moments: list[float]) -> Series:
        if isinstance(value, dict):
            return value
        return {} if math.isnan(value) else {moment: value for moment in moments}


def evaluate_queries(queries: Any, series: dict[str, Series], moments: list[float]) -> Series:
    """Evaluate the expressions of an alarm's Metrics in order; return the series of the one returned."""
    known = dict(series)
    returned = None
    for query in queries:
        if query.expression is not None:
            known[query.id] = Expression(query.expression).evaluate(known, moments)
        if query.return_data:
            returned = query.id
    if returned is None:
        raise UnsupportedAlarm("no metric of the alarm has ReturnData true")
    return known[returned]
