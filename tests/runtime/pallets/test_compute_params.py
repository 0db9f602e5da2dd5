"""Compute's verification parameters: who may change them, the ranges and rules they keep, the
guard against parameters that let cheating pay, and a dispute window changed under a committed
job."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction

import pytest

from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS, ComputeParams, check_incentives
from runtime.pallets.compute.guard import least_audit_ppm
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, PPM
from tests.runtime.pallets.market_helpers import (
    DAVE,
    UNIT,
    WORKER,
    MarketChain,
    hook_events,
    market_chain,
)
from tests.runtime.pallets.test_compute import settle
from tests.runtime.pallets.test_compute_disputes import passed_audit

CP = DEFAULT_COMPUTE_PARAMS
MP = DEFAULT_MARKET_PARAMS


@pytest.fixture
def chain() -> Iterator[MarketChain]:
    made = market_chain()
    made.register(WORKER, capacity=16)
    yield made
    assert made.problems() == []


# Parameters


def args_of(params: ComputeParams) -> tuple[int, ...]:
    """`compute.set_params`'s arguments for `params`."""
    return tuple(getattr(params, f.name) for f in params.schema().fields)


BASE = replace(CP, audit_ppm=PPM, audit_leaves=16, committee_size=3, commit_window=10)
"""Parameters the guard accepts, each refusal below changing one of them."""


def test_set_params_needs_root(chain: MarketChain) -> None:
    out = chain.call(
        DAVE,
        "compute",
        "set_params",
        *args_of(replace(BASE, audit_leaves=8, fraud_bond=UNIT)),
    )
    assert out.error == "BadOrigin"
    assert chain.compute_params() == CP


def test_set_params_takes_parameters_that_keep_cheating_unprofitable(chain: MarketChain) -> None:
    changed = replace(CP, audit_leaves=8, committee_size=5, commit_window=12, dispute_window=30)
    least = least_audit_ppm(MP, changed)
    assert 0 < least < CP.audit_ppm  # a committee of 5 convicts more often than one of 3
    accepted = replace(changed, audit_ppm=least, fraud_bond=2 * UNIT)
    assert chain.root_call("compute", "set_params", *args_of(accepted)) is None
    assert chain.compute_params() == accepted
    refused = replace(accepted, audit_ppm=least - 1)
    assert chain.root_call("compute", "set_params", *args_of(refused)) == ("BadParams")
    assert chain.compute_params() == accepted


def test_the_refusals_change_one_accepted_parameter_each(chain: MarketChain) -> None:
    assert chain.root_call("compute", "set_params", *args_of(BASE)) is None
    assert chain.compute_params() == BASE


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(
            args_of(replace(BASE, audit_ppm=249_999)),
            id="q-times-1-plus-m-below-1",
        ),
        pytest.param(
            args_of(replace(BASE, audit_ppm=0)),
            id="no-audits",
        ),
        pytest.param(
            args_of(replace(BASE, audit_ppm=PPM + 1)),
            id="q-above-one",
        ),
        pytest.param(
            args_of(replace(BASE, audit_ppm=2**32 - 1)),
            id="q-far-above-one",
        ),
        pytest.param(
            args_of(replace(BASE, audit_leaves=0)),
            id="no-leaves",
        ),
        pytest.param(
            args_of(replace(BASE, audit_leaves=257)),
            id="too-many-leaves",
        ),
        pytest.param(
            args_of(replace(BASE, committee_size=0)),
            id="no-committee",
        ),
        pytest.param(
            args_of(replace(BASE, committee_size=65)),
            id="committee-too-big",
        ),
        pytest.param(
            args_of(replace(BASE, commit_window=0)),
            id="no-commit-window",
        ),
        pytest.param(
            args_of(replace(BASE, dispute_window=16)),
            id="dispute-window-too-short",
        ),
    ],
)
def test_set_params_refusals(chain: MarketChain, args: tuple[int, ...]) -> None:
    assert chain.root_call("compute", "set_params", *args) == "BadParams"
    assert chain.compute_params() == CP
    chain.advance()  # the chain goes on with the parameters it had


def test_without_collusion_the_least_audit_probability_has_a_closed_form() -> None:
    """Nobody colluding (P_conv = 1, no forfeits), the least detection per saving is at f = 1/D
    = 2/3 of the leaves faked: q·(1 − (1/3)^k)·(1 + m·(1 − share)) ≥ 1 + margin."""
    compute = replace(CP, collusion_ppm=0)
    for slash_ppm in (PPM, 3 * PPM, 99 * PPM):
        market = replace(MP, slash_ppm=slash_ppm)
        m_eff = Fraction(slash_ppm, PPM) * Fraction(PPM - CP.challenger_share_ppm, PPM)
        worst = 1 - Fraction(1, 3) ** CP.audit_leaves
        needed = (1 + Fraction(CP.margin_ppm, PPM)) / (worst * (1 + m_eff))
        least = math.ceil(needed * PPM)
        check_incentives(market, replace(compute, audit_ppm=least))
        with pytest.raises(ValueError):
            check_incentives(market, replace(compute, audit_ppm=least - 1))
        assert least_audit_ppm(market, compute) == least


def test_a_longer_dispute_window_still_settles_a_committed_job(chain: MarketChain) -> None:
    """A job committed under a window of W settles at the end of the window in force when W
    ends (it once stayed committed for ever, its escrow and bond held)."""
    job_id = passed_audit(chain)
    committed_at = chain.job(job_id).committed_at
    assert (
        chain.root_call(
            "compute",
            "set_params",
            *args_of(replace(BASE, audit_ppm=CP.audit_ppm, dispute_window=60)),
        )
        is None
    )
    assert settle(chain, job_id) == []
    result = chain.advance_to(committed_at + 60)
    assert hook_events(result)[-1][0] == "JobSettled"
    assert chain.job(job_id).state == "settled"


def test_a_genesis_with_bad_compute_parameters_is_refused() -> None:
    with pytest.raises(ValueError):
        market_chain(compute_params=replace(CP, audit_ppm=PPM + 1))
    with pytest.raises(ValueError):
        market_chain(compute_params=replace(CP, audit_ppm=200_000))
