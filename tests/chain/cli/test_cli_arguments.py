"""How the CLI reads convictions and commissions as users write them (no node needed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.cli.errors import CliError
from chain.cli.governance import CONVICTIONS, conviction_text, parse_conviction
from chain.cli.staking import parse_commission


@pytest.mark.parametrize(
    ("text", "conviction"),
    [("0.1x", 0), ("0.1", 0), ("none", 0), ("1x", 1), ("3x", 3), ("3", 3), ("6X", 6)],
)
def test_convictions_read_as_written(text: str, conviction: int) -> None:
    assert parse_conviction(text) == conviction


@pytest.mark.parametrize("text", ["7x", "-1x", "0.5x", "lots", "", "1.5x", "10x"])
def test_a_conviction_out_of_range_is_refused_naming_the_accepted_ones(text: str) -> None:
    with pytest.raises(CliError, match=r"expected 0\.1x \(no lock\) or 1x to 6x"):
        parse_conviction(text)


@given(st.integers(0, 6))
def test_a_conviction_reads_back_as_it_is_written(conviction: int) -> None:
    assert parse_conviction(conviction_text(conviction)) == conviction
    assert conviction_text(conviction) == CONVICTIONS[conviction]


@pytest.mark.parametrize(
    ("text", "ppm"),
    [("5%", 50_000), ("2.5%", 25_000), ("0%", 0), ("100%", 1_000_000), ("0.05", 50_000)],
)
def test_commissions_read_as_parts_per_million(text: str, ppm: int) -> None:
    assert parse_commission(text) == ppm


@pytest.mark.parametrize("text", ["101%", "-1%", "1.5", "0.00001%", "five", "nan%", "inf"])
def test_a_commission_out_of_range_is_refused(text: str) -> None:
    with pytest.raises(CliError, match="commission"):
        parse_commission(text)
