"""DynamoDB's documented rules for a number, checked by our own code (moto does not enforce the 38 digits).

https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html:
up to 38 digits of precision (leading and trailing zeroes are trimmed); positive range
1E-130 .. 9.9999999999999999999999999999999999999E+125, negative range the same, or 0. Our own output
must also be in plain decimal notation (no exponent).
"""

from __future__ import annotations

import re
from decimal import Decimal

MAX_DIGITS = 38
SMALLEST = Decimal("1E-130")
LARGEST = Decimal("9.9999999999999999999999999999999999999E+125")
_PLAIN = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")


def problems(text: str) -> list[str]:
    """Why DynamoDB (or our plain-notation rule) would refuse `text` as a number; empty if it would not."""
    found = []
    if not _PLAIN.fullmatch(text):
        found.append(f"{text!r} is not plain decimal notation")
        try:
            value = Decimal(text)
        except ArithmeticError:
            return [*found, f"{text!r} is not a number"]
    else:
        value = Decimal(text)
    if not value.is_finite():
        return [*found, f"{text!r} is not finite"]
    digits = "".join(map(str, value.as_tuple().digits)).strip("0")
    if len(digits) > MAX_DIGITS:
        found.append(f"{text!r} has {len(digits)} significant digits, more than {MAX_DIGITS}")
    if value != 0 and not SMALLEST <= abs(value) <= LARGEST:
        found.append(f"{text!r} is outside 1E-130 .. 9.99…E+125")
    return found

