"""An audit's gemm_i8 tiles by `vpdpbusd` (`audit_cpu._gemm_tiles_vnni`, where the target has
AVX-512 VNNI) and by the portable `vpmaddwd` kernel: both bit-equal to the plain product modulo
2^32 for every shape (K not a multiple of 4, widths not a multiple of 16 or 32, heights not a
multiple of 8), at the extremes of int8 and where the sums wrap, so a machine with VNNI and one
without decide every audit alike."""

from __future__ import annotations

from collections.abc import Iterator

import numba
import numpy as np
import pytest
from hypothesis import given, settings

from gpu_worker.kernels import audit_cpu, llvm_ir
from tests.gpu_worker.int8_products import int8_products

PATHS = [False, *([True] if llvm_ir.VNNI else [])]


@pytest.fixture(params=PATHS, ids=lambda quads: "vpdpbusd" if quads else "portable")
def quads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    monkeypatch.setattr(audit_cpu, "QUADS", request.param)
    yield request.param


def plain(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a·b modulo 2^32 as int32: what every kernel must give. Exact in float64 (BLAS): every
    partial sum is below 2^14·K ≤ 2^53."""
    exact = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return (exact & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


def tiles_by(
    path: bool, a: np.ndarray, b: np.ndarray, tiles: list[tuple[int, int, int, int]]
) -> list[np.ndarray]:
    """`gemm_tiles` by the VNNI kernel (path True) or the portable one."""
    kept = audit_cpu.QUADS
    audit_cpu.QUADS = path
    try:
        return audit_cpu.gemm_tiles(a, b, tiles)
    finally:
        audit_cpu.QUADS = kept


@settings(max_examples=60, deadline=None)
@given(case=int8_products(19, 41, 83, 5))
def test_both_kernels_give_the_plain_product(
    case: tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]]],
) -> None:
    a, b, tiles = case
    c = plain(a, b)
    for path in PATHS:
        got = tiles_by(path, a, b, tiles)
        for (r0, r1, c0, c1), tile in zip(tiles, got, strict=True):
            assert np.array_equal(tile, c[r0:r1, c0:c1]), path


@pytest.mark.parametrize("values", [(-128, -128), (-128, 127), (127, -128), (127, 127)])
def test_extreme_bytes_over_the_longest_k_wrap_as_the_jobs_kernel_does(
    quads: bool, values: tuple[int, int]
) -> None:
    """K = 2^17 + 3 terms of ±2^14: the sum (and, on the VNNI path, Σ a·(b + 128) and its
    correction 128·Σ a) pass 2^31; the tile is still the product modulo 2^32. B's bytes −128 and
    127 are the ones whose top bit the unsigned operand flips."""
    k = (1 << 17) + 3
    a = np.full((9, k), values[0], np.int8)
    a[3, ::5] = values[1]  # rows that differ, so a row's correction is its own
    b = np.full((k, 40), values[1], np.int8)
    b[::7, 5] = values[0]
    (tile,) = audit_cpu.gemm_tiles(a, b, [(0, 9, 1, 40)])
    assert np.array_equal(tile, plain(a, b[:, 1:40]))


def test_a_tile_one_term_off_is_told_apart(quads: bool) -> None:
    """The kernel sees every term: one byte of A changed in the last of K's terms (the part a
    multiple of 4 leaves over) or in the first changes the tile."""
    rng = np.random.default_rng(9)
    a = rng.integers(-128, 128, (8, 39), dtype=np.int8)
    b = rng.integers(-128, 128, (39, 64), dtype=np.int8)
    (tile,) = audit_cpu.gemm_tiles(a, b, [(0, 8, 0, 64)])
    for p in (0, 38):
        changed = a.copy()
        changed[2, p] ^= 1
        (other,) = audit_cpu.gemm_tiles(changed, b, [(0, 8, 0, 64)])
        assert np.array_equal(other, plain(changed, b)) and not np.array_equal(other, tile)


def test_the_target_features_decide_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """NUMBA_CPU_FEATURES and NUMBA_CPU_NAME override the host: a target named without VNNI
    (as a CI machine or a portable cache is) gets the portable kernel."""
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+avx2,+avx512bw", raising=False)
    assert llvm_ir.target_has("avx2") and not llvm_ir.target_has("avx512vnni")
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "", raising=False)
    monkeypatch.setattr(numba.config, "CPU_NAME", "generic", raising=False)
    assert not llvm_ir.target_has("avx2") and not llvm_ir.target_has("avx512vnni")


def test_a_share_of_tiles_goes_to_another_thread_only_when_it_takes_as_long_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The 16 tiles of 8 × 128 of a gemm_i8 audit at n = 2,048 (33 M multiply-adds): two
    shares for the portable kernel, one call on this thread for the VNNI kernel, which does
    them in about the time the portable kernel takes for half (a share handed to a thread costs
    about 30 µs, and on a loaded machine the other core is often busy)."""
    from gpu_worker import tile_threads

    monkeypatch.setattr(tile_threads, "cores", lambda: 2)
    table = np.array([(8 * t, 8 * t + 8, 0, 128, 1024 * t) for t in range(16)], np.int64)
    for quads, shares in ((False, 2), (True, 1)):
        monkeypatch.setattr(audit_cpu, "QUADS", quads)
        seen: list[np.ndarray] = []
        tile_threads.spread_tiles(seen.append, table, audit_cpu.tile_weight(2048))
        assert len(seen) == shares and sum(map(len, seen)) == 16
