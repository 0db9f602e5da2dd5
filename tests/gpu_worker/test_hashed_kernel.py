"""The CPU kernel that hashes each leaf as the task that wrote it finishes (`HASH_IN_KERNEL`):
its result and hashes equal the plain definition (the reference product laid out as leaves,
each leaf hashed by `merkle.leaf_hash`), whatever the tiles, bands and leaf list."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker import reference
from gpu_worker.inputs import generate_inputs, parse_model
from gpu_worker.kernels import cpu
from gpu_worker.kernels.blake3_tiles import LeafHashing
from runtime.primitives.merkle import leaf_hash
from tests.gpu_worker.job_arrays import as_job_input


def _matrices(m: int, k: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    if seed % 3 == 0:  # the extremes, where a wrong lane or a wrapped sum would show
        a[:] = -128
        b[::2] = -128
        b[1::2] = 127
    return a, b


def _hashing(sizes: list[int]) -> LeafHashing:
    lengths = 4 * np.array(sizes, np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return LeafHashing(starts, lengths, np.zeros((len(sizes), 32), np.uint8))


def _tile_sizes(m: int, n: int, rb: int, cb: int) -> list[int]:
    return [int(size) for size in cpu._tile_sizes(m, n, rb, cb)]


def _assert_hashed(flat: np.ndarray, hashing: LeafHashing) -> None:
    data = flat.tobytes()
    for index, (start, length) in enumerate(zip(hashing.starts, hashing.lengths, strict=True)):
        assert bytes(hashing.out[index]) == leaf_hash(data[start : start + length]), index


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 48),
    k=st.integers(1, 40),
    n=st.integers(1, 40),
    rb=st.integers(1, 12),
    cb=st.integers(1, 48),
    cuts=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_tiles_hashed_in_the_kernel_equal_the_reference_tiles_hashed(
    m: int, k: int, n: int, rb: int, cb: int, cuts: int, seed: int
) -> None:
    a, b = _matrices(m, k, n, seed)
    want = np.empty(m * n, np.int32)
    cpu.tiles_of(reference.gemm(a, b), rb, cb, want)
    row_tiles = -(-m // rb)
    step = -(-row_tiles // cuts) * rb
    bands = [slice(r, min(r + step, m)) for r in range(0, m, step)]
    hashing = _hashing(_tile_sizes(m, n, rb, cb))
    out, progress = cpu.gemm_tile_bands(a, b, rb, cb, bands, hashing=[hashing])
    assert list(progress) == bands
    assert np.array_equal(out, want)
    _assert_hashed(want, hashing)


@settings(max_examples=30, deadline=None)
@given(
    m=st.integers(1, 48),
    k=st.integers(1, 40),
    n=st.integers(1, 40),
    rb=st.integers(1, 20),
    seed=st.integers(0, 2**16),
)
def test_rows_hashed_in_the_kernel_equal_the_reference_rows_hashed(
    m: int, k: int, n: int, rb: int, seed: int
) -> None:
    a, b = _matrices(m, k, n, seed)
    hashing = _hashing(_tile_sizes(m, n, rb, n))
    out, progress = cpu.gemm_bands(a, b, [slice(0, m)], hashing=[hashing])
    list(progress)
    assert np.array_equal(out, reference.gemm(a, b))
    _assert_hashed(out.reshape(-1), hashing)


@settings(max_examples=30, deadline=None)
@given(
    m=st.integers(9, 40),
    n=st.integers(1, 30),
    cuts=st.lists(st.integers(0, 1200), max_size=30),
    seed=st.integers(0, 2**16),
)
def test_a_leaf_list_that_is_not_the_tiles_is_still_hashed_where_it_lies(
    m: int, n: int, cuts: list[int], seed: int
) -> None:
    """Leaves of other sizes than the tiles (the task that wrote a tile is not the one that
    would hash it): the kernel computes first and hashes after, so every hash is right."""
    a, b = _matrices(m, 16, n, seed)
    total = m * n
    bounds = [0, *sorted(min(cut, total) for cut in cuts), total]
    sizes = [stop - start for start, stop in itertools.pairwise(bounds)]
    hashing = _hashing(sizes)
    out, progress = cpu.gemm_tile_bands(a, b, 4, 8, [slice(0, m)], hashing=[hashing])
    list(progress)
    want = np.empty(total, np.int32)
    cpu.tiles_of(reference.gemm(a, b), 4, 8, want)
    assert np.array_equal(out, want)
    _assert_hashed(want, hashing)


def test_a_leaf_crossing_a_bands_end_is_refused() -> None:
    """A leaf that a band would hash before the next band writes the rest of it is refused."""
    a, b = _matrices(32, 16, 16, 1)
    hashing = _hashing([8 * 16 + 16, 32 * 16 - 8 * 16 - 16])
    _, progress = cpu.gemm_tile_bands(a, b, 8, 16, [slice(0, 8), slice(8, 32)], hashing=[hashing])
    with pytest.raises(ValueError, match="do not tile"):
        list(progress)


def test_qmlp_layers_hashed_in_the_kernel_equal_the_reference_layers_hashed() -> None:
    params = (40, 3, 24, 32, 20, 10)
    inputs = generate_inputs("qmlp_i8", params, 7)
    x = np.frombuffer(inputs["x"], np.int8).reshape(40, 24)
    layers = parse_model(params[2:], inputs["model"])
    hashing = [_hashing(_tile_sizes(40, width, 3, width)) for width in params[3:]]
    accs, progress = cpu.qmlp_bands(x, layers, [slice(0, 21), slice(21, 40)], hashing=hashing)
    list(progress)
    for acc, want, layer_hashing in zip(accs, reference.qmlp(x, layers), hashing, strict=True):
        assert np.array_equal(acc, want)
        _assert_hashed(acc.reshape(-1), layer_hashing)


def test_the_hashing_kernel_is_compiled_once_for_writable_and_read_only_inputs() -> None:
    """A job's inputs arrive read-only, a caller's arrays writable, and a qmlp_i8 layer after
    the first multiplies requantized activations: the kernel is handed one type of each, so it
    is compiled once (about 6 s on a fresh checkout), not once for each."""
    m, k, n, rb, cb = cpu.FEW_ROWS + 8, 12, 20, 4, 8
    a, b = _matrices(m, k, n, 5)
    for arrive in (np.array, as_job_input):
        hashing = _hashing(_tile_sizes(m, n, rb, cb))
        out, progress = cpu.gemm_tile_bands(
            arrive(a), arrive(b), rb, cb, [slice(0, m)], hashing=[hashing]
        )
        list(progress)
        _assert_hashed(out, hashing)
    params = (m, 2, 12, 20, 10)
    inputs = generate_inputs("qmlp_i8", params, 3)
    x = np.frombuffer(inputs["x"], np.int8).reshape(m, 12)
    for arrive in (np.array, as_job_input):
        hashings = [_hashing(_tile_sizes(m, width, rb, width)) for width in params[3:]]
        model = parse_model(params[2:], inputs["model"])
        _, progress = cpu.qmlp_bands(arrive(x), model, [slice(0, m)], hashing=hashings)
        list(progress)
    assert len(cpu._gemm_bias_hashed.signatures) == 1, cpu._gemm_bias_hashed.signatures
