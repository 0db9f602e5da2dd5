"""A job computed and committed together gives the bytes and the root of computing it and then
committing: whatever the bands, the device, the layout; with its leaves as views that cannot
be changed after the root is taken."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker.committing import (
    Committed,
    committed_from_leaves,
    compute_committed,
    leaf_regions,
    row_bands,
)
from gpu_worker.inputs import generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves, leaf_tiles
from gpu_worker.kernels import cpu
from gpu_worker.worker.job_state import JobStore
from runtime.primitives.merkle import leaf_hash, merkle_root, proof_from_levels, verify_merkle_proof
from runtime.workloads import WorkloadError


def _assert_commits(committed: Committed, leaves: list[bytes]) -> None:
    assert [bytes(leaf) for leaf in committed.leaves] == leaves
    assert committed.hashes == [leaf_hash(leaf) for leaf in leaves]
    assert committed.root == merkle_root(leaves)
    for index in (0, len(leaves) // 2, len(leaves) - 1):
        proof = proof_from_levels(committed.levels, index)
        verify_merkle_proof(committed.root, leaves[index], index, len(leaves), proof)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 300),
    row_block=st.integers(1, 80),
    bands=st.integers(1, 12),
    min_rows=st.integers(1, 64),
)
def test_bands_hold_whole_leaves_and_cover_every_row_once(
    rows: int, row_block: int, bands: int, min_rows: int
) -> None:
    row_block = min(row_block, rows)
    cut = row_bands(rows, row_block, bands=bands, min_rows=min_rows)
    assert cut[0].start == 0 and cut[-1].stop == rows
    for before, after in itertools.pairwise(cut):
        assert before.stop == after.start
    # A band that split a leaf would let its first part be hashed before the rest was final.
    assert all(band.start % row_block == 0 for band in cut)
    assert len(cut) <= max(bands, 1) or all(b.stop - b.start == row_block for b in cut[:-1])


def _accepted(spec: JobSpec) -> bool:
    """Whether the runtime accepts the job's layout (it refuses tiles of very uneven work)."""
    try:
        spec.shape  # noqa: B018
    except WorkloadError:
        return False
    return True


gemm_jobs = st.builds(
    lambda m, k, n, block, cols, seed: JobSpec(
        "gemm_i8", (m, k, n, min(block, m), *([min(cols, n)] if cols else [])), seed
    ),
    st.integers(1, 48),
    st.integers(1, 40),
    st.integers(1, 80),
    st.integers(1, 16),
    st.integers(0, 90),  # 0: whole rows; else tiles (a col_block over n is cut to n)
    st.integers(0, 2**31),
).filter(lambda spec: _accepted(spec))
qmlp_jobs = st.builds(
    lambda batch, block, dims, seed: JobSpec("qmlp_i8", (batch, min(block, batch), *dims), seed),
    st.integers(1, 40),
    st.integers(1, 12),
    st.lists(st.integers(1, 20), min_size=2, max_size=4),
    st.integers(0, 2**31),
).filter(lambda spec: _accepted(spec))


@settings(max_examples=40, deadline=None)
@given(spec=st.one_of(gemm_jobs, qmlp_jobs), bands=st.integers(1, 9))
def test_committing_band_by_band_equals_computing_then_committing(
    spec: JobSpec, bands: int
) -> None:
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    committed = compute_committed(spec, inputs, device="cpu", bands=bands, min_band_rows=1)
    _assert_commits(committed, leaves)


@pytest.mark.parametrize("device", ["cpu", "numpy"])
def test_every_workload_commits_as_its_leaves(device: str) -> None:
    for spec in (
        JobSpec("gemm_i8", (70, 33, 40, 8), 3),
        JobSpec("qmlp_i8", (50, 16, 24, 20, 10), 4),
        JobSpec("sgd_fxp", (64, 8, 2, 16, 5, 8, 10), 5),
    ):
        inputs = generate_inputs(spec.workload, spec.params, spec.seed)
        leaves = compute_leaves(spec, inputs, device=device)
        _assert_commits(compute_committed(spec, inputs, device=device), leaves)
        _assert_commits(compute_committed(spec, inputs, device=device, min_band_rows=1), leaves)


def test_leaves_are_read_only_views_of_one_result_not_copies() -> None:
    spec = JobSpec("gemm_i8", (96, 32, 48, 8), 9)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    committed = compute_committed(spec, inputs, device="cpu", bands=4, min_band_rows=1)
    views = [leaf for leaf in committed.leaves if isinstance(leaf, memoryview)]
    assert len(views) == len(committed.leaves) == 12
    result = views[0].obj.base  # type: ignore[union-attr]  # C, of which each leaf is a view
    assert isinstance(result, np.ndarray) and result.shape == (96, 48)
    for index, leaf in enumerate(views):
        assert leaf.nbytes == 8 * 48 * 4
        assert np.shares_memory(np.frombuffer(leaf, np.uint8), result)
        # The root was taken over these bytes: nobody may change them under it.
        assert leaf.readonly
        with pytest.raises(TypeError):
            leaf[0] = index


def test_a_result_changed_after_computing_gives_another_root() -> None:
    spec = JobSpec("qmlp_i8", (40, 8, 16, 12, 6), 2)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    committed = compute_committed(spec, inputs, device="cpu", min_band_rows=1)
    leaves = [bytes(leaf) for leaf in committed.leaves]
    leaves[-1] = leaves[-1][:-1] + bytes([leaves[-1][-1] ^ 1])
    assert committed_from_leaves(leaves).root != committed.root
    assert committed_from_leaves(committed.leaves).root == committed.root


@settings(max_examples=40, deadline=None)
@given(spec=st.one_of(gemm_jobs, qmlp_jobs))
def test_leaf_regions_are_where_the_layout_puts_each_leaf(spec: JobSpec) -> None:
    regions = leaf_regions(spec)
    tiles = leaf_tiles(spec)
    assert len(regions) == len(tiles) == spec.shape.leaves
    ends: dict[int, int] = {}
    for region, tile, size in zip(regions, tiles, spec.shape.leaf_sizes, strict=True):
        assert region.layer == tile.layer and region.rows == tile.rows
        assert 4 * (region.stop - region.start) == size
        # Leaves follow one another in their layer's result, with no gap and no overlap.
        assert region.start == ends.get(region.layer, 0)
        ends[region.layer] = region.stop


def test_leaf_regions_follow_the_leaf_order() -> None:
    gemm = JobSpec("gemm_i8", (10, 4, 5, 4), 0)
    assert [(r.layer, r.rows.start, r.rows.stop) for r in leaf_regions(gemm)] == [
        (0, 0, 4),
        (0, 4, 8),
        (0, 8, 10),
    ]
    qmlp = JobSpec("qmlp_i8", (5, 3, 4, 4, 2), 0)
    assert [(r.layer, r.rows.start) for r in leaf_regions(qmlp)] == [(0, 0), (0, 3), (1, 0), (1, 3)]


def test_gemm_bands_compute_each_band_only_when_asked() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(-128, 128, (40, 24), dtype=np.int8)
    b = rng.integers(-128, 128, (24, 16), dtype=np.int8)
    out, progress = cpu.gemm_bands(a, b, [slice(0, 16), slice(16, 40)])
    first = next(progress)
    assert first == slice(0, 16)
    expected = a.astype(np.int64) @ b.astype(np.int64)
    np.testing.assert_array_equal(out[:16], expected[:16])
    assert list(progress) == [slice(16, 40)]
    np.testing.assert_array_equal(out, expected)


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 70),
    k=st.integers(1, 40),
    n=st.integers(1, 140),
    row_block=st.integers(1, 40),
    col_block=st.integers(1, 140),
    per_band=st.integers(1, 4),
    seed=st.integers(0, 2**31),
)
def test_tiles_are_computed_where_their_leaves_lie(
    m: int, k: int, n: int, row_block: int, col_block: int, per_band: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    c = (a.astype(np.int64) @ b.astype(np.int64)).astype(np.int32)
    step = row_block * per_band
    out, progress = cpu.gemm_tile_bands(
        a, b, row_block, col_block, [slice(s, min(s + step, m)) for s in range(0, m, step)]
    )
    list(progress)
    # The plain definition: tile (r, c) is C[r·rb:(r+1)·rb, c·cb:(c+1)·cb], tile-major.
    plain = b"".join(
        np.ascontiguousarray(c[r : r + row_block, q : q + col_block], "<i4").tobytes()
        for r in range(0, m, row_block)
        for q in range(0, n, col_block)
    )
    assert out.tobytes() == plain


def test_tile_bands_refuse_a_band_that_splits_a_row_of_tiles() -> None:
    a = np.ones((12, 4), np.int8)
    b = np.ones((4, 6), np.int8)
    _, progress = cpu.gemm_tile_bands(a, b, 4, 3, [slice(0, 6), slice(6, 12)])
    next(progress)
    with pytest.raises(ValueError, match="does not start at a row of tiles"):
        next(progress)


def test_a_worker_keeps_leaves_that_are_views_and_reads_them_back_under_the_root(
    tmp_path: Path,
) -> None:
    spec = JobSpec("gemm_i8", (40, 16, 24, 8), 6)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    committed = compute_committed(spec, inputs, device="cpu")
    store = JobStore(tmp_path / "state")
    store.save_leaves(3, committed.leaves)
    assert store.load_leaves(3, committed.root) == compute_leaves(spec, inputs, device="numpy")


def test_leaf_views_read_as_a_list_of_the_leaves() -> None:
    spec = JobSpec("qmlp_i8", (12, 5, 16, 9, 4), 8)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    views = compute_committed(spec, inputs, device="cpu").leaves
    assert len(views) == len(leaves) == 6  # 3 row blocks in each of 2 layers
    assert [bytes(leaf) for leaf in views] == leaves
    assert [bytes(views[i]) for i in range(-len(leaves), len(leaves))] == leaves + leaves
    assert [bytes(leaf) for leaf in views[2:7:2]] == leaves[2:7:2]
    with pytest.raises(IndexError):
        views[len(leaves)]
