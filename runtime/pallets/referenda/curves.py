"""The approval and support curves: the least a referendum needs at each point of its decision
period, and the first point at which a given approval or support is enough.

A curve is `(kind, a, b, c)` (see `runtime.pallets.governance.tracks`), evaluated at x, the part
of the decision period elapsed, in parts per billion:

- LINEAR: from `a` at x = 0 down to `b` at x = `c`, then `b` (`a` >= `b`, 0 < `c` <= 1e9);
- RECIPROCAL: `a` / (x + `b`) + `c`, clamped to [0, 1e9] (`a` >= 0, `b` > 0).

Both never rise, so a referendum that passes at x passes at every later x with the same tally;
`delay` inverts `threshold` exactly in integers, which lets referenda set an alarm for the very
block at which a standing tally starts passing.
"""

from __future__ import annotations

from typing import NamedTuple

from runtime.pallets.governance.tally import PPB
from runtime.pallets.governance.tracks import LINEAR, RECIPROCAL, TrackInfo


class Curve(NamedTuple):
    """One threshold curve: its kind and three coefficients."""

    kind: int
    a: int
    b: int
    c: int


def approval_curve(track: TrackInfo) -> Curve:
    """The track's approval curve (the least ayes / (ayes + nays))."""
    return Curve(track.approval_kind, track.approval_a, track.approval_b, track.approval_c)


def support_curve(track: TrackInfo) -> Curve:
    """The track's support curve (the least aye and abstain capital / total issuance)."""
    return Curve(track.support_kind, track.support_a, track.support_b, track.support_c)


def check_curve(curve: Curve, what: str) -> None:
    """ValueError naming `what` unless the curve is well formed and never rises."""
    kind, a, b, c = curve
    if kind == LINEAR:
        if not 0 <= b <= a <= PPB:
            raise ValueError(f"{what}: a linear curve falls from a to b, 0 <= b <= a <= 1e9")
        if not 0 < c <= PPB:
            raise ValueError(f"{what}: a linear curve's length c is 1 to 1e9")
    elif kind == RECIPROCAL:
        if a < 0 or not 0 < b <= PPB or abs(c) > PPB or a > PPB * PPB * 1_000:
            raise ValueError(
                f"{what}: a reciprocal curve has a >= 0 (at most 1e21), 0 < b <= 1e9, |c| <= 1e9"
            )
    else:
        raise ValueError(f"{what}: unknown curve kind {kind}")


def threshold(curve: Curve, x: int) -> int:
    """The curve's value at x (ppb of the decision period elapsed, clamped to [0, 1e9])."""
    kind, a, b, c = curve
    x = min(max(x, 0), PPB)
    if kind == LINEAR:
        return a - (a - b) * min(x, c) // c
    return min(PPB, max(0, a // (x + b) + c))


def delay(curve: Curve, y: int) -> int | None:
    """The least x in [0, 1e9] at which the curve is at most `y`; None if it never is."""
    kind, a, b, c = curve
    if kind == LINEAR:
        if y >= a:
            return 0
        if y < b:
            return None
        # a - floor((a - b) x / c) <= y  <=>  x >= ceil((a - y) c / (a - b))
        return -(-(a - y) * c // (a - b))
    if y >= PPB:
        return 0
    k = y - c
    if k < 0:
        return None
    # floor(a / (x + b)) <= k  <=>  x + b > a / (k + 1)  <=>  x >= a // (k + 1) + 1 - b
    x = max(0, a // (k + 1) + 1 - b)
    return x if x <= PPB else None


def elapsed_ppb(elapsed: int, period: int) -> int:
    """The part of a decision period of `period` blocks that `elapsed` blocks are, in ppb."""
    return min(PPB, elapsed * PPB // period)


def blocks_until(x: int, period: int) -> int:
    """The least number of blocks e with `elapsed_ppb(e, period)` >= x."""
    return -(-x * period // PPB)
