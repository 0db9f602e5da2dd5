"""The incentive guard: whenever it accepts parameters, faking a job, in full or in part, loses.

The expected profit of a cheat is computed here independently of the guard's closed form: the
committee's conviction probability by enumerating every committee (each member colluding or not),
the chance an audit draws a faked leaf for each count of faked leaves of a job, and the work saved
leaf by leaf, with an sgd step computed on from a zeroed (faked) step costing half.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS, ComputeParams, check_incentives
from runtime.pallets.compute.guard import (
    check_verification_window,
    conviction_probability,
    deterrence,
)
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, PPM, MarketParams
from runtime.workloads import (
    MAX_LEAF_VERIFY_UNITS,
    MAX_MLP_CHECKPOINTS,
    VERIFIER_UNITS_PER_S,
    audited_leaves,
    workload_shape,
)

CP = DEFAULT_COMPUTE_PARAMS
MP = DEFAULT_MARKET_PARAMS


def enumerated_conviction(committee_size: int, collusion_ppm: int) -> Fraction:
    """P(a strict honest majority), summing over every committee drawn by stake."""
    colluding = Fraction(collusion_ppm, PPM)
    total = Fraction(0)
    for members in itertools.product((True, False), repeat=committee_size):
        honest = sum(members)
        if 2 * honest > committee_size:
            p = Fraction(1)
            for is_honest in members:
                p *= (1 - colluding) if is_honest else colluding
            total += p
    return total


def saved_share(workload: str, faked: set[int], leaves: int) -> Fraction:
    """The share of a job's work a worker saves by faking `faked` leaves: each faked leaf; for
    sgd_fxp, half of each honest step computed on from a faked one as well."""
    saved = Fraction(len(faked))
    if workload == "sgd_fxp":
        saved += Fraction(sum(1 for t in range(1, leaves) if t - 1 in faked and t not in faked), 2)
    return min(Fraction(1), saved / leaves)


def cheat_profit(
    market: MarketParams, compute: ComputeParams, workload: str, leaves: int, faked: set[int]
) -> Fraction:
    """A cheat's expected profit over honest work, per unit of payment, when the work costs the
    whole payment (C = R): what it saves, less what it loses when convicted (its payment and the
    slash less what a challenger of its own takes back). One draw convicts with x; a cheater
    that authors the block completing its draw (twice its share of the slots: its own slot, or
    its one-bit choice of the roll's delay) forfeits when that draw would convict it, so then it
    is convicted only if the next author's draw convicts it too."""
    q = Fraction(compute.audit_ppm, PPM)
    clean = Fraction(leaves - len(faked), leaves)
    drawn = 1 - clean**compute.audit_leaves
    x = q * enumerated_conviction(compute.committee_size, compute.collusion_ppm) * drawn
    decides = min(Fraction(1), Fraction(2 * compute.collusion_ppm, PPM))
    convicted = (1 - decides) * x + decides * x * x
    slash = Fraction(market.slash_ppm, PPM) * Fraction(PPM - compute.challenger_share_ppm, PPM)
    return saved_share(workload, faked, leaves) - convicted * (1 + slash)


def cheats(leaves: int) -> list[set[int]]:
    """Ways to fake a job of `leaves` leaves: the first j, every other one, all."""
    found = [set(range(j)) for j in range(1, leaves + 1)]
    found += [set(range(start, leaves, 2)) for start in (0, 1)]
    found += [set(range(start, leaves, 3)) for start in (0, 1)]
    return [f for f in found if f]


def test_the_defaults_pass_with_the_margin() -> None:
    assert conviction_probability(3, 250_000) == Fraction(27, 32)
    assert Fraction(5, 4) <= deterrence(MP, CP) < Fraction(7, 5)
    check_incentives(MP, CP)


def test_the_old_default_audit_probability_is_refused() -> None:
    with pytest.raises(ValueError, match="audit_ppm 250000"):
        check_incentives(MP, replace(CP, audit_ppm=250_000))


def test_margin_zero_still_needs_strictly_more_than_one() -> None:
    # A committee of 1 with nobody colluding (P_conv = 1, no forfeits), one leaf drawn: the
    # least detection per saving is q·1/D = 2q/3 (at every f: one leaf drawn finds a share f of
    # fakes with chance f, which save D·f); a slash of 2× less the challenger's quarter:
    # m_eff = 3/2; q·(2/3)·(5/2) = 1 at q = 3/5.
    compute = replace(CP, committee_size=1, collusion_ppm=0, margin_ppm=0, audit_leaves=1)
    market = replace(MP, slash_ppm=2_000_000)
    assert deterrence(market, replace(compute, audit_ppm=600_000)) == 1
    with pytest.raises(ValueError, match="more than 1"):
        check_incentives(market, replace(compute, audit_ppm=600_000))
    check_incentives(market, replace(compute, audit_ppm=600_001))


@settings(max_examples=300, deadline=None)
@given(
    audit_ppm=st.one_of(st.integers(0, PPM), st.integers(PPM * 3 // 10, PPM)),
    audit_leaves=st.integers(1, 32),
    committee_size=st.integers(1, 7),
    collusion_ppm=st.one_of(st.integers(0, PPM // 2), st.integers(0, PPM // 5)),
    challenger_share_ppm=st.integers(0, PPM),
    margin_ppm=st.one_of(st.just(0), st.integers(0, PPM)),
    slash_ppm=st.one_of(st.integers(0, 20 * PPM), st.integers(3 * PPM, 20 * PPM)),
    leaves=st.integers(1, 24),
)
def test_whenever_the_guard_accepts_every_cheat_loses(
    audit_ppm: int,
    audit_leaves: int,
    committee_size: int,
    collusion_ppm: int,
    challenger_share_ppm: int,
    margin_ppm: int,
    slash_ppm: int,
    leaves: int,
) -> None:
    compute = replace(
        CP,
        audit_ppm=audit_ppm,
        audit_leaves=audit_leaves,
        committee_size=committee_size,
        collusion_ppm=collusion_ppm,
        challenger_share_ppm=challenger_share_ppm,
        margin_ppm=margin_ppm,
    )
    market = replace(MP, slash_ppm=slash_ppm)
    try:
        check_incentives(market, compute)
    except ValueError:
        return
    event("accepted")
    for workload in ("gemm_i8", "sgd_fxp"):
        for faked in cheats(leaves):
            assert cheat_profit(market, compute, workload, leaves, faked) < 0, (workload, faked)


def test_a_cheat_that_pays_is_refused_by_the_guard() -> None:
    """The converse on the defaults' neighbourhood: where a computed cheat pays, it refuses."""
    for audit_ppm in range(100_000, 700_001, 50_000):
        compute = replace(CP, audit_ppm=audit_ppm, margin_ppm=0)
        pays = any(
            cheat_profit(MP, compute, w, 24, f) >= 0
            for w in ("gemm_i8", "sgd_fxp")
            for f in cheats(24)
        )
        if pays:
            with pytest.raises(ValueError):
                check_incentives(MP, compute)


def test_an_audit_must_recompute_within_its_commit_window() -> None:
    """16 leaves of up to MAX_LEAF_VERIFY_UNITS at the verifier rate need 2,148 ms of window."""
    check_verification_window(CP, 300)  # 10 blocks of 300 ms
    check_verification_window(replace(CP, commit_window=8), 300)
    with pytest.raises(ValueError, match="raise commit_window or lower audit_leaves"):
        check_verification_window(replace(CP, commit_window=7), 300)
    with pytest.raises(ValueError, match="2148 ms"):
        check_verification_window(CP, 100)
    check_verification_window(replace(CP, audit_leaves=32, commit_window=15), 300)
    with pytest.raises(ValueError, match="4295 ms"):
        check_verification_window(replace(CP, audit_leaves=32), 300)


def test_fewer_audit_leaves_still_leave_an_mlp_audit_its_window() -> None:
    """An mlp_fxp audit recomputes every checkpoint (up to MAX_MLP_CHECKPOINTS) whatever
    audit_leaves is: lowering audit_leaves does not let the commit window shrink below them."""
    assert MAX_MLP_CHECKPOINTS == 16
    shape = workload_shape("mlp_fxp", [4096, 64, 32, 2, 8, 8, 256, 256, 10])
    assert audited_leaves("mlp_fxp", 4, shape.leaves) == 16
    with pytest.raises(ValueError, match="16 audited leaves"):
        check_verification_window(replace(CP, audit_leaves=4), 100)
    with pytest.raises(ValueError, match="16 audited leaves"):
        check_verification_window(replace(CP, audit_leaves=4, commit_window=7), 300)
    check_verification_window(replace(CP, audit_leaves=4, commit_window=8), 300)
    # The window holds the whole audit: 16 leaves of the costliest recomputation allowed.
    assert 16 * MAX_LEAF_VERIFY_UNITS * 1000 <= VERIFIER_UNITS_PER_S * 8 * 300
