"""An audit's rows in tall blocks and short remainders, a narrow last strip read where B lies,
and a qmlp_i8 check's layers in one compiled call each: every path bit-equal to the plain
product and to the worker's leaves, on both kernels (`vpdpbusd` where the target has VNNI, and
the portable one), and the strip read never leaves B."""

from __future__ import annotations

import ctypes
import mmap
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves, recompute_leaf_hashes, recompute_leaves
from gpu_worker.kernels import audit_cpu, llvm_ir
from runtime.primitives.merkle import leaf_hash
from tests.gpu_worker.int8_products import int8_products

PATHS = [False, *([True] if llvm_ir.VNNI else [])]


def plain(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a·b modulo 2^32 as int32, exact in float64 (every partial sum is below 2^53)."""
    exact = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return (exact & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


@pytest.fixture(params=PATHS, ids=lambda quads: "vpdpbusd" if quads else "portable")
def quads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    monkeypatch.setattr(audit_cpu, "QUADS", request.param)
    yield request.param


# Tiles of 1 to 40 rows (tall blocks of 16, blocks of 8, a remainder of 1 to 7 padded to 8) and
# widths with a last strip of fewer than 16 columns anywhere in B.
@settings(max_examples=60, deadline=None)
@given(case=int8_products(40, 37, 70, 3))
def test_tall_and_short_tiles_give_the_plain_product_on_both_kernels(
    case: tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]]],
) -> None:
    a, b, tiles = case
    c = plain(a, b)
    kept = audit_cpu.QUADS
    try:
        for path in PATHS:
            audit_cpu.QUADS = path
            got = audit_cpu.gemm_tiles(a, b, tiles)
            for (r0, r1, c0, c1), tile in zip(tiles, got, strict=True):
                assert np.array_equal(tile, c[r0:r1, c0:c1]), (path, r0, r1, c0, c1)
    finally:
        audit_cpu.QUADS = kept


STRIPS = [
    (64, 10, (0, 10)),
    (41, 26, (16, 26)),
    (40, 1, (0, 1)),
    (9, 13, (0, 13)),
    (300, 3, (1, 3)),
]
"""B's shape and a tile's columns: strips at B's end (read in place, the last rows plainly, or
copied where too few rows end inside B) and inside it."""


def _b_before_a_locked_page(k: int, n: int, values: np.ndarray) -> tuple[np.ndarray, mmap.mmap]:
    """B (k × n int8, `values`) whose last byte is the last of a page followed by a page that
    cannot be read: a kernel that reads past B faults."""
    page = mmap.PAGESIZE
    size = k * n
    pages = -(-size // page) + 1
    buf = mmap.mmap(-1, pages * page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    start = (pages - 1) * page - size
    b = np.frombuffer(buf, np.int8, size, start).reshape(k, n)
    b[:] = values
    anchor = ctypes.c_char.from_buffer(buf)
    address = ctypes.addressof(anchor)
    del anchor
    libc = ctypes.CDLL(None, use_errno=True)
    locked = ctypes.c_void_p(address + (pages - 1) * page)
    assert libc.mprotect(locked, ctypes.c_size_t(page), 0) == 0
    view = b.view()
    view.flags.writeable = False
    return view, buf


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mprotect of an mmap: Linux")
@pytest.mark.parametrize(("k", "n", "cols"), STRIPS)
def test_a_narrow_last_strip_is_read_inside_b_only(
    quads: bool, k: int, n: int, cols: tuple[int, int]
) -> None:
    """The strip's 16-byte reads stop at the rows of B whose 16 bytes end inside B (the rest
    added plainly, or the strip copied where that leaves too many rows): B ending at a page
    that cannot be read gives the plain product, where one byte past B would fault."""
    rng = np.random.default_rng(k * n)
    b, buf = _b_before_a_locked_page(k, n, rng.integers(-128, 128, (k, n), dtype=np.int8))
    a = rng.integers(-128, 128, (19, k), dtype=np.int8)
    tiles = [(0, 19, *cols), (3, 8, *cols)]
    got = audit_cpu.gemm_tiles(a, b, tiles)
    c = plain(a, np.array(b))
    for (r0, r1, c0, c1), tile in zip(tiles, got, strict=True):
        assert np.array_equal(tile, c[r0:r1, c0:c1])
    assert buf  # held until the kernel is done


def test_the_last_terms_of_a_narrow_strip_are_seen(quads: bool) -> None:
    """A 10-wide strip at B's end: a byte of B's last row (added plainly, past the quads' rows)
    and of its first row (in the quads) each change the tile."""
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, (16, 64), dtype=np.int8)
    b = rng.integers(-128, 128, (64, 10), dtype=np.int8)
    (tile,) = audit_cpu.gemm_tiles(a, b, [(0, 16, 0, 10)])
    for p, col in ((63, 9), (0, 4)):
        changed = b.copy()
        changed[p, col] ^= 1
        (other,) = audit_cpu.gemm_tiles(a, changed, [(0, 16, 0, 10)])
        assert np.array_equal(other, plain(a, changed)) and not np.array_equal(other, tile)


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(
        [(11, 2, 9, 7, 5, 4), (40, 3, 40, 36, 20, 3), (24, 1, 33, 17), (37, 1, 20, 18, 10)]
    ),
    st.integers(0, 1000),
    st.booleans(),
    st.data(),
)
def test_a_qmlp_checks_leaves_and_hashes_are_the_workers_on_both_kernels(
    params: tuple[int, ...], seed: int, path: bool, data: st.DataObject
) -> None:
    """A qmlp_i8 check's rows (up to 16: each layer in one compiled call; more: in tiles of 16)
    give the worker's leaves and their hashes (gathered a width at a time, a short last row
    block on its own), leaves of several layers and repeated picks included."""
    if path and not llvm_ir.VNNI:
        path = False
    spec = JobSpec("qmlp_i8", params, seed=seed)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    picks = data.draw(st.lists(st.integers(0, spec.shape.leaves - 1), min_size=1, max_size=20))
    kept = audit_cpu.QUADS
    audit_cpu.QUADS = path
    try:
        for supplied in (inputs, {}):
            assert recompute_leaves(spec, supplied, picks, {}, device="cpu") == [
                leaves[i] for i in picks
            ]
            hashes = recompute_leaf_hashes(spec, supplied, picks, {}, device="cpu")
            assert hashes == [leaf_hash(leaves[i]) for i in picks]
    finally:
        audit_cpu.QUADS = kept


def test_a_qmlp_check_tells_a_wrong_leaf_apart() -> None:
    """A committed leaf one bit off, in any layer, hashes otherwise than its recomputation."""
    spec = JobSpec("qmlp_i8", (24, 1, 33, 17, 9), seed=3)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    picks = [2, 24 + 5, 24 + 23]
    hashes = recompute_leaf_hashes(spec, inputs, picks, {}, device="cpu")
    for pick, recomputed in zip(picks, hashes, strict=True):
        wrong = bytearray(leaves[pick])
        wrong[-1] ^= 1
        assert recomputed == leaf_hash(leaves[pick]) != leaf_hash(bytes(wrong))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 20), st.integers(1, 3), st.data())
def test_leaves_hashed_where_they_lie_or_gathered_give_the_same_hashes(
    rows: int, row_block: int, data: st.DataObject
) -> None:
    """The two ways a check's leaves are hashed (in place in the layers' one buffer, or
    gathered a width at a time with a short last row block alone) equal `leaf_hash` of the
    leaf bytes."""
    from gpu_worker.qmlp_rows import Carried, carried_leaf_hashes, gathered_leaf_hashes

    widths = data.draw(st.lists(st.integers(1, 1100), min_size=1, max_size=3))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    flat = rng.integers(-(2**31), 2**31, rows * sum(widths), dtype=np.int64).astype(np.int32)
    starts = np.cumsum([0, *(rows * w for w in widths)]).tolist()
    accs = [flat[s : s + rows * w].reshape(rows, w) for s, w in zip(starts, widths, strict=False)]
    places = []
    for _ in range(data.draw(st.integers(1, 12))):
        layer = data.draw(st.integers(0, len(widths) - 1))
        first = data.draw(st.integers(0, rows - 1)) // row_block * row_block
        places.append((layer, first, min(first + row_block, rows)))
    expected = [leaf_hash(accs[layer][first:stop].tobytes()) for layer, first, stop in places]
    carried = Carried(accs, flat, tuple(starts[:-1]))
    assert carried_leaf_hashes(carried, places, row_block) == expected
    assert gathered_leaf_hashes(accs, places, row_block) == expected


def test_a_layer_is_computed_for_the_rows_whose_leaves_reach_it(
    quads: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are ordered deepest leaf first, so each layer multiplies only the rows a leaf in it
    or deeper needs (as many more as the kernel's block costs anyway, where there are some),
    and every leaf is still the worker's."""
    spec = JobSpec("qmlp_i8", (40, 1, 24, 20, 18, 6), seed=2)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    picks = [*range(0, 26, 2), 40 + 7, 80 + 33]  # 13 rows in layer 0, one each deeper
    seen: list[int] = []
    layer_rows = audit_cpu.layer_rows

    def recorded(h: np.ndarray, *args: object) -> np.ndarray:
        seen.append(h.shape[0])
        return layer_rows(h, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(audit_cpu, "layer_rows", recorded)
    assert recompute_leaves(spec, inputs, picks, {}, device="cpu") == [leaves[i] for i in picks]
    second = audit_cpu.rows_worth(2, 20 * 18)  # rows 33 and 7, and as many more as come free
    assert seen == [15, second, min(second, audit_cpu.rows_worth(1, 18 * 6))]
    assert second == (8 if quads else 2)


def test_a_layer_shared_between_two_threads_gives_the_workers_leaves(
    quads: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a layer's work pays for a second thread (qmlp_i8 at n = 2,048; here the bound
    lowered), its rows go in tiles of 8 shared between two threads, and every leaf is still the
    worker's."""
    from gpu_worker import tile_threads

    monkeypatch.setattr(tile_threads, "SPREAD_MIN_TERMS", 64)
    monkeypatch.setattr(tile_threads, "cores", lambda: 2)
    spec = JobSpec("qmlp_i8", (30, 1, 40, 37, 21, 5), seed=6)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    tables: list[int] = []
    spread_tiles = tile_threads.spread_tiles

    def counted(run: object, table: np.ndarray, depth: int) -> None:
        tables.append(len(table))
        spread_tiles(run, table, depth)  # type: ignore[arg-type]

    monkeypatch.setattr(tile_threads, "spread_tiles", counted)
    picks = list(range(0, 90, 4))  # 15 rows through layers 0 and 1, 8 through layer 2
    assert recompute_leaves(spec, inputs, picks, {}, device="cpu") == [leaves[i] for i in picks]
    assert tables == [2, 2, 1]


def test_tiles_too_wide_for_tall_blocks_give_the_plain_product(quads: bool) -> None:
    """Past TALL_BYTES of B's columns (K × width) the kernel keeps to blocks of 8 rows, 9 to 15
    rows as two of them: the same bits."""
    from gpu_worker.kernels.audit_vnni import TALL_BYTES

    rng = np.random.default_rng(11)
    a = rng.integers(-128, 128, (13, 1024), dtype=np.int8)
    b = rng.integers(-128, 128, (1024, 1030), dtype=np.int8)
    tiles = [(0, 13, 0, 1030), (2, 7, 3, 1030), (0, 13, 6, 1030)]
    assert TALL_BYTES < 1024 * 1027
    c = plain(a, b)
    for (r0, r1, c0, c1), tile in zip(tiles, audit_cpu.gemm_tiles(a, b, tiles), strict=True):
        assert np.array_equal(tile, c[r0:r1, c0:c1])
