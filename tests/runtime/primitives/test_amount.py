"""Amounts: exact parsing of `12.5XPL` and `1500u`, shortest formatting, clear refusals."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.primitives.amount import (
    MAX_AMOUNT,
    UNITS_PER_XPL,
    InvalidAmount,
    format_amount,
    parse_amount,
)

amounts = st.one_of(
    st.integers(0, MAX_AMOUNT),
    st.integers(0, 10**6).map(lambda xpl: xpl * UNITS_PER_XPL),
    st.integers(MAX_AMOUNT - 10**15, MAX_AMOUNT),
)


def test_constants() -> None:
    assert UNITS_PER_XPL == 10**12
    assert MAX_AMOUNT == 2**128 - 1


@given(amounts)
def test_format_then_parse_round_trips(units: int) -> None:
    assert parse_amount(format_amount(units)) == units


@given(amounts)
def test_format_is_shortest_plain_decimal(units: int) -> None:
    assert re.fullmatch(r"(0|[1-9][0-9]*)(\.[0-9]*[1-9])?XPL", format_amount(units))


@given(amounts)
def test_units_form_round_trips(units: int) -> None:
    assert parse_amount(f"{units}u") == units
    assert parse_amount(f"{units} units") == units


@given(st.integers(0, 10**20), st.text(alphabet="0123456789", min_size=1, max_size=12))
def test_decimal_xpl_is_exact(whole: int, fraction: str) -> None:
    expected = whole * UNITS_PER_XPL + int(fraction) * 10 ** (12 - len(fraction))
    assert parse_amount(f"{whole}.{fraction}XPL") == expected
    assert parse_amount(f"{whole}.{fraction} XPL") == expected


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("12.5XPL", 12_500_000_000_000),
        ("12.5 XPL", 12_500_000_000_000),
        ("0.000000000001XPL", 1),
        ("1XPL", UNITS_PER_XPL),
        ("0XPL", 0),
        ("0.000000000000XPL", 0),
        ("007XPL", 7 * UNITS_PER_XPL),
        ("1500u", 1500),
        ("1500 units", 1500),
        ("1 unit", 1),
        ("0u", 0),
        (" 3XPL ", 3 * UNITS_PER_XPL),
        (f"{MAX_AMOUNT}u", MAX_AMOUNT),
        ("340282366920938463463374607.431768211455XPL", MAX_AMOUNT),
    ],
)
def test_accepted_forms(text: str, units: int) -> None:
    assert parse_amount(text) == units


@pytest.mark.parametrize(
    ("units", "text"),
    [
        (12_500_000_000_000, "12.5XPL"),
        (0, "0XPL"),
        (1, "0.000000000001XPL"),
        (10**6 * UNITS_PER_XPL, "1000000XPL"),
        (1500, "0.0000000015XPL"),
        (MAX_AMOUNT, "340282366920938463463374607.431768211455XPL"),
    ],
)
def test_format_examples(units: int, text: str) -> None:
    assert format_amount(units) == text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty amount"),
        ("   ", "empty amount"),
        ("1,000XPL", "without separators"),
        ("1_000XPL", "without separators"),
        ("1,5XPL", "point for decimals"),
        ("1e3XPL", "exponent notation is not accepted"),
        ("1E3", "exponent notation is not accepted"),
        ("2.5e-3XPL", "exponent notation is not accepted"),
        ("-5XPL", "cannot be negative"),
        ("-1u", "cannot be negative"),
        ("+5XPL", "without a sign"),
        ("0.0000000000001XPL", "more than 12 decimals"),
        ("12.5u", "whole number"),
        (".5XPL", "both sides of the decimal point"),
        ("5.XPL", "both sides of the decimal point"),
        ("12.5xpl", "the unit must be XPL"),
        ("12.5 DOT", "the unit must be XPL"),
        ("abc", "expected an amount such as 12.5XPL"),
        ("NaN", "expected an amount such as 12.5XPL"),
        ("inf XPL", "expected an amount such as 12.5XPL"),
        ("\u0661XPL", "expected an amount such as 12.5XPL"),  # an Arabic-Indic digit
        (f"{MAX_AMOUNT + 1}u", "above the largest amount"),
        ("340282366920938463463374608XPL", "above the largest amount"),
        ("1" * 200 + "u", "too long"),
    ],
)
def test_malformed_amounts_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(InvalidAmount, match=re.escape(fragment)) as info:
        parse_amount(text)
    if text.strip() and len(text) < 100:
        assert repr(text) in str(info.value)


def test_bare_number_suggests_both_forms() -> None:
    with pytest.raises(InvalidAmount) as info:
        parse_amount("12.5")
    assert "12.5XPL" in str(info.value)
    assert "12500000000000u" in str(info.value)
    with pytest.raises(InvalidAmount) as info:
        parse_amount("1500")
    assert "1500XPL" in str(info.value)
    assert "1500u" in str(info.value)


def test_parse_refuses_non_text() -> None:
    with pytest.raises(InvalidAmount, match="as text"):
        parse_amount(12.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [-1, MAX_AMOUNT + 1, 1.5, True, "12"])
def test_format_refuses_what_is_not_an_amount(value: object) -> None:
    with pytest.raises(InvalidAmount):
        format_amount(value)  # type: ignore[arg-type]
