"""Freivalds' check: a correct result always passes, a single wrong entry is always caught, and the
leaf it names is the one holding the wrong entry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker import freivalds, reference
from gpu_worker.inputs import I32, InputError, generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves
from runtime.workloads import MAX_DIM, MAX_K
from tests.gpu_worker.job_arrays import as_job_input

GEMM = JobSpec("gemm_i8", (29, 41, 23, 4), seed=2)
QMLP = JobSpec("qmlp_i8", (17, 5, 19, 13, 11, 7), seed=3)
SGD = JobSpec("sgd_fxp", (20, 6, 2, 5, 4, 10, 8), seed=4)


def job(spec: JobSpec) -> tuple[dict[str, bytes], list[bytes]]:
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    return inputs, compute_leaves(spec, inputs, device="cpu")


def changed(leaf: bytes, entry: int, delta: int) -> bytes:
    """`leaf` with its int32 entry `entry` moved by `delta` (modulo 2^32)."""
    values = np.frombuffer(leaf, "<i4").copy()
    values[entry] = np.int32((int(values[entry]) + delta + 2**31) % 2**32 - 2**31)
    return values.astype("<i4").tobytes()


deltas = st.integers(-(2**32) + 1, 2**32 - 1).filter(lambda d: d % 2**32 != 0)


@pytest.mark.parametrize("spec", [GEMM, QMLP, SGD], ids=lambda s: s.workload)
@pytest.mark.parametrize("seed", range(3))
def test_a_correct_result_passes(spec: JobSpec, seed: int) -> None:
    inputs, leaves = job(spec)
    assert freivalds.check_result(spec, inputs, leaves, rng=np.random.default_rng(seed)) is None


@settings(max_examples=60, deadline=None)
@given(row=st.integers(0, 28), col=st.integers(0, 22), delta=deltas, seed=st.integers(0, 2**32))
def test_one_wrong_gemm_entry_is_caught_in_its_leaf(
    row: int, col: int, delta: int, seed: int
) -> None:
    inputs, leaves = job(GEMM)
    row_block, n = GEMM.params[3], GEMM.params[2]
    leaf = row // row_block
    leaves[leaf] = changed(leaves[leaf], (row % row_block) * n + col, delta)
    got = freivalds.check_result(GEMM, inputs, leaves, rng=np.random.default_rng(seed))
    assert got == leaf


@settings(max_examples=60, deadline=None)
@given(
    layer=st.integers(0, 2),
    row=st.integers(0, 16),
    col=st.integers(0, 6),
    delta=deltas,
    seed=st.integers(0, 2**32),
)
def test_one_wrong_qmlp_entry_is_caught_at_its_layer(
    layer: int, row: int, col: int, delta: int, seed: int
) -> None:
    inputs, leaves = job(QMLP)
    batch, row_block = QMLP.params[0], QMLP.params[1]
    width = QMLP.params[3 + layer]
    per_layer = math.ceil(batch / row_block)
    leaf = layer * per_layer + row // row_block
    leaves[leaf] = changed(leaves[leaf], (row % row_block) * width + col % width, delta)
    got = freivalds.check_result(QMLP, inputs, leaves, rng=np.random.default_rng(seed))
    assert got == leaf


def test_a_wrong_sgd_step_is_caught_when_checked() -> None:
    spec = JobSpec("sgd_fxp", (20, 6, 2, 5, 1, 10, 8), seed=4)
    inputs, leaves = job(spec)
    leaves[0] = changed(leaves[0], 3, 1)
    assert freivalds.check_result(spec, inputs, leaves) == 0


def test_a_result_with_missing_or_cut_leaves_is_refused() -> None:
    inputs, leaves = job(GEMM)
    with pytest.raises(InputError, match="leaves"):
        freivalds.check_result(GEMM, inputs, leaves[:-1])
    with pytest.raises(InputError, match="bytes"):
        freivalds.check_result(GEMM, inputs, [leaves[0][:-4], *leaves[1:]])


def test_bad_rows_names_exactly_the_wrong_rows() -> None:
    rng = np.random.default_rng(9)
    a = rng.integers(-128, 128, (50, 70), dtype=np.int8)
    b = rng.integers(-128, 128, (70, 33), dtype=np.int8)
    bias = rng.integers(-(2**30), 2**30, 33).astype(np.int32)
    claimed = reference.gemm(a, b) + bias
    assert freivalds.bad_rows(a, b, claimed, rng, bias=bias[None, :]).size == 0
    claimed[[3, 17, 49], [0, 32, 5]] += 1
    assert freivalds.bad_rows(a, b, claimed, rng, bias=bias[None, :]).tolist() == [3, 17, 49]
    with pytest.raises(ValueError, match="cannot check"):
        freivalds.bad_rows(a, b, claimed[:, :-1], rng)


def test_the_row_pass_is_compiled_once_for_writable_and_read_only_inputs() -> None:
    """A job's inputs arrive read-only, a caller's arrays writable, and a qmlp_i8 layer's R is
    a slice of the widest layer's: the check hands its kernels one type of each, so each is
    compiled once (about 8 s for the row pass on a fresh checkout), not once for each."""
    rng = np.random.default_rng(10)
    a = rng.integers(-128, 128, (20, 30), dtype=np.int8)
    b = rng.integers(-128, 128, (30, 9), dtype=np.int8)
    claimed = reference.gemm(a, b)
    for arrive in (np.array, as_job_input):
        assert freivalds.bad_rows(arrive(a), arrive(b), arrive(claimed), rng).size == 0
    inputs, leaves = job(QMLP)
    assert freivalds.check_result(QMLP, inputs, leaves, rng=rng) is None
    for kernel in (freivalds._row_pass, freivalds._project):
        assert len(kernel.signatures) == 1, (kernel, kernel.signatures)


@pytest.mark.parametrize("value", [-128, 127])
def test_extreme_results_pass_without_overflow(value: int) -> None:
    """Entries near ±2^31 at the largest K: every product and sum must stay exact."""
    rng = np.random.default_rng(10)
    a = np.full((2, MAX_K), -128, np.int8)
    b = np.full((MAX_K, 3), value, np.int8)
    claimed: I32 = reference.gemm(a, b)
    assert abs(int(claimed[0, 0])) > 2**30
    assert freivalds.bad_rows(a, b, claimed, rng).size == 0
    claimed[1, 2] -= 1
    assert freivalds.bad_rows(a, b, claimed, rng).tolist() == [1]


@settings(max_examples=200, deadline=None)
@given(inner=st.integers(1, MAX_K), cols=st.integers(1, MAX_DIM))
def test_random_bits_keep_every_sum_below_2_to_the_63(inner: int, cols: int) -> None:
    bits = freivalds.random_bits(inner, cols)
    assert 1 <= bits <= 30
    # |C·R|, |b·R| < 2^31 · 2^bits · cols; |A·(B·R)| < 2^14 · 2^bits · inner · cols.
    assert 2**31 * 2**bits * cols <= 2**62
    assert 2**14 * 2**bits * inner * cols <= 2**62
