"""Jobs whose verification needs more than a validator can give are refused at submission.

The jobs a requester used to force unverifiable audits with (17–137 GOP needing 8 GiB of input, a
64 GiB model or a 16 GiB batch order to check one leaf) are refused by `workload_shape`, with the
parameter to change named, and so by `market.submit_job`: the attack costs its fee and forces no
work. Every accepted job's leaves each read at most MAX_LEAF_INPUT_BYTES and cost at most
MAX_LEAF_VERIFY_UNITS to recompute.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from gpu_worker.jobs import JobSpec, leaf_input_ranges
from runtime.pallets.market import ESCROW
from runtime.workloads import (
    MAX_LEAF_INPUT_BYTES,
    MAX_LEAF_VERIFY_UNITS,
    MAX_TILE_SKEW,
    WorkloadError,
    workload_shape,
)
from tests.runtime.pallets.market_helpers import REQUESTER, WORKER, market_chain

UNVERIFIABLE = [
    # 17 GOP, one leaf reading all of an 8 GiB A.
    pytest.param("gemm_i8", (65_536, 131_071, 1, 65_536), "lower m or k", id="gemm-8GiB-input"),
    # 137 GOP: 16 layers of 65,536², a 64 GiB model.
    pytest.param("qmlp_i8", (1, 1, *[65_536] * 17), "layer widths", id="qmlp-64GiB-model"),
    # 17 GOP: a 16 GiB batch order.
    pytest.param(
        "sgd_fxp", (65_536, 1, 1, 65_536, 65_536, 8, 6), "batch or steps", id="sgd-16GiB-order"
    ),
    # A leaf whose recomputation alone takes 2·10^9 units.
    pytest.param("gemm_i8", (64, 4096, 4096, 64), "lower row_block", id="gemm-costly-leaf"),
    # An mlp_fxp checkpoint of 64 steps of a batch of 4,096 through 512 → 512: 4·10^12 units.
    pytest.param("mlp_fxp", (4096, 4096, 128, 64, 8, 10, 512, 512), "every", id="mlp-costly"),
    # A last-layer leaf that recomputes 64 rows through 16 layers: 8·10^9 units.
    pytest.param("qmlp_i8", (64, 64, *[2000] * 17), "lower row_block", id="qmlp-costly-chain"),
]


@pytest.mark.parametrize(("workload", "params", "named"), UNVERIFIABLE)
def test_an_unverifiable_job_is_refused_at_submission(
    workload: str, params: Sequence[int], named: str
) -> None:
    with pytest.raises(WorkloadError, match=named):
        workload_shape(workload, params)
    chain = market_chain()
    assert chain.register(WORKER, workloads=(workload,)).error is None
    before = chain.balance(REQUESTER)
    names = {"gemm_i8": ("a", "b"), "qmlp_i8": ("x", "model")}.get(workload, ("x", "y"))
    out = chain.submit(REQUESTER, workload=workload, params=params, names=names)
    assert out.error == "BadJob"
    assert chain.jobs() == {}
    # The requester (who would also be the worker) forced no audit: its profit is minus the fee.
    profit = chain.balance(REQUESTER) - before
    assert profit == -out.fee < 0
    assert chain.held(REQUESTER, ESCROW) == 0


def _leaf_cost(spec: JobSpec, index: int) -> int:
    """Cost units of recomputing leaf `index`, counted from the workload's definition."""
    p = spec.params
    if spec.workload == "gemm_i8":
        col_block = p[4] if len(p) == 5 else p[2]
        row_tile, col_tile = divmod(index, -(-p[2] // col_block))
        rows = min(p[3], p[0] - (row_tile * p[3]))
        cols = min(col_block, p[2] - col_tile * col_block)
        return 2 * rows * p[1] * cols
    if spec.workload == "qmlp_i8":
        per_layer = -(-p[0] // p[1])
        layer, block = divmod(index, per_layer)
        rows = min(p[1], p[0] - block * p[1])
        dims = p[2:]
        return sum(2 * rows * dims[i] * dims[i + 1] for i in range(layer + 1))
    if spec.workload == "mlp_fxp":  # every steps of forward, gradients and errors carried back
        return 6 * p[1] * p[3] * sum(a * b for a, b in itertools.pairwise(p[6:]))
    return 4 * p[3] * p[1] * p[2]


def _dims(hi: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(1, 64), st.integers(1, hi))


JOB_PARAMS = st.one_of(
    st.tuples(
        st.just("gemm_i8"),
        st.tuples(_dims(1 << 16), _dims(1 << 17), _dims(1 << 16), _dims(1 << 12)),
    ),
    st.tuples(
        st.just("gemm_i8"),
        st.tuples(_dims(1 << 16), _dims(1 << 17), _dims(1 << 16), _dims(1 << 12), _dims(1 << 12)),
    ),
    st.tuples(
        st.just("qmlp_i8"),
        st.lists(_dims(1 << 13), min_size=4, max_size=18).map(tuple),
    ),
    st.tuples(
        st.just("sgd_fxp"),
        st.tuples(
            _dims(1 << 16),
            _dims(4096),
            _dims(1024),
            _dims(1 << 12),
            _dims(2000),
            st.integers(1, 24),
            st.integers(1, 48),
        ),
    ),
    st.tuples(
        st.just("mlp_fxp"),
        st.tuples(
            _dims(1 << 16),
            _dims(4096),
            st.integers(1, 64),
            st.integers(1, 64),
            st.integers(1, 20),
            st.integers(1, 48),
        ).flatmap(
            lambda p: st.lists(_dims(4096), min_size=2, max_size=9).map(
                lambda dims: (p[0], p[1], p[2] * p[3], p[3], p[4], p[5], *dims)
            )
        ),
    ),
)


@settings(max_examples=300, deadline=None)
@given(JOB_PARAMS, st.data())
def test_every_accepted_leaf_verifies_within_the_bounds(
    job: tuple[str, tuple[int, ...]], data: st.DataObject
) -> None:
    workload, params = job
    try:
        shape = workload_shape(workload, params)
    except WorkloadError:
        return
    event("accepted")
    spec = JobSpec(workload, params)
    for index in (0, shape.leaves - 1, data.draw(st.integers(0, shape.leaves - 1))):
        ranges = leaf_input_ranges(spec, index)
        read = sum(runs.size for runs in ranges.values())
        if workload == "sgd_fxp":
            read += 4 * params[3]  # the step's row of the batch order
        if workload == "mlp_fxp":
            read += 4 * params[1] * params[3]  # the checkpoint's rows of the batch order
        assert read <= shape.leaf_input_bytes <= MAX_LEAF_INPUT_BYTES
        assert _leaf_cost(spec, index) <= shape.leaf_verify_units <= MAX_LEAF_VERIFY_UNITS


def test_a_qmlp_model_with_its_work_in_its_last_layer_is_refused() -> None:
    """Sixteen layers of width 1 before a layer of 4,096 × 4,096: the last layer is a sixteenth
    of the leaves and nearly all the work, so a worker faking it would be caught with 16 audited
    leaves only about 64% of the time while saving the whole job. Refused, naming the layers; a
    classifier that narrows towards its output, and the benchmark's n → n → n → 10, pass."""
    with pytest.raises(WorkloadError, match=r"layers \d+\.\.15 hold more than 3/2"):
        workload_shape("qmlp_i8", [4096, 1, *([1] * 15), 4096, 4096])
    with pytest.raises(WorkloadError, match="hold more than 3/2"):
        workload_shape("qmlp_i8", [64, 1, 10, 1000, 1000])
    for params in ([64, 1, 784, 128, 10], [2048, 1, 2048, 2048, 2048, 10], [8, 1, 3, 2, 2]):
        assert workload_shape("qmlp_i8", params).leaves > 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 64), min_size=2, max_size=6))
def test_an_accepted_qmlp_model_bounds_what_faking_any_suffix_of_layers_saves(
    dims: list[int],
) -> None:
    """For every model the runtime accepts, faking layers j..L−1 of any rows (which a leaf's
    check from x forces on a cheater who fakes layer j) saves at most MAX_TILE_SKEW times the
    share of the leaves it fakes."""
    try:
        shape = workload_shape("qmlp_i8", [4, 1, *dims])
    except WorkloadError:
        return
    works = [a * b for a, b in itertools.pairwise(dims)]
    layers = len(works)
    for j in range(layers):
        saved = Fraction(sum(works[j:]), sum(works))
        faked = Fraction(layers - j, layers)
        assert saved <= MAX_TILE_SKEW * faked
    assert shape.leaves == 4 * layers
