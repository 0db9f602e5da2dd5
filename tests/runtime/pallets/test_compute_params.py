"""Compute's verification parameters: who may change them, the ranges and rules they keep, the
guard against parameters that let cheating pay, and a dispute window changed under a committed
job."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS, check_incentives
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


def cp_args(**changes: int) -> tuple[int, ...]:
    """`compute.set_params`'s arguments: the default parameters with `changes`."""
    params = replace(CP, **changes)
    return tuple(getattr(params, f.name) for f in params.schema().fields)


def test_set_params_needs_root(chain: MarketChain) -> None:
    out = chain.call(
        DAVE,
        "compute",
        "set_params",
        *cp_args(
            audit_ppm=500_000,
            audit_leaves=8,
            committee_size=3,
            commit_window=10,
            dispute_window=20,
            fraud_bond=UNIT,
        ),
    )
    assert out.error == "BadOrigin"
    assert chain.compute_params() == CP


def test_set_params_takes_parameters_that_keep_cheating_unprofitable(chain: MarketChain) -> None:
    # The slash is 3x the payment: q = 1/4 is the least audit probability with q(1 + 3) >= 1.
    assert (
        chain.root_call(
            "compute",
            "set_params",
            *cp_args(
                audit_ppm=250_000,
                audit_leaves=8,
                committee_size=5,
                commit_window=12,
                dispute_window=30,
                fraud_bond=2 * UNIT,
            ),
        )
        is None
    )
    assert chain.compute_params() == replace(
        CP,
        audit_ppm=250_000,
        audit_leaves=8,
        committee_size=5,
        commit_window=12,
        dispute_window=30,
        fraud_bond=2 * UNIT,
    )
    assert (
        chain.root_call(
            "compute",
            "set_params",
            *cp_args(
                audit_ppm=249_999,
                audit_leaves=8,
                committee_size=5,
                commit_window=12,
                dispute_window=30,
                fraud_bond=UNIT,
            ),
        )
        == "BadParams"
    )
    assert chain.compute_params() == replace(
        CP,
        audit_ppm=250_000,
        audit_leaves=8,
        committee_size=5,
        commit_window=12,
        dispute_window=30,
        fraud_bond=2 * UNIT,
    )


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(
            cp_args(
                audit_ppm=249_999,
                audit_leaves=16,
                committee_size=3,
                commit_window=10,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="q-times-1-plus-m-below-1",
        ),
        pytest.param(
            cp_args(
                audit_ppm=0,
                audit_leaves=16,
                committee_size=3,
                commit_window=10,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="no-audits",
        ),
        pytest.param(
            cp_args(
                audit_ppm=PPM + 1,
                audit_leaves=16,
                committee_size=3,
                commit_window=10,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="q-above-one",
        ),
        pytest.param(
            cp_args(
                audit_ppm=2**32 - 1,
                audit_leaves=16,
                committee_size=3,
                commit_window=10,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="q-far-above-one",
        ),
        pytest.param(
            cp_args(
                audit_ppm=PPM,
                audit_leaves=0,
                committee_size=3,
                commit_window=10,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="no-leaves",
        ),
        pytest.param(
            cp_args(
                audit_ppm=PPM,
                audit_leaves=257,
                committee_size=3,
                commit_window=10,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="too-many-leaves",
        ),
        pytest.param(
            cp_args(
                audit_ppm=PPM,
                audit_leaves=16,
                committee_size=0,
                commit_window=10,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="no-committee",
        ),
        pytest.param(
            cp_args(
                audit_ppm=PPM,
                audit_leaves=16,
                committee_size=65,
                commit_window=10,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="committee-too-big",
        ),
        pytest.param(
            cp_args(
                audit_ppm=PPM,
                audit_leaves=16,
                committee_size=3,
                commit_window=0,
                dispute_window=20,
                fraud_bond=UNIT,
            ),
            id="no-commit-window",
        ),
        pytest.param(
            cp_args(
                audit_ppm=PPM,
                audit_leaves=16,
                committee_size=3,
                commit_window=10,
                dispute_window=16,
                fraud_bond=UNIT,
            ),
            id="dispute-window-too-short",
        ),
    ],
)
def test_set_params_refusals(chain: MarketChain, args: tuple[int, ...]) -> None:
    assert chain.root_call("compute", "set_params", *args) == "BadParams"
    assert chain.compute_params() == CP
    chain.advance()  # the chain goes on with the parameters it had


def test_check_incentives_is_q_times_one_plus_m_at_least_one() -> None:
    for slash_ppm, least_q in [(3 * PPM, 250_000), (PPM, 500_000), (0, PPM), (99 * PPM, 10_000)]:
        market = replace(MP, slash_ppm=slash_ppm)
        check_incentives(market, replace(CP, audit_ppm=least_q))
        with pytest.raises(ValueError):
            check_incentives(market, replace(CP, audit_ppm=least_q - 1))


def test_a_longer_dispute_window_still_settles_a_committed_job(chain: MarketChain) -> None:
    """A job committed under a window of W settles at the end of the window in force when W
    ends (it once stayed committed for ever, its escrow and bond held)."""
    job_id = passed_audit(chain)
    committed_at = chain.job(job_id).committed_at
    assert (
        chain.root_call(
            "compute",
            "set_params",
            *cp_args(
                audit_ppm=250_000,
                audit_leaves=16,
                committee_size=3,
                commit_window=10,
                dispute_window=60,
                fraud_bond=UNIT,
            ),
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
