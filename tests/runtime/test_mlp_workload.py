"""mlp_fxp's consensus rules: its shape, the parameters refused, and an audit that draws every
checkpoint (a chain of MLP checkpoints has links a cheater fakes for free)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.pallets.compute import DEFAULT_COMPUTE_PARAMS as CP
from runtime.pallets.market import PPM
from runtime.primitives.merkle import leaf_hash
from runtime.workloads import (
    MAX_LEAF_VERIFY_UNITS,
    MAX_MLP_CHECKPOINTS,
    WorkloadError,
    audited_leaves,
    builds_on,
    mlp_leaf_bytes,
    workload_shape,
)
from tests.runtime.pallets.market_helpers import REQUESTER, WORKER, market_chain

DIGITS = (1347, 32, 1600, 100, 16, 20, 64, 64, 10)


def test_the_digits_job_has_sixteen_checkpoints_of_every_parameter() -> None:
    shape = workload_shape("mlp_fxp", DIGITS)
    per_step = 6 * 32 * (64 * 64 + 64 * 10)
    assert [(i.name, i.size) for i in shape.inputs] == [("x", 1347 * 64), ("y", 1347 * 10 * 2)]
    assert shape.leaf_sizes == (4 * (64 * 64 + 64 + 64 * 10 + 10),) * 16
    assert shape.cost_units == 1600 * per_step
    assert shape.leaf_verify_units == 100 * per_step <= MAX_LEAF_VERIFY_UNITS
    assert shape.leaf_input_bytes == 1347 * (64 + 20) + 4 * 32 * 100
    assert builds_on("mlp_fxp", 0) == () and builds_on("mlp_fxp", 5) == (4,)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        pytest.param((100, 8, 40, 40, 8, 10, 4, 3), "at most half", id="one-checkpoint"),
        pytest.param((100, 8, 40, 7, 8, 10, 4, 3), "divide steps", id="every-not-dividing"),
        pytest.param((100, 8, 170, 10, 8, 10, 4, 3), "17 checkpoints", id="too-many-checkpoints"),
        pytest.param((100, 8, 40, 20, 21, 10, 4, 3), "frac_bits", id="frac-bits"),
        pytest.param((100, 8, 40, 20, 8, 49, 4, 3), "lr_shift", id="lr-shift"),
        pytest.param((100, 101, 40, 20, 8, 10, 4, 3), "batch", id="batch-over-samples"),
        pytest.param((100, 8, 40, 20, 8, 10, 4, 4097), "d1", id="too-wide"),
        pytest.param((100, 8, 40, 20, 8, 10, *[4] * 10), "at most 8 layers", id="too-deep"),
        pytest.param((100, 8, 40, 20, 8, 10, 4), "takes params", id="no-layer"),
        pytest.param((4096, 4096, 32, 2, 8, 10, 512, 512), "lower every", id="costly-audit"),
    ],
)
def test_a_job_an_audit_could_not_check_is_refused(params: tuple[int, ...], named: str) -> None:
    with pytest.raises(WorkloadError, match=named):
        workload_shape("mlp_fxp", params)


@given(
    st.integers(1, 4).flatmap(
        lambda layers: st.tuples(
            st.integers(1, 300),
            st.integers(1, 64),
            st.integers(2, 64),
            st.integers(1, 64),
            st.lists(st.integers(1, 300), min_size=layers + 1, max_size=layers + 1),
        )
    )
)
def test_an_accepted_job_has_two_to_sixteen_checkpoints_each_within_the_bounds(
    job: tuple[int, int, int, int, list[int]],
) -> None:
    samples, batch, checkpoints, every, dims = job
    params = (samples, batch, checkpoints * every, every, 12, 16, *dims)
    try:
        shape = workload_shape("mlp_fxp", params)
    except WorkloadError:
        assert (
            checkpoints > MAX_MLP_CHECKPOINTS
            or batch > samples
            or (
                6 * batch * every * sum(a * b for a, b in itertools.pairwise(dims))
                > MAX_LEAF_VERIFY_UNITS
            )
        )
        return
    assert 2 <= shape.leaves == checkpoints <= MAX_MLP_CHECKPOINTS
    assert shape.leaf_sizes == (mlp_leaf_bytes(dims),) * checkpoints
    assert shape.leaf_verify_units * checkpoints == shape.cost_units


def test_an_audit_draws_every_checkpoint_and_k_leaves_of_the_others() -> None:
    assert audited_leaves("mlp_fxp", 4, 16) == 16
    assert audited_leaves("mlp_fxp", 16, 3) == 3
    assert audited_leaves("sgd_fxp", 4, 16) == 4
    assert audited_leaves("gemm_i8", 16, 3) == 3


def test_an_audited_mlp_job_names_all_its_checkpoints_on_chain() -> None:
    """On a chain whose audits take 4 leaves, an mlp_fxp job of 16 checkpoints is audited on all
    16: a faked checkpoint (all zeros, from which every later one is free) cannot hide among
    the 12 an audit of 4 would leave out."""
    chain = market_chain(compute_params=replace(CP, audit_leaves=4, audit_ppm=PPM))
    params = (64, 4, 32, 2, 8, 10, 4, 3, 2)
    assert chain.register(WORKER, workloads=("mlp_fxp",), capacity=4).error is None
    # A tiny job (13,824 units) at a price that meets the least payment.
    price = 10**15
    out = chain.submit(
        REQUESTER, workload="mlp_fxp", params=params, names=("x", "y"), max_price=price, wait=10
    )
    assert out.error is None, out.error
    job_id = int(out.events[1][1][0])
    leaf = b"\x00" * mlp_leaf_bytes((4, 3, 2))
    hashes = [leaf_hash(leaf)] * 16
    assert chain.commit(WORKER, job_id, leaves=16, hashes=hashes).error is None
    chain.advance_to(chain.audit_roll_at(job_id))
    (audit,) = chain.checks(job_id)
    assert sorted(audit.leaves) == list(range(16))
