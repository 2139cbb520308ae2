"""Firehose S3 prefixes: `!{namespace:value}` expressions, Java DateTimeFormatter patterns (UTC) and
the semantic rules that apply to a configured Prefix and ErrorOutputPrefix.

Prefix rules (docs: "Custom Prefixes for Amazon S3 Objects"): a Prefix without a timestamp expression
gets `!{timestamp:yyyy/MM/dd/HH/}` appended (not with dynamic partitioning, whose prefix is the
partition); an ErrorOutputPrefix with expressions must contain `!{firehose:error-output-type}`;
a Prefix must not; no ErrorOutputPrefix (allowed only when Prefix has no expressions) means
`<Prefix><error-output-type>/yyyy/MM/dd/HH/`.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import string

_EXPRESSION = re.compile(r"!\{([A-Za-z]+):([^}]*)\}")
DEFAULT_TIME_PREFIX = "!{timestamp:yyyy/MM/dd/HH/}"

# ---------------------------------------------------------------------------------------------
# Java DateTimeFormatter patterns (the subset Firehose prefixes use), evaluated in UTC


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _field(letter: str, width: int, moment: dt.datetime) -> str:
    if letter in "yu":
        return f"{moment.year % 100:02d}" if width == 2 else f"{moment.year:0{width}d}"
    if letter in "ML":
        if width >= 4:
            return _MONTHS[moment.month - 1]
        if width == 3:
            return _MONTHS[moment.month - 1][:3]
        return f"{moment.month:0{width}d}"
    simple = {
        "d": moment.day, "H": moment.hour, "m": moment.minute, "s": moment.second,
        "D": moment.timetuple().tm_yday, "h": (moment.hour % 12) or 12, "k": moment.hour or 24,
        "K": moment.hour % 12,
    }
    if letter in simple:
        return f"{simple[letter]:0{width}d}"
    if letter == "S":
        return f"{moment.microsecond:06d}{'0' * 3}"[:width]
    if letter == "E":
        name = _DAYS[moment.weekday()]
        return name if width >= 4 else name[:3]
    if letter == "a":
        return "AM" if moment.hour < 12 else "PM"
    raise ValueError(f"unsupported DateTimeFormatter pattern letter {letter!r}")


def java_format(pattern: str, moment: dt.datetime) -> str:
    """Format like java.time.format.DateTimeFormatter.ofPattern(pattern) (quoted text literal)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            if pattern[i + 1 : i + 2] == "'":  # '' is a literal quote
                out.append("'")
                i += 2
                continue
            i += 1
            while True:
                if i >= len(pattern):
                    raise ValueError(f"unterminated quote in {pattern!r}")
                if pattern[i] == "'":
                    if pattern[i + 1 : i + 2] == "'":  # '' inside quoted text
                        out.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                out.append(pattern[i])
                i += 1
        elif char in string.ascii_letters:
            j = i
            while j < len(pattern) and pattern[j] == char:
                j += 1
            out.append(_field(char, j - i, moment))
            i = j
        else:
            out.append(char)
            i += 1
    return "".join(out)


def random_string() -> str:
    """Firehose's `!{firehose:random-string}`: 11 characters, a new one per occurrence."""
    return secrets.token_hex(6)[:11]


def evaluate_prefix(
    prefix: str,
    moment: dt.datetime,
    *,
    error_output_type: str | None = None,
    lambda_keys: dict[str, str] | None = None,
    query_keys: dict[str, str] | None = None,
) -> str:
    def replace(match: re.Match[str]) -> str:
        namespace, value = match.groups()
        if namespace == "timestamp":
            return java_format(value, moment)
        if namespace == "firehose":
            if value == "random-string":
                return random_string()
            if value == "error-output-type":
                if error_output_type is None:
                    raise ValueError("!{firehose:error-output-type} is only allowed in ErrorOutputPrefix")
                return error_output_type
        if namespace == "partitionKeyFromLambda":
            if lambda_keys is None or value not in lambda_keys:
                raise KeyError(f"partition key {value!r} was not returned by the Lambda")
            return str(lambda_keys[value])
        if namespace == "partitionKeyFromQuery":
            if query_keys is None or value not in query_keys:
                raise KeyError(f"partition key {value!r} was not extracted by the query")
            return str(query_keys[value])
        raise ValueError(f"unknown prefix expression !{{{namespace}:{value}}}")

    evaluated = _EXPRESSION.sub(replace, prefix)
    if "!{" in evaluated:
        raise ValueError(f"`!{{` may only start an expression: {prefix!r}")
    if len(evaluated) > 512:
        raise ValueError("an evaluated prefix is longer than 512 characters")
    return evaluated


def effective_prefixes(prefix: str | None, error_prefix: str | None, dynamic: bool) -> tuple[str, str]:
    """Apply Firehose's semantic rules to the configured Prefix and ErrorOutputPrefix."""
    prefix = prefix or ""
    has_expressions = bool(_EXPRESSION.search(prefix))
    if "!{firehose:error-output-type}" in prefix:
        raise ValueError("Prefix can't contain !{firehose:error-output-type}")
    if error_prefix is None or error_prefix == "":
        if has_expressions:
            raise ValueError("ErrorOutputPrefix can't be null when Prefix contains expressions")
        error_prefix = prefix + "!{firehose:error-output-type}/" + DEFAULT_TIME_PREFIX
    elif _EXPRESSION.search(error_prefix):
        if "!{firehose:error-output-type}" not in error_prefix:
            raise ValueError("ErrorOutputPrefix with expressions must contain !{firehose:error-output-type}")
    else:
        error_prefix = error_prefix + "!{firehose:error-output-type}/" + DEFAULT_TIME_PREFIX
    if "!{timestamp:" not in prefix and not dynamic:
        prefix = prefix + DEFAULT_TIME_PREFIX
    return prefix, error_prefix
