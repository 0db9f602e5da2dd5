"""Amounts of XPL: integers in the smallest unit, written for people as `12.5XPL`.

1 XPL = 10^12 units. People write an amount either in XPL with up to 12 decimals (`12.5XPL`,
`12.5 XPL`) or as a whole number of units (`1500u`, `1500 units`). A bare number is refused:
guessing its unit is how money goes missing. Parsing works on the decimal digits as text and
never goes through a float.
"""

from __future__ import annotations

import re
from typing import Final

DECIMALS: Final = 12
UNITS_PER_XPL: Final = 10**DECIMALS
MAX_AMOUNT: Final = 2**128 - 1
"""The largest amount: balances are unsigned 128-bit integers."""

_MAX_TEXT_LEN: Final = 100  # 39 digits of MAX_AMOUNT, 12 decimals, a unit and some slack
_XPL_FORM: Final = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))? *XPL", re.ASCII)
_UNITS_FORM: Final = re.compile(r"(?P<units>[0-9]+) *(?:u|units?)", re.ASCII)
_NUMBER: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)


class InvalidAmount(ValueError):
    """Text that is not an amount, or an amount out of range."""


def parse_amount(text: str) -> int:
    """Units in `12.5XPL`, `12.5 XPL`, `1500u` or `1500 units`; refuses anything else."""
    if not isinstance(text, str):
        raise InvalidAmount(f"expected an amount as text, got {type(text).__name__}")
    if len(text) > _MAX_TEXT_LEN:
        raise InvalidAmount(f"amount {text[:40]!r}...: too long to be an amount")
    stripped = text.strip()
    if not stripped:
        raise InvalidAmount("empty amount: write it as 12.5XPL or 12500000000000u")
    if match := _XPL_FORM.fullmatch(stripped):
        fraction = match["fraction"] or ""
        if len(fraction) > DECIMALS:
            raise InvalidAmount(
                f"amount {text!r}: more than {DECIMALS} decimals "
                f"(the smallest amount is 0.{'0' * (DECIMALS - 1)}1XPL)"
            )
        units = int(match["whole"]) * UNITS_PER_XPL + int(fraction.ljust(DECIMALS, "0"))
    elif match := _UNITS_FORM.fullmatch(stripped):
        units = int(match["units"])
    else:
        raise InvalidAmount(f"amount {text!r}: {_what_is_wrong(stripped)}")
    if units > MAX_AMOUNT:
        raise InvalidAmount(
            f"amount {text!r}: above the largest amount, {format_amount(MAX_AMOUNT)}"
        )
    return units


def format_amount(units: int) -> str:
    """The shortest exact `…XPL` form of an amount: `12.5XPL`, `0XPL`, `0.000000000001XPL`."""
    if isinstance(units, bool) or not isinstance(units, int):
        raise InvalidAmount(f"an amount is an integer number of units, got {type(units).__name__}")
    if not 0 <= units <= MAX_AMOUNT:
        raise InvalidAmount(f"amount {units} units is outside 0 to {MAX_AMOUNT}")
    whole, fraction = divmod(units, UNITS_PER_XPL)
    if not fraction:
        return f"{whole}XPL"
    return f"{whole}.{fraction:0{DECIMALS}d}".rstrip("0") + "XPL"


def _what_is_wrong(text: str) -> str:
    """Explain why `text` (already stripped) matches neither amount form."""
    if text[0] == "-":
        return "an amount cannot be negative"
    if text[0] == "+":
        return "write the amount without a sign"
    if "," in text or "_" in text or "'" in text:
        return (
            "write the number without separators and with a point for decimals, "
            "e.g. 1000XPL or 12.5XPL"
        )
    if re.search(r"[0-9.][eE][-+]?[0-9]", text, re.ASCII):
        return "exponent notation is not accepted; write all the digits, e.g. 1000XPL"
    if _NUMBER.fullmatch(text):
        return _suggest_unit(text)
    if re.fullmatch(r"(?:\.[0-9]*|[0-9]+\.) *(?:XPL)?", text, re.ASCII | re.IGNORECASE):
        return "write digits on both sides of the decimal point, e.g. 0.5XPL"
    if re.fullmatch(r"[0-9]+\.[0-9]+ *(?:u|units?)", text, re.ASCII):
        return "a number of units is a whole number; use XPL for fractions, e.g. 12.5XPL"
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)? *[A-Za-z]+", text, re.ASCII):
        return "the unit must be XPL (e.g. 12.5XPL) or u for units (e.g. 1500u)"
    return "expected an amount such as 12.5XPL or 12500000000000u"


def _suggest_unit(number: str) -> str:
    """The message for a bare number: show it in both forms, since its unit is a guess."""
    try:
        units = parse_amount(number + "XPL")
    except InvalidAmount:
        return "no unit: write the amount as 12.5XPL or 12500000000000u"
    hint = f"no unit: write {number}XPL, or the same amount in units, {units}u"
    if number.isdigit():
        hint += f" (or {number}u if you meant {number} units)"
    return hint
