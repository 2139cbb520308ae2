"""The number rule for quote values, and how numbers are written for DynamoDB.

The rule: ``change`` and ``price`` are finite, |x| <= 1e12, with at most 6 decimal places as written
(the value is a whole multiple of 0.000001 once the float is read back as its shortest decimal,
``Decimal(repr(x))``). 12 integer and 6 fractional digits make at most 18 significant digits, so every
stored value fits DynamoDB's 38 digits and its 1E-130..9.99E+125 range. A sector's ``change_sum`` is a
sum of such values: it keeps 6 places and stays within 38 digits until more than 1e20 quotes have been
summed (|sum| <= n * 1e12 needs 12 + log10(n) integer digits, plus 6 fractional ones).

Numbers go to DynamoDB in plain decimal notation (``0.00001``, never ``1e-05``): real DynamoDB takes
both, the local stack's (moto) refuses the exponent form in an ``ADD``.
"""

from __future__ import annotations

import json
import re
import secrets
from decimal import Context, Decimal, Inexact, Overflow
from typing import Any

DECIMAL_PLACES = 6
MAX_ABS_NUMBER = 1e12
PLACES_MESSAGE = f"must have at most {DECIMAL_PLACES} decimal places"

# Sums of quote values are exact by the rule; a context that traps instead of rounding makes sure.
EXACT = Context(prec=38, traps=[Inexact, Overflow])


# Below this magnitude the multiply-and-round check below is exact (see has_allowed_places).
FAST_LIMIT = 2.0**31
_SCALE = 10.0**DECIMAL_PLACES


def has_allowed_places(value: float | int) -> bool:
    """Whether a finite number within ±1e12 has at most 6 decimal places as written, i.e. whether
    ``Decimal(repr(x))`` is a whole multiple of 0.000001.

    Equivalently: some 6-place decimal reads back as x. (If the shortest repr has at most 6 places it is
    one; if a 6-place decimal reads back as x, the shortest repr is no longer than it and, at the same
    magnitude, has no more places.) Two checks of that, both tested against the definition in
    tests/properties/test_number_rule.py:

    - |x| < 2**31: n = round(x * 1e6) is the integer nearest to x's 6-place candidate. For a valid x,
      |x - s| <= ulp(x)/2 <= 2**-23 for its 6-place s, so |x*1e6 - n_s| <= 0.12, and the float product
      adds at most 0.125 (half an ulp below 2**51): n = n_s. n / 1e6 is the correctly rounded quotient of exact
      floats n_s and 1e6, i.e. float(s) = x. For an invalid x no n reads back as x. ~200 ns, on the hot path.
    - otherwise ``x == round(x, 6)``: Python rounds the exact binary value to 6 places and reads it
      back; if any 6-place decimal reads back as x, the nearest one does too (a tie at exactly half an
      ulp would need a multiple of 1/64 half an ulp from a float, which only happens past 2**47).
    """
    if -FAST_LIMIT < value < FAST_LIMIT:
        return value == round(value * _SCALE) / _SCALE
    return value == round(value, DECIMAL_PLACES)


def plain(value: float | int | Decimal) -> str:
    """``value`` as DynamoDB number text in plain decimal notation, without an exponent; zero is ``0``."""
    if type(value) is int:
        return str(value)
    if type(value) is float:
        text = repr(value)
        if "e" not in text:
            return "0" if value == 0 else text
        value = Decimal(text)
    if value == 0:
        return "0"
    return format(value, "f")


def dumps_exact(value: Any) -> str:
    """Compact JSON in which every Decimal is written as the number it is, digit for digit.

    DynamoDB hands numbers back as exact decimals; a float would round a sector's ``change_sum`` once it
    passes 17 significant digits (999999999999.990001 would come back as 999999999999.99). The json
    module writes only floats as numbers, so each Decimal goes out as a placeholder string carrying a
    per-call nonce (no text a client sent can look like one) and is put back as plain number text.
    """
    texts: list[str] = []
    nonce = secrets.token_hex(8)

    def as_placeholder(obj: Any) -> str:
        if isinstance(obj, Decimal) and obj.is_finite():
            texts.append(plain(obj))
            return f"{nonce}:{len(texts) - 1}"
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

    encoded = json.dumps(value, separators=(",", ":"), default=as_placeholder)
    if not texts:
        return encoded
    return re.sub(f'"{nonce}:(\\d+)"', lambda match: texts[int(match.group(1))], encoded)
