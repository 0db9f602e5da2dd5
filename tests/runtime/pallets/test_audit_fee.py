"""The verification fee covers the audit a workload forces: an mlp_fxp audit recomputes every
checkpoint (the whole job) on each committee member, so a party that is its own requester and
worker pays for all the recomputation it makes the committee do; the sampled workloads keep the
flat fee."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS, fraud_bond_for
from runtime.pallets.market import DEFAULT_MARKET_PARAMS, PPM
from runtime.pallets.market.params import AUDIT_FEE_COMMITTEE, AUDIT_FEE_MARGIN_PPM
from runtime.workloads import (
    AUDITS_EVERY_LEAF,
    DEFAULT_AUDIT_LEAVES,
    WorkloadError,
    audit_units,
    audited_leaves,
    forced_audit_units,
    payment_for,
    workload_shape,
)
from tests.runtime.pallets.market_helpers import (
    GEMM,
    GEMM_LEAVES,
    GEMM_PARAMS,
    REQUESTER,
    UNIT,
    WORKER,
    market_chain,
)
from tests.runtime.pallets.test_compute import committee, draw, run, settle

CP: Final = DEFAULT_COMPUTE_PARAMS
MP: Final = DEFAULT_MARKET_PARAMS
MLP: Final = "mlp_fxp"
ATTACK: Final = ([4096, 64, 32, 2, 8, 8, 256, 256, 10], [4096, 64, 4, 2, 8, 8, 256, 256, 10])
"""The review's probe: a requester that is also the job's worker, 16 and 2 checkpoints."""
MLP_JOB: Final = (256, 16, 20, 2, 8, 8, 16, 16, 4)
"""A small mlp_fxp job of GEMM_LEAVES checkpoints, so the helpers' leaf hashes serve it."""
PRICE: Final = 1000 * UNIT
"""Per 10^9 units: the small job pays about 0.6 XPL, over the least payment."""


def committee_work_value(workload: str, params: Sequence[int], payment: int) -> Fraction:
    """What the committee's audit recomputes, priced as the job's payment prices its units."""
    shape = workload_shape(workload, params)
    units = CP.committee_size * audited_leaves(workload, CP.audit_leaves, shape.leaves)
    return Fraction(payment * units * shape.leaf_verify_units, shape.cost_units)


@pytest.mark.parametrize("params", ATTACK)
def test_the_attacks_fee_pays_for_the_committees_recomputation(params: list[int]) -> None:
    """At the default parameters the committee recomputes 3 times the job; the verifiers' fee is
    at least that, priced at the job's own payment, with the margin on top."""
    assert CP.committee_size == AUDIT_FEE_COMMITTEE and CP.audit_leaves == DEFAULT_AUDIT_LEAVES
    shape = workload_shape(MLP, params)
    assert audit_units(MLP, shape) == shape.cost_units  # every checkpoint: the whole job
    for price in (1, 10**9, 10**12, 7 * 10**13 + 3):
        payment = payment_for(shape.cost_units, price)
        protocol, verification = MP.fees_for(payment, MLP, shape)
        work = committee_work_value(MLP, params, payment)
        assert work == 3 * payment
        assert verification >= work * Fraction(AUDIT_FEE_MARGIN_PPM, PPM)
        assert verification >= MP.fees_for(payment)[1]  # never below the flat fee
        # The escrow holds it up front, with the payment and the protocol fee.
        assert MP.escrow_for(MLP, shape, price) == payment + protocol + verification


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 64),
    checkpoints=st.integers(2, 16),
    every=st.integers(1, 8),
    dims=st.lists(st.integers(1, 64), min_size=2, max_size=4),
    price=st.integers(1, 10**15),
)
def test_every_mlp_job_pays_its_verifiers_for_its_whole_audit(
    batch: int, checkpoints: int, every: int, dims: list[int], price: int
) -> None:
    params = [batch, batch, checkpoints * every, every, 8, 8, *dims]
    try:
        shape = workload_shape(MLP, params)
    except WorkloadError:
        return
    payment = payment_for(shape.cost_units, price)
    _, verification = MP.fees_for(payment, MLP, shape)
    assert verification >= committee_work_value(MLP, params, payment) * 5 / 4


@pytest.mark.parametrize(
    ("workload", "params"),
    [
        (GEMM, GEMM_PARAMS),
        (GEMM, (64, 64, 64, 16)),
        (GEMM, (1024, 512, 1024, 1)),
        ("qmlp_i8", (10, 1, 8, 4, 2)),
        ("qmlp_i8", (2048, 1, 256, 256, 10)),
        ("sgd_fxp", (64, 16, 4, 8, 4, 16, 8)),
        ("sgd_fxp", (64, 16, 4, 8, 100, 16, 8)),
    ],
)
def test_the_sampled_workloads_keep_the_flat_fee(workload: str, params: Sequence[int]) -> None:
    """gemm_i8, qmlp_i8 and sgd_fxp jobs pay what they paid before, at any payment."""
    assert workload not in AUDITS_EVERY_LEAF
    shape = workload_shape(workload, params)
    assert forced_audit_units(workload, shape) == 0
    for payment in (0, 1, 5 * 10**9, UNIT, 10**20 + 7):
        assert MP.fees_for(payment, workload, shape) == (
            payment * MP.protocol_fee_ppm // PPM,
            max(MP.min_verification_fee, payment * MP.verification_fee_ppm // PPM),
        )


def test_an_mlp_jobs_escrow_pays_its_verifiers_the_audits_fee() -> None:
    """On the chain: the requester's escrow holds the fee at submission, and a passed audit pays
    it to the three members; the requester-worker pair is out at least the committee's work."""
    chain = market_chain()
    assert chain.register(WORKER, capacity=4, workloads=(MLP,), prices=(PRICE,)).error is None
    shape = workload_shape(MLP, MLP_JOB)
    assert shape.leaves == GEMM_LEAVES
    out = chain.submit(
        workload=MLP, params=MLP_JOB, names=("x", "y"), max_price=PRICE, deadline=10, wait=10
    )
    assert out.error is None, out.error
    job_id = int(out.events[1][1][0])
    job = chain.job(job_id)
    payment = payment_for(shape.cost_units, PRICE)
    protocol, verification = MP.fees_for(payment, MLP, shape)
    assert verification >= 3 * payment  # the committee recomputes the job three times
    assert chain.held(REQUESTER, "escrow") == job.escrow == payment + protocol + verification
    assert chain.commit(WORKER, job_id).error is None
    draw(chain, job_id)
    members = committee(chain, job_id)
    assert run(chain, job_id, 0, "honest", "honest", "honest") == [
        ("CheckDecided", (job_id, 0, "pass"))
    ]
    before = {m: chain.balance(m) for m in members}
    events = settle(chain, job_id)
    share = verification // 3
    refund = verification - 3 * share
    assert ("JobSettled", (job_id, WORKER.public, payment, 3 * share, protocol, refund)) in events
    assert all(chain.balance(m) == before[m] + share for m in members)
    assert 3 * share >= committee_work_value(MLP, MLP_JOB, payment)
    # A dispute of one checkpoint bonds in proportion to the fee it makes committees earn.
    assert fraud_bond_for(CP, verification) > fraud_bond_for(CP, MP.fees_for(payment)[1])
    assert chain.problems() == []
