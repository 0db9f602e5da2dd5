"""The CUDA kernels give the NumPy reference's bits, on a GPU or in Numba's CUDA simulator.

Without a GPU this module is skipped; `test_cuda_simulator.py` runs it in a subprocess with
NUMBA_ENABLE_CUDASIM=1 (the simulator must be chosen before numba is imported). The simulator runs
every GPU thread as a Python thread, so the shapes are tiny.
"""

from __future__ import annotations

import itertools
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker import reference
from gpu_worker.devices import cuda_available
from gpu_worker.inputs import BIAS_LIMIT, QmlpLayer, generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves, leaf_dependencies, recompute_leaf

pytestmark = pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU or simulator")

small = st.integers(1, 11)


@pytest.fixture(scope="module")
def kernels() -> ModuleType:
    from gpu_worker.kernels import cuda

    return cuda


@settings(max_examples=12, deadline=None)
@given(m=small, k=st.integers(1, 13), n=small, seed=st.integers(0, 2**32))
def test_gemm_matches_the_reference(kernels: ModuleType, m: int, k: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    np.testing.assert_array_equal(kernels.gemm(a, b), reference.gemm(a, b))


def test_gemm_of_the_extremes(kernels: ModuleType) -> None:
    for value in (-128, 127):
        a = np.full((9, 13), -128, np.int8)
        b = np.full((13, 7), value, np.int8)
        np.testing.assert_array_equal(kernels.gemm(a, b), reference.gemm(a, b))


@settings(max_examples=10, deadline=None)
@given(rows=small, d_in=small, d_out=small, seed=st.integers(0, 2**32))
def test_qmlp_layer_and_requantize_match_the_reference(
    kernels: ModuleType, rows: int, d_in: int, d_out: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    weights = rng.integers(-128, 128, (d_in, d_out), dtype=np.int8)
    bias = rng.integers(-BIAS_LIMIT, BIAS_LIMIT + 1, d_out).astype(np.int32)
    layer = QmlpLayer(weights, bias, int(rng.integers(-(2**31), 2**31)), int(rng.integers(1, 63)))
    h = rng.integers(-128, 128, (rows, d_in), dtype=np.int8)
    acc = kernels.qmlp_layer(h, layer)
    np.testing.assert_array_equal(acc, reference.qmlp_layer(h, layer))
    np.testing.assert_array_equal(kernels.requantize(acc, layer), reference.requantize(acc, layer))


def test_qmlp_layer_takes_int32_activations(kernels: ModuleType) -> None:
    rng = np.random.default_rng(4)
    weights = rng.integers(-128, 128, (6, 5), dtype=np.int8)
    layer = QmlpLayer(weights, rng.integers(-1000, 1000, 5).astype(np.int32), 3, 9)
    h = rng.integers(-(2**20), 2**20, (7, 6)).astype(np.int32)
    np.testing.assert_array_equal(kernels.qmlp_layer(h, layer), reference.qmlp_layer(h, layer))


def test_qmlp_keeps_activations_on_the_device(kernels: ModuleType) -> None:
    rng = np.random.default_rng(5)
    dims = [7, 9, 4, 3]
    layers = [
        QmlpLayer(
            rng.integers(-128, 128, (a, b), dtype=np.int8),
            rng.integers(-(2**20), 2**20, b).astype(np.int32),
            1 << 16,
            22,
        )
        for a, b in itertools.pairwise(dims)
    ]
    x = rng.integers(-128, 128, (5, 7), dtype=np.int8)
    for acc, want in zip(kernels.qmlp(x, layers), reference.qmlp(x, layers), strict=True):
        np.testing.assert_array_equal(acc, want)


@settings(max_examples=10, deadline=None)
@given(
    samples=st.integers(1, 9),
    features=st.integers(1, 6),
    outputs=st.integers(1, 3),
    steps=st.integers(1, 3),
    frac_bits=st.integers(0, 24),
    lr_shift=st.integers(1, 48),
    seed=st.integers(0, 2**32),
)
def test_sgd_matches_the_reference(
    kernels: ModuleType,
    samples: int,
    features: int,
    outputs: int,
    steps: int,
    frac_bits: int,
    lr_shift: int,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (samples, features), dtype=np.int8)
    y = rng.integers(-(2**15), 2**15, (samples, outputs)).astype(np.int16)
    order = rng.integers(0, samples, (steps, max(1, samples // 2)))
    start = rng.integers(-(2**31), 2**31, (features, outputs)).astype(np.int32)
    for begin in (None, start):
        got = kernels.sgd(x, y, order, frac_bits, lr_shift, start=begin)
        expected = reference.sgd(x, y, order, frac_bits, lr_shift, start=begin)
        for w, want in zip(got, expected, strict=True):
            np.testing.assert_array_equal(w, want)


@settings(max_examples=6, deadline=None)
@given(
    dims=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    samples=st.integers(1, 5),
    batch=st.integers(1, 3),
    every=st.integers(1, 2),
    frac_bits=st.integers(1, 20),
    lr_shift=st.integers(1, 30),
    mask=st.integers(0, 2**32 - 1),
    seed=st.integers(0, 2**32),
)
def test_mlp_training_matches_the_reference(
    dims: list[int],
    samples: int,
    batch: int,
    every: int,
    frac_bits: int,
    lr_shift: int,
    mask: int,
    seed: int,
) -> None:
    from gpu_worker import mlp_fxp
    from gpu_worker.kernels import mlp_cuda

    rng = np.random.default_rng(seed)
    x = rng.choice(np.array([-128, -1, 0, 1, 127], np.int8), (samples, dims[0]))
    y = rng.integers(-(2**15), 2**15, (samples, dims[-1])).astype(np.int16)
    order = rng.integers(0, samples, (2 * every, batch))
    limit = mlp_fxp.WEIGHT_LIMIT
    words = mlp_fxp.parameter_count(dims)
    for start in (
        mlp_fxp.initial_parameters(seed, dims, frac_bits),
        rng.integers(-limit, limit + 1, words).astype(np.int32),
    ):
        case = (x, y, order, every, frac_bits, lr_shift, start, dims)
        got, witness = mlp_cuda.train(*case, witness_mask=mask)
        expected, expected_witness = mlp_fxp.train(*case, witness_mask=mask)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(np.array(witness), np.array(expected_witness))


JOBS = (
    JobSpec("gemm_i8", (9, 13, 7, 4), seed=3),
    JobSpec("qmlp_i8", (5, 2, 6, 7, 3), seed=4),
    JobSpec("sgd_fxp", (12, 5, 2, 3, 4, 8, 6), seed=5),
    JobSpec("mlp_fxp", (10, 3, 4, 2, 8, 6, 3, 4, 2), seed=6),
)


@pytest.mark.parametrize("spec", JOBS, ids=lambda s: s.workload)
def test_jobs_on_cuda_match_the_other_devices(spec: JobSpec) -> None:
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    assert compute_leaves(spec, inputs, device="cuda") == leaves
    assert compute_leaves(spec, inputs, device="cpu") == leaves
    for index, leaf in enumerate(leaves):
        deps = {d: leaves[d] for d in leaf_dependencies(spec, index)}
        assert recompute_leaf(spec, inputs, index, deps, device="cuda") == leaf
