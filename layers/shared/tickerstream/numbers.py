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

from decimal import Context, Decimal, Inexact, Overflow

DECIMAL_PLACES = 6
MAX_ABS_NUMBER = 1e12
PLACES_MESSAGE = f"must have at most {DECIMAL_PLACES} decimal places"

# Sums of quote values are exact by the rule; a context that traps instead of rounding makes sure.
EXACT = Context(prec=38, traps=[Inexact, Overflow])


def has_allowed_places(value: float | int) -> bool:
    """Whether a finite number within ±1e12 has at most 6 decimal places as written.

    ``round(x, 6)`` is the float nearest to x's exact binary value rounded to 6 places. If the shortest
    repr of x has at most 6 places, that repr is a 6-place number within half an ulp of x, so the nearest
    6-place number is at least as close and reads back as x; conversely a 6-place number that reads back
    as x is at least as long as the shortest repr, which then has no more places. (A tie at exactly half
    an ulp would need a multiple of 1/64 half an ulp from a float, which only happens past 2**47, far
    beyond 1e12.) tests/quote_processor/test_numbers.py checks this against ``Decimal(repr(x))``.
    """
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
