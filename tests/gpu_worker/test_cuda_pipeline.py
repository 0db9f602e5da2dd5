"""On CUDA, a job streamed band by band (kernels on one stream, copies back on another, the host
hashing each band as it lands) commits to the same leaves and root as every other device.

Without a GPU this module is skipped; `test_cuda_simulator.py` runs it in Numba's CUDA simulator,
where the shapes must be tiny.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker import reference
from gpu_worker.committing import compute_committed
from gpu_worker.devices import cuda_available
from gpu_worker.inputs import generate_inputs, parse_model
from gpu_worker.jobs import JobSpec, compute_leaves
from runtime.primitives.merkle import leaf_hash, merkle_root

pytestmark = pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU or simulator")


@pytest.fixture(scope="module")
def kernels() -> ModuleType:
    from gpu_worker.kernels import cuda

    return cuda


def _cut(rows: int, step: int) -> list[slice]:
    return [slice(start, min(start + step, rows)) for start in range(0, rows, step)]


@settings(max_examples=6, deadline=None)
@given(m=st.integers(1, 11), k=st.integers(1, 9), n=st.integers(1, 9), step=st.integers(1, 5))
def test_gemm_bands_land_on_the_host_in_order_and_match_the_reference(
    kernels: ModuleType, m: int, k: int, n: int, step: int
) -> None:
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    bands = _cut(m, step)
    out, progress = kernels.gemm_bands(a, b, bands)
    expected = reference.gemm(a, b)
    for rows in bands:
        assert next(progress) == rows
        np.testing.assert_array_equal(out[rows], expected[rows])
    assert next(progress, None) is None
    np.testing.assert_array_equal(out, expected)


def test_qmlp_bands_yield_every_layer_of_a_band_before_the_next_band(kernels: ModuleType) -> None:
    spec = JobSpec("qmlp_i8", (7, 3, 5, 6, 4), seed=8)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    x = np.frombuffer(inputs["x"], np.int8).reshape(7, 5)
    layers = parse_model(spec.params[2:], inputs["model"])
    bands = _cut(7, 3)
    accs, progress = kernels.qmlp_bands(x, layers, bands)
    expected = reference.qmlp(x, layers)
    seen = []
    for layer, rows in progress:
        np.testing.assert_array_equal(accs[layer][rows], expected[layer][rows])
        seen.append((layer, rows.start))
    assert seen == [(j, band.start) for band in bands for j in range(2)]


def test_qmlp_bands_refuse_layers_that_do_not_fit(kernels: ModuleType) -> None:
    spec = JobSpec("qmlp_i8", (4, 2, 3, 5, 2), seed=1)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    layers = parse_model(spec.params[2:], inputs["model"])
    with pytest.raises(ValueError, match="cannot multiply"):
        kernels.qmlp_bands(np.zeros((4, 4), np.int8), layers, _cut(4, 2))


@pytest.mark.parametrize(
    "spec",
    [
        JobSpec("gemm_i8", (10, 7, 6, 2), seed=3),
        JobSpec("gemm_i8", (8, 5, 6, 2, 3), seed=6),
        JobSpec("qmlp_i8", (9, 2, 5, 6, 3), seed=4),
        JobSpec("sgd_fxp", (12, 5, 2, 3, 3, 8, 6), seed=5),
    ],
    ids=lambda s: f"{s.workload}{list(s.params)}",
)
def test_jobs_streamed_on_cuda_commit_as_computed_on_the_cpu(spec: JobSpec) -> None:
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="cpu")
    for bands in (1, 3):
        committed = compute_committed(spec, inputs, device="cuda", bands=bands, min_band_rows=1)
        assert [bytes(leaf) for leaf in committed.leaves] == leaves
        assert committed.hashes == [leaf_hash(leaf) for leaf in leaves]
        assert committed.root == merkle_root(leaves)


@settings(max_examples=6, deadline=None)
@given(
    m=st.integers(1, 10),
    k=st.integers(1, 6),
    n=st.integers(1, 10),
    row_block=st.integers(1, 4),
    col_block=st.integers(1, 11),
    per_band=st.integers(1, 3),
)
def test_gemm_tile_bands_lay_each_tile_where_its_leaf_lies(
    kernels: ModuleType, m: int, k: int, n: int, row_block: int, col_block: int, per_band: int
) -> None:
    from gpu_worker.kernels.cpu import tiles_of

    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    want = np.empty(m * n, np.int32)
    tiles_of(reference.gemm(a, b), row_block, col_block, want)
    out, progress = kernels.gemm_tile_bands(
        a, b, row_block, col_block, _cut(m, row_block * per_band)
    )
    assert len(list(progress)) == -(-m // (row_block * per_band))
    np.testing.assert_array_equal(out, want)


@settings(max_examples=10, deadline=None)
@given(
    sizes=st.lists(
        st.one_of(st.integers(0, 130), st.sampled_from([1023, 1024, 1025, 2048, 2049, 3073])),
        min_size=1,
        max_size=5,
    ),
    seed=st.integers(0, 2**32),
)
def test_leaves_hashed_on_the_device_are_the_chains_leaf_hashes(
    sizes: list[int], seed: int
) -> None:
    from gpu_worker.kernels import cuda_blake3
    from gpu_worker.kernels.cuda import cuda as numba_cuda

    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, sum(sizes) + 7, dtype=np.uint8)
    starts = np.cumsum([3, *sizes[:-1]]).astype(np.int64)  # not aligned: bytes anywhere
    lengths = np.array(sizes, np.int64)
    d_out = numba_cuda.to_device(np.zeros((len(sizes), 32), np.uint8))
    cuda_blake3.device_hasher()[1, len(sizes)](
        numba_cuda.to_device(data),
        numba_cuda.to_device(starts),
        numba_cuda.to_device(lengths),
        numba_cuda.to_device(cuda_blake3.key_words()),
        d_out,
    )
    got = [bytes(row) for row in d_out.copy_to_host()]
    assert got == [
        leaf_hash(data[start : start + size].tobytes())
        for start, size in zip(starts, sizes, strict=True)
    ]
    # One bit changed anywhere in a leaf changes its hash on the device too.
    if sizes[0]:
        data[starts[0]] ^= 1
        cuda_blake3.device_hasher()[1, 1](
            numba_cuda.to_device(data),
            numba_cuda.to_device(starts[:1]),
            numba_cuda.to_device(lengths[:1]),
            numba_cuda.to_device(cuda_blake3.key_words()),
            d_out,
        )
        assert bytes(d_out.copy_to_host()[0]) != got[0]
