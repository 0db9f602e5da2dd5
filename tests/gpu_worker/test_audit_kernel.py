"""The CPU audit kernel (`gpu_worker.kernels.audit_cpu`): an audit's gemm_i8 tiles recomputed in
one call, reading B as stored, bit-equal to the plain product for every shape (odd K, widths
that are not a multiple of 16, ragged tiles, extreme int8 values), and `recompute_leaves` on the
CPU equal to the worker's leaves whichever way the inputs come (in memory, generated, read
through a reader of slices)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from gpu_worker.inputs import InputError, generate_inputs
from gpu_worker.jobs import (
    JobSpec,
    compute_leaves,
    leaf_tile,
    recompute_leaf_hashes,
    recompute_leaves,
)
from gpu_worker.kernels.audit_cpu import gemm_tiles, gemm_tiles_witness, grid_tiles
from gpu_worker.kernels.witness_cpu import SPAN, product_witness
from gpu_worker.tile_threads import spread_tiles
from gpu_worker.witness import (
    leaf_witness_arrays,
    recompute_leaf_witness,
    recompute_leaves_witness,
    witness_digest,
)
from runtime.primitives.merkle import leaf_hash
from runtime.workloads import WorkloadError


@st.composite
def products(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]]]:
    m, k, n = draw(st.integers(1, 20)), draw(st.integers(1, 70)), draw(st.integers(1, 50))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    values = draw(st.sampled_from(["random", "extreme"]))
    if values == "extreme":
        a = rng.choice(np.array([-128, 127], np.int8), (m, k))
        b = rng.choice(np.array([-128, 127], np.int8), (k, n))
    else:
        a = rng.integers(-128, 128, (m, k), dtype=np.int8)
        b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    tiles = []
    for _ in range(draw(st.integers(1, 6))):
        r0 = draw(st.integers(0, m - 1))
        c0 = draw(st.integers(0, n - 1))
        tiles.append((r0, draw(st.integers(r0 + 1, m)), c0, draw(st.integers(c0 + 1, n))))
    return a, b, tiles


@settings(max_examples=40, deadline=None)
@given(products())
def test_tiles_equal_the_plain_product(
    case: tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]]],
) -> None:
    a, b, tiles = case
    c = (a.astype(np.int64) @ b.astype(np.int64)).astype(np.int32)
    for (r0, r1, c0, c1), tile in zip(tiles, gemm_tiles(a, b, tiles), strict=True):
        assert tile.flags.c_contiguous
        assert np.array_equal(tile, c[r0:r1, c0:c1])


@settings(max_examples=40, deadline=None)
@given(products(), st.integers(1, 1 << 30), st.integers(0, 2**32 - 1))
def test_tiles_shared_among_threads_equal_one_call(
    case: tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]]], depth: int, mask: int
) -> None:
    """However many shares the spread makes (a large depth forces one a core), each tile is
    computed once, in its place: the tiles and witnesses equal one call on this thread."""
    a, b, tiles = case
    seen: list[int] = []

    def spread(run: Callable[[np.ndarray], None], table: np.ndarray) -> None:
        def counted(share: np.ndarray) -> None:
            assert share.flags.c_contiguous
            seen.extend(share[:, 4].tolist())
            run(share)

        spread_tiles(counted, table, depth)

    for shared, whole in zip(gemm_tiles(a, b, tiles, spread), gemm_tiles(a, b, tiles), strict=True):
        assert np.array_equal(shared, whole)
    assert sorted(seen) == sorted(set(seen)) and len(seen) == len(tiles)
    pairs = gemm_tiles_witness(a, b, tiles, mask, spread)
    for (c, w), (c1, w1) in zip(pairs, gemm_tiles_witness(a, b, tiles, mask), strict=True):
        assert np.array_equal(c, c1) and np.array_equal(w, w1)


def alone(spec: JobSpec, inputs: dict[str, bytes], index: int, mask: int) -> tuple[bytes, bytes]:
    """A leaf and its witness digest by the NumPy reference, recomputed on its own."""
    leaf, arrays = leaf_witness_arrays(spec, inputs, index, {}, mask, device="numpy")
    return leaf, witness_digest(arrays)


class Reader:
    """An input held elsewhere: only its length and byte slices (as `InputSlices` is)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, key: slice, /) -> bytes:
        return self.data[key]


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from([(24, 37, 48, 8, 16), (18, 64, 40, 6, 24), (20, 33, 44, 4, 20)]),
    st.data(),
)
def test_recomputed_tiles_equal_the_workers_leaves_however_the_inputs_come(
    params: tuple[int, ...], data: st.DataObject
) -> None:
    spec = JobSpec("gemm_i8", params, seed=data.draw(st.integers(0, 1000)))
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    picks = data.draw(st.lists(st.integers(0, len(leaves) - 1), min_size=1, max_size=16))
    expected = [leaves[i] for i in picks]
    readers = {name: Reader(value) for name, value in inputs.items()}
    assert recompute_leaves(spec, inputs, picks, {}, device="cpu") == expected
    assert recompute_leaves(spec, {}, picks, {}, device="cpu") == expected
    assert recompute_leaves(spec, readers, picks, {}, device="cpu") == expected
    assert recompute_leaves(spec, {"b": readers["b"]}, picks, {}, device="cpu") == expected
    # The hashes an audit compares, the tiles hashed where they lie (ragged ones one by one).
    hashes = [leaf_hash(leaf) for leaf in expected]
    for supplied in (inputs, {}, readers):
        for device in ("cpu", "numpy"):
            assert recompute_leaf_hashes(spec, supplied, picks, {}, device=device) == hashes
    with pytest.raises(InputError, match="out of range"):
        recompute_leaf_hashes(spec, inputs, [*picks, len(leaves)], {}, device="cpu")


def test_a_wrong_leaf_is_told_apart() -> None:
    """The adversary's cheapest fake: one element of one tile off by one."""
    spec = JobSpec("gemm_i8", (16, 40, 32, 8, 16), seed=3)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    fake = bytearray(leaves[2])
    fake[0] ^= 1
    assert recompute_leaves(spec, inputs, [2], {}, device="cpu") == [leaves[2]] != [bytes(fake)]


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from([(24, 37, 48, 8, 16), (18, 64, 40, 6, 24), (20, 33, 44, 4, 20)]),
    st.integers(1, 2**32 - 1),
    st.data(),
)
def test_tiles_with_their_witnesses_together_equal_each_on_its_own(
    params: tuple[int, ...], mask: int, data: st.DataObject
) -> None:
    """A committee member's answer: the batch gives each leaf and witness digest exactly as the
    reference recomputes that leaf alone, whichever way the inputs come."""
    spec = JobSpec("gemm_i8", params, seed=data.draw(st.integers(0, 1000)))
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    picks = data.draw(st.lists(st.integers(0, spec.shape.leaves - 1), min_size=1, max_size=12))
    expected = [alone(spec, inputs, i, mask) for i in picks]
    assert [
        recompute_leaf_witness(spec, inputs, i, {}, mask, device="cpu") for i in picks
    ] == expected
    readers = {name: Reader(value) for name, value in inputs.items()}
    for supplied in (inputs, {}, readers):
        leaves, digests = recompute_leaves_witness(spec, supplied, picks, {}, mask, device="cpu")
        assert list(zip(leaves, digests, strict=True)) == expected


def test_the_witness_tiles_equal_the_witness_kernel_over_spans_of_terms() -> None:
    """K longer than a span of the witness's int32 sums (SPAN terms) still folds exactly."""
    rng = np.random.default_rng(5)
    k = SPAN + 3
    a = rng.choice(np.array([-128, 127], np.int8), (3, k))
    b = rng.choice(np.array([-128, 127], np.int8), (k, 20))
    ((tile, w),) = gemm_tiles_witness(a, b, [(0, 3, 2, 19)], 0xDEADBEEF)
    c, expected = product_witness(a, np.ascontiguousarray(b[:, 2:19]), np.zeros(17, np.int32),
                                  0xDEADBEEF)  # fmt: skip
    assert np.array_equal(tile, c) and np.array_equal(w, expected)


@settings(max_examples=20, deadline=None)
@given(
    st.integers(1, 2**32 - 1),
    st.sampled_from(["numpy", "cpu"]),
    st.sampled_from([(11, 2, 9, 7, 5, 4), (6, 1, 40, 36, 20, 3)]),
    st.data(),
)
def test_qmlp_leaves_with_their_witnesses_together_equal_each_on_its_own(
    mask: int, device: str, params: tuple[int, ...], data: st.DataObject
) -> None:
    """A qmlp_i8 check carries its rows through the layers once: each leaf and its witness (the
    W arrays of its own rows, every layer up to its own) is as when recomputed alone."""
    spec = JobSpec("qmlp_i8", params, seed=data.draw(st.integers(0, 1000)))
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    picks = data.draw(st.lists(st.integers(0, spec.shape.leaves - 1), min_size=1, max_size=10))
    expected = [alone(spec, inputs, i, mask) for i in picks]
    for supplied in (inputs, {}):
        leaves, digests = recompute_leaves_witness(spec, supplied, picks, {}, mask, device=device)
        assert list(zip(leaves, digests, strict=True)) == expected


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from([(11, 2, 9, 7, 5, 4), (40, 3, 40, 36, 20, 3), (24, 1, 33, 17)]),
    st.integers(0, 1000),
    st.data(),
)
def test_qmlp_leaves_recomputed_on_the_cpu_equal_the_workers(
    params: tuple[int, ...], seed: int, data: st.DataObject
) -> None:
    """A qmlp_i8 check's rows carried through the layers by the audit kernel (tiles of 8 rows,
    W read as stored, widths not a multiple of 16, up to 40 rows) give the worker's leaves,
    whether x is in memory (rows picked from a view) or generated (read as runs)."""
    spec = JobSpec("qmlp_i8", params, seed=seed)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    picks = data.draw(st.lists(st.integers(0, spec.shape.leaves - 1), min_size=1, max_size=16))
    for supplied in (inputs, {}):
        got = recompute_leaves(spec, supplied, picks, {}, device="cpu")
        assert got == [leaves[i] for i in picks]


def test_a_kept_parsed_model_is_only_ever_its_own_models() -> None:
    """Checks of two models of the same shape, in turn, each give their own leaves: a parsed
    model is kept by the bytes object it came from (held, so its id cannot name another), and
    a mutable buffer is parsed afresh each time."""
    from gpu_worker import qmlp_rows

    spec = JobSpec("qmlp_i8", (11, 2, 9, 7, 5, 4), seed=4)
    first = generate_inputs(spec.workload, spec.params, spec.seed)
    model = bytearray(first["model"])
    model[0] ^= 0x55  # the first weight: every row's first layer differs
    second = {**first, "model": bytes(model)}
    picks = list(range(spec.shape.leaves))
    expected = [compute_leaves(spec, inputs, device="numpy") for inputs in (first, second)]
    assert expected[0] != expected[1]
    for inputs, leaves in [*zip((first, second), expected, strict=True)] * 2:
        assert recompute_leaves(spec, inputs, picks, {}, device="cpu") == leaves
    mutable = {**first, "model": model}
    assert recompute_leaves(spec, mutable, picks, {}, device="cpu") == expected[1]
    model[0] ^= 0x55
    assert recompute_leaves(spec, mutable, picks, {}, device="cpu") == expected[0]
    assert len(qmlp_rows._parsed) <= qmlp_rows.PARSED_MODELS


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 40),
    n=st.integers(1, 40),
    row_block=st.integers(1, 12),
    col_block=st.integers(1, 12),
    data=st.data(),
)
def test_an_audits_tile_table_is_each_leafs_tile(
    m: int, n: int, row_block: int, col_block: int, data: st.DataObject
) -> None:
    """`grid_tiles` gives each leaf's tile, as `leaf_tile` cuts it, and the columns they span."""
    spec = JobSpec("gemm_i8", (m, 3, n, row_block, col_block))
    try:
        leaves = spec.shape.leaves
    except WorkloadError:  # a layout the runtime refuses has no leaves to audit
        reject()
    picks = data.draw(st.lists(st.integers(0, leaves - 1), min_size=1, max_size=8))
    table, first, stop = grid_tiles(picks, m, n, row_block, col_block)
    tiles = [leaf_tile(spec, index) for index in picks]
    expected = [(t.rows.start, t.rows.stop, t.cols.start, t.cols.stop) for t in tiles]
    assert table.dtype == np.int64
    assert [tuple(row) for row in table.tolist()] == expected
    assert (first, stop) == (min(e[2] for e in expected), max(e[3] for e in expected))
