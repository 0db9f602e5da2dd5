"""The curves: `delay` is the exact inverse of `threshold`, and both never rise, so that the
alarm set for a standing tally fires at the very block it starts passing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.pallets.governance.tally import PPB
from runtime.pallets.governance.tracks import LINEAR, RECIPROCAL
from runtime.pallets.referenda.curves import (
    Curve,
    blocks_until,
    check_curve,
    delay,
    elapsed_ppb,
    threshold,
)

ppb = st.integers(0, PPB)


@st.composite
def curves(draw: st.DrawFn) -> Curve:
    if draw(st.booleans()):
        a = draw(ppb)
        curve = Curve(LINEAR, a, draw(st.integers(0, a)), draw(st.integers(1, PPB)))
    else:
        curve = Curve(
            RECIPROCAL,
            draw(st.integers(0, PPB * PPB)),
            draw(st.integers(1, PPB)),
            draw(st.integers(-PPB, PPB)),
        )
    check_curve(curve, "curve")
    return curve


@settings(max_examples=100)
@given(curves(), ppb)
def test_delay_is_the_least_point_at_which_the_curve_is_low_enough(curve: Curve, y: int) -> None:
    x = delay(curve, y)
    if x is None:
        assert threshold(curve, PPB) > y
        return
    assert 0 <= x <= PPB
    assert threshold(curve, x) <= y
    if x > 0:
        assert threshold(curve, x - 1) > y


@settings(max_examples=100)
@given(curves(), ppb, ppb)
def test_curves_never_rise(curve: Curve, x1: int, x2: int) -> None:
    lo, hi = sorted((x1, x2))
    assert threshold(curve, lo) >= threshold(curve, hi)
    assert 0 <= threshold(curve, hi) <= PPB


@settings(max_examples=100)
@given(ppb, st.integers(1, 10_000_000))
def test_blocks_until_is_the_first_block_at_or_past_a_point(x: int, period: int) -> None:
    e = blocks_until(x, period)
    assert elapsed_ppb(e, period) >= x
    if e > 0:
        assert elapsed_ppb(e - 1, period) < x


def test_linear_curve_values() -> None:
    curve = Curve(LINEAR, PPB, PPB // 2, PPB // 2)
    assert threshold(curve, 0) == PPB
    assert threshold(curve, PPB // 4) == PPB * 3 // 4
    assert threshold(curve, PPB // 2) == threshold(curve, PPB) == PPB // 2
    assert delay(curve, PPB // 2 - 1) is None
    assert delay(curve, PPB) == 0
