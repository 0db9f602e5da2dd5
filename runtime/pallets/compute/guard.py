"""The incentive guard: parameters under which faking a job, in full or in part, loses money.

A worker paid R for a job costing it C ≤ R may fake a share f of its leaves. It then saves at
most min(1, D·f)·C, where D is the leaf-dependency factor (below). One audit happens with
probability q; it recomputes k leaves drawn from the job, so it draws a faked leaf with
probability at least 1 − (1 − f)^k (drawing without replacement only raises it); a committee of c
members drawn by stake convicts when a strict majority of them is honest, which it is with
probability P_conv when one party holds the share α = collusion_ppm of the stake:

    P_conv = Σ_{h > c/2} C(c, h)·(1 − α)^h·α^(c − h).

The draw comes from the chain randomness (`runtime.pallets.randomness`), which the author of the
block that completes it can influence only by forfeiting its slot: it then gets the next author's
draw instead of its own. A cheater that authors that block sees its own draw first and, if it
would be caught, forfeits: it is caught only if both draws catch it. The block that completes an
audit's draw lies DRAW_DELAY + j blocks after the commitment, with j set by the randomness of the
block after the commitment (`compute.drawing`), so a cheater cannot time its commitment to author
it: it authors it with about its share α of the slots, twice that counting its own one-bit
choice of j when it authors the block after the commitment. With F = min(1, 2α), one draw
convicting with x(f) = q·P_conv·(1 − (1 − f)^k), the cheater is caught with

    caught(f) = (1 − F)·x(f) + F·x(f)².

Convicted, the worker loses R and its slash S = m·R, of which a challenger that is the cheater
itself may take back challenger_share; so the guard counts m_eff = m·(1 − challenger_share).
Faking pays nothing in expectation when, for every f,

    caught(f)·(1 + m_eff)·R > min(1, D·f)·C,

and the guard requires, with C = R, the least over f of caught(f)·(1 + m_eff) / min(1, D·f)
(bounded from below exactly on a grid of f, `least_deterrence`) to be at least 1 + margin, and
strictly more than 1 even with margin 0. Without forfeits (F = 0) the least lies at f = 1/D; with
them, small f are worse for a cheater that decides its draw (x² is small), and the (1 − F)·x
share keeps them deterred.

The dependency factor D: a gemm_i8 leaf and a qmlp_i8 leaf are recomputed from the inputs alone
(a qmlp leaf through every layer up to its own), so faking a leaf saves that leaf: D = 1. An
sgd_fxp step is recomputed from the committed step before it, so a faked step makes the next one
checkable only against the fake; a zeroed step makes the next step's forward pass free, half its
work, so faking a share f of the steps saves up to 1.5·f of the job: D = 3/2.

An mlp_fxp checkpoint is recomputed from the committed checkpoint before it too, but an MLP has
states from which training costs nothing to predict: the all-zero network is a fixed point of
SGD (no gradient reaches a layer whose input and whose next layer's weights are zero), and so is
one whose hidden units are all dead. A worker that fakes one checkpoint as such a state computes
every later one from it for free, and each later one passes its audit: faking one leaf of L can
save the whole job, D = L. So an audit of an mlp_fxp job draws every checkpoint
(`runtime.workloads.audited_leaves`; at most MAX_MLP_CHECKPOINTS = 16 of them): any faked
checkpoint is then caught whenever the job is audited, with q·P_conv, which is the guard's case
f = 1 (faking everything) and needs no factor of its own. The price is the audit's work: the whole
job, not k leaves of it.

What a cheater can still do: fake and hope. At the guard's bound its expected loss exceeds its
saving by the margin; a cheater whose cost is below its payment (C < R) saves even less. A party
with more than collusion_ppm of the stake can pass its own fakes more often than P_conv assumes:
the guard is as good as that assumption, which governance sets.

All arithmetic is exact (fractions of integers): the guard is consensus code.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from math import comb
from typing import Final, Protocol

from runtime.workloads import (
    MAX_LEAF_VERIFY_UNITS,
    MAX_MLP_CHECKPOINTS,
    VERIFIER_UNITS_PER_S,
    most_audited_leaves,
)

PPM: Final = 1_000_000

DEPENDENCY_FACTOR: Final = Fraction(3, 2)
"""D: the most work faking a share f of a job's leaves saves, as a multiple of f, over every
workload: an sgd_fxp step computed from a zeroed (faked) step before it costs half (see above)."""


class MarketTerms(Protocol):
    """What the guard reads of the market's parameters."""

    @property
    def slash_ppm(self) -> int: ...


class VerificationTerms(Protocol):
    """What the guard reads of the compute parameters."""

    @property
    def audit_ppm(self) -> int: ...
    @property
    def audit_leaves(self) -> int: ...
    @property
    def committee_size(self) -> int: ...
    @property
    def commit_window(self) -> int: ...
    @property
    def challenger_share_ppm(self) -> int: ...
    @property
    def collusion_ppm(self) -> int: ...
    @property
    def margin_ppm(self) -> int: ...
    def check(self) -> None:
        """ValueError naming the first parameter out of its range."""


def conviction_probability(committee_size: int, collusion_ppm: int) -> Fraction:
    """P_conv: that a committee of `committee_size` members drawn by stake has a strict honest
    majority when one party holds `collusion_ppm` of the stake."""
    honest = Fraction(PPM - collusion_ppm, PPM)
    colluding = 1 - honest
    return sum(
        (
            comb(committee_size, h) * honest**h * colluding ** (committee_size - h)
            for h in range(committee_size // 2 + 1, committee_size + 1)
        ),
        Fraction(0),
    )


def worst_detection_ratio(audit_leaves: int, dependency: Fraction = DEPENDENCY_FACTOR) -> Fraction:
    """min over f of (1 − (1 − f)^k) / min(1, D·f): the least detection per unit of saving
    (without forfeits: the detection is concave in f, so the least is at f = 1/D)."""
    f = min(Fraction(1), 1 / dependency)
    return (1 - (1 - f) ** audit_leaves) / min(Fraction(1), dependency * f)


def forfeit_share(collusion_ppm: int) -> Fraction:
    """F: the chance a party with `collusion_ppm` of the slots decides its own job's draw by
    authoring (or forfeiting) the block that completes it (see the module)."""
    return min(Fraction(1), Fraction(2 * collusion_ppm, PPM))


GRID: Final = 384
"""The shares f = i/GRID of faked leaves at which the guard bounds the deterrence (a multiple of
3, so that f = 1/D = 2/3, where the least lies at usual parameters, is on it)."""


def least_deterrence(
    audit_ppm: int,
    audit_leaves: int,
    p_conv: Fraction,
    forfeit: Fraction,
    penalty: Fraction,
    dependency: Fraction = DEPENDENCY_FACTOR,
) -> Fraction:
    """A lower bound, over every share f of faked leaves, of the cheater's expected loss per
    unit it saves: caught(f)·(1 + m_eff) / min(1, D·f), where one draw convicts with
    x(f) = q·P_conv·(1 − (1 − f)^k) and a cheater deciding its draw (chance F) is caught only if
    both of the draws it chooses between convict: caught = (1 − F)·x + F·x².

    Exact: on each interval [f_i, f_{i+1}] of the grid below the knee f = 1/D, caught/saving =
    (x/(D·f))·(1 − F + F·x), whose first factor falls (x is concave from 0) and second rises,
    so x(f_{i+1})/(D·f_{i+1})·(1 − F + F·x(f_i)) bounds it from below (from f = 0 too); above
    the knee the saving is the whole job and caught(f_i) bounds it."""
    q = Fraction(audit_ppm, PPM)
    knee = min(Fraction(1), 1 / dependency)  # where the saving reaches the whole job

    def x(f: Fraction) -> Fraction:
        return q * p_conv * (1 - (1 - f) ** audit_leaves)

    def share_kept(x_lo: Fraction) -> Fraction:
        return 1 - forfeit + forfeit * x_lo  # caught / x, rising with x

    points = [Fraction(i, GRID) for i in range(GRID + 1)]
    least: Fraction | None = None
    for lo, hi in itertools.pairwise(points):
        x_lo, x_hi = x(lo), x(hi)
        if hi <= knee:  # caught/saving = (x/(D·f))·share_kept(x): the first falls, the second rises
            bound = x_hi / (dependency * hi) * share_kept(x_lo)
        elif lo >= knee:  # the saving is the whole job; caught rises
            bound = x_lo * share_kept(x_lo)
        else:
            bound = x_lo * share_kept(x_lo) / min(Fraction(1), dependency * hi)
        least = bound if least is None else min(least, bound)
    assert least is not None
    return least * (1 + penalty)


def deterrence(market: MarketTerms, compute: VerificationTerms) -> Fraction:
    """A cheater's least expected loss per unit it saves (`least_deterrence` at these
    parameters)."""
    m_eff = Fraction(market.slash_ppm, PPM) * Fraction(PPM - compute.challenger_share_ppm, PPM)
    return least_deterrence(
        compute.audit_ppm,
        compute.audit_leaves,
        conviction_probability(compute.committee_size, compute.collusion_ppm),
        forfeit_share(compute.collusion_ppm),
        m_eff,
    )


def least_audit_ppm(market: MarketTerms, compute: VerificationTerms) -> int:
    """The least audit_ppm the guard accepts with the other parameters as they are (PPM + 1 if
    none does): the deterrence grows with the audit probability, so a bisection finds it."""
    needed = 1 + Fraction(compute.margin_ppm, PPM)
    m_eff = Fraction(market.slash_ppm, PPM) * Fraction(PPM - compute.challenger_share_ppm, PPM)
    p_conv = conviction_probability(compute.committee_size, compute.collusion_ppm)
    forfeit = forfeit_share(compute.collusion_ppm)

    def enough(audit_ppm: int) -> bool:
        value = least_deterrence(audit_ppm, compute.audit_leaves, p_conv, forfeit, m_eff)
        return value >= needed and value > 1

    low, high = 0, PPM + 1
    while low < high:
        mid = (low + high) // 2
        if mid <= PPM and enough(mid):
            high = mid
        else:
            low = mid + 1
    return low


def _decimal(value: Fraction, places: int = 4) -> str:
    """`value` as a decimal, rounded down, in integer arithmetic."""
    scale = 10**places
    scaled = value.numerator * scale // value.denominator
    return f"{scaled // scale}.{scaled % scale:0{places}d}"


def check_incentives(market: MarketTerms, compute: VerificationTerms) -> None:
    """ValueError unless faking any share of a job loses money by the margin (see the module):
    the least of caught(f)·(1 + m_eff) / saving(f) is at least 1 + margin, and above 1."""
    compute.check()
    value = deterrence(market, compute)
    needed = 1 + Fraction(compute.margin_ppm, PPM)
    if value >= needed and value > 1:
        return
    p_conv = conviction_probability(compute.committee_size, compute.collusion_ppm)
    decided = _decimal(forfeit_share(compute.collusion_ppm))
    raise ValueError(
        f"faking results pays: with audit_ppm {compute.audit_ppm}, conviction probability "
        f"{_decimal(p_conv)} (committee_size {compute.committee_size}, collusion_ppm "
        f"{compute.collusion_ppm}, so a colluding author decides {decided}"
        f" of its draws), audit_leaves {compute.audit_leaves}, slash_ppm {market.slash_ppm} and "
        f"challenger_share_ppm {compute.challenger_share_ppm}, a cheater's least expected loss "
        f"per unit saved is {_decimal(value)}, "
        f"needs at least {_decimal(needed)} (margin_ppm {compute.margin_ppm}) and more than 1: "
        "raise audit_ppm, committee_size or slash_ppm"
    )


def check_verification_window(compute: VerificationTerms, slot_duration_ms: int) -> None:
    """ValueError unless an audit's leaves recompute within the commit window at the verifier
    rate the workload bounds assume: L × MAX_LEAF_VERIFY_UNITS ≤ VERIFIER_UNITS_PER_S ×
    commit_window × slot duration, with L the most leaves any audit draws
    (`most_audited_leaves`: audit_leaves, or the MAX_MLP_CHECKPOINTS an mlp_fxp audit
    recomputes whatever audit_leaves is).

    Within it a requester can submit the job whose leaves are the costliest to verify: its audit
    then takes the whole window on the slowest verifier the bounds assume, and still ends in time.
    """
    leaves = most_audited_leaves(compute.audit_leaves)
    work = leaves * MAX_LEAF_VERIFY_UNITS * 1000
    allowed = VERIFIER_UNITS_PER_S * compute.commit_window * slot_duration_ms
    if work > allowed:
        needed_ms = -(-work // VERIFIER_UNITS_PER_S)
        raise ValueError(
            f"{leaves} audited leaves (audit_leaves {compute.audit_leaves}, an mlp_fxp job's "
            f"checkpoints at most {MAX_MLP_CHECKPOINTS}) of up to {MAX_LEAF_VERIFY_UNITS} cost "
            f"units each take {needed_ms} ms at {VERIFIER_UNITS_PER_S} units/s, over a commit "
            f"window of commit_window {compute.commit_window} blocks × {slot_duration_ms} ms: "
            "raise commit_window or lower audit_leaves"
        )


__all__ = [
    "DEPENDENCY_FACTOR",
    "check_incentives",
    "check_verification_window",
    "conviction_probability",
    "deterrence",
    "forfeit_share",
    "least_audit_ppm",
    "least_deterrence",
    "worst_detection_ratio",
]
