"""The leaf layout: gemm_i8 tiles (row block × column block, tile-major), where each leaf lies in
the result, what recomputing a tile reads, and the layouts the runtime refuses.

The adversary's moves tested here: committing the right numbers in another order than the
layout's (every tile then fails its audit), and choosing a layout in which one tile holds most
of the work (refused: faking that one tile would skip the work while faking few leaves).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.service.input_slices import covering_chunks
from gpu_worker.inputs import ByteRuns, generate_input, generate_input_runs, generate_inputs
from gpu_worker.jobs import (
    JobSpec,
    compute_leaves,
    leaf_input_ranges,
    leaf_tile,
    leaf_tiles,
    recompute_leaf,
    recompute_leaves,
    result_arrays,
)
from runtime.pallets.compute.guard import DEPENDENCY_FACTOR
from runtime.workloads import CHUNK_BYTES, MAX_TILE_SKEW, WorkloadError, workload_shape


@st.composite
def gemm_jobs(draw: st.DrawFn) -> JobSpec:
    """A small gemm_i8 job the runtime accepts: row bands or tiles, ragged edges included."""
    m, k, n = draw(st.integers(1, 24)), draw(st.integers(1, 40)), draw(st.integers(1, 24))
    row_block = draw(st.integers(1, m))
    col_block = draw(st.none() | st.integers(1, n))
    params = (m, k, n, row_block) if col_block is None else (m, k, n, row_block, col_block)
    try:
        workload_shape("gemm_i8", params)
    except WorkloadError:
        from hypothesis import reject

        reject()
    return JobSpec("gemm_i8", params, draw(st.integers(0, 2**32)))


def reference_c(spec: JobSpec) -> np.ndarray:
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    m, k, n = spec.params[:3]
    a = np.frombuffer(inputs["a"], np.int8).reshape(m, k).astype(np.int64)
    b = np.frombuffer(inputs["b"], np.int8).reshape(k, n).astype(np.int64)
    return (a @ b).astype(np.int32)


@settings(max_examples=60, deadline=None)
@given(gemm_jobs())
def test_tiles_cover_c_once_in_tile_major_order(spec: JobSpec) -> None:
    m, _, n = spec.params[:3]
    tiles = leaf_tiles(spec)
    covered = np.zeros((m, n), np.int64)
    for tile in tiles:
        covered[tile.rows, tile.cols] += 1
        assert tile.layer == 0
    assert (covered == 1).all()
    assert [4 * r * c for r, c in (t.shape for t in tiles)] == list(spec.shape.leaf_sizes)
    # Tile-major: a row of tiles left to right, then the next row of tiles.
    starts = [(t.rows.start, t.cols.start) for t in tiles]
    assert starts == sorted(starts)


@settings(max_examples=30, deadline=None)
@given(gemm_jobs())
def test_each_leaf_is_its_tile_of_c_and_reassembles(spec: JobSpec) -> None:
    c = reference_c(spec)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    for index, leaf in enumerate(leaves):
        tile = leaf_tile(spec, index)
        assert leaf == np.ascontiguousarray(c[tile.rows, tile.cols], "<i4").tobytes()
    (whole,) = result_arrays(spec, leaves)
    assert np.array_equal(whole, c)


@settings(max_examples=30, deadline=None)
@given(gemm_jobs(), st.data())
def test_recomputing_several_tiles_equals_each_on_its_own(
    spec: JobSpec, data: st.DataObject
) -> None:
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    picks = data.draw(st.lists(st.integers(0, len(leaves) - 1), min_size=1, max_size=6))
    expected = [leaves[i] for i in picks]
    assert recompute_leaves(spec, inputs, picks, {}, device="cpu") == expected
    assert recompute_leaves(spec, {}, picks, {}, device="numpy") == expected  # generated
    assert [recompute_leaf(spec, {}, i, {}, device="cpu") for i in picks] == expected


def test_qmlp_leaves_recomputed_together_equal_each_on_its_own() -> None:
    spec = JobSpec("qmlp_i8", (11, 3, 9, 7, 5, 4), seed=12)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    picks = [11, 0, 4, 3, 11, 8]  # layers 2, 0, 1, 0, 2, 2: rows shared across layers
    assert recompute_leaves(spec, inputs, picks, {}, device="cpu") == [leaves[i] for i in picks]
    assert leaf_tile(spec, 5).layer == 1 and leaf_tile(spec, 5).rows == slice(3, 6)
    assert leaf_tile(spec, 5).cols == slice(0, 5)


def test_sgd_leaves_are_whole_weight_matrices() -> None:
    spec = JobSpec("sgd_fxp", (30, 11, 3, 7, 6, 12, 9), seed=7)
    assert leaf_tile(spec, 4) == leaf_tile(spec, 4).__class__(4, slice(0, 11), slice(0, 3))


def test_a_tile_reads_its_rows_of_a_and_its_columns_of_b() -> None:
    spec = JobSpec("gemm_i8", (64, 100, 48, 8, 16), seed=2)
    reads = leaf_input_ranges(spec, 7)  # row tile 2, column tile 1
    assert reads["a"] == ByteRuns(16 * 100, 8 * 100)
    assert reads["b"] == ByteRuns(16, 16, stride=48, count=100)
    assert sum(r.size for r in reads.values()) == 8 * 100 + 100 * 16
    # A band of whole rows reads B whole, as before tiles.
    band = JobSpec("gemm_i8", (64, 100, 48, 8), seed=2)
    assert leaf_input_ranges(band, 2)["b"] == ByteRuns(0, 100 * 48)


def test_the_old_params_are_bands_of_whole_rows() -> None:
    """[m, k, n, row_block] keeps its meaning: the same leaves as col_block = n."""
    band = JobSpec("gemm_i8", (20, 9, 12, 6), seed=3)
    same = JobSpec("gemm_i8", (20, 9, 12, 6, 12), seed=3)
    inputs = generate_inputs(band.workload, band.params, band.seed)
    assert compute_leaves(band, inputs, device="cpu") == compute_leaves(same, inputs, device="cpu")


def test_leaves_committed_in_another_order_fail_their_audit() -> None:
    """A worker that commits C's right numbers as row bands (or any order but tile-major) has
    every audited tile fail: the leaf at an index must be that index's tile."""
    spec = JobSpec("gemm_i8", (16, 8, 16, 4, 4), seed=5)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    c = reference_c(spec)
    row_major = np.ascontiguousarray(c, "<i4").tobytes()
    wrong = [row_major[i * 64 : (i + 1) * 64] for i in range(16)]  # 16 leaves of 64 bytes
    assert [len(leaf) for leaf in wrong] == list(spec.shape.leaf_sizes)
    recomputed = recompute_leaves(spec, inputs, range(16), {}, device="cpu")
    assert all(leaf != fake for leaf, fake in zip(recomputed, wrong, strict=True))


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ((1025, 8, 1025, 1024, 1024), "more than 3/2 times the mean"),
        ((9, 8, 9, 4, 4), "more than 3/2 times the mean"),  # 9 tiles of up to 16 in 81
        ((65_536, 1, 65_536, 1, 1), "raise row_block or col_block"),
        ((8, 8, 8, 4, 0), "col_block must be an integer from 1 to 8"),
        ((8, 8, 8, 4, 9), "col_block must be an integer from 1 to 8"),
        ((8, 8, 8, 4, 4, 4), "takes params"),
        ((64, 4096, 4096, 64, 4096), "lower row_block"),
    ],
)
def test_layouts_that_defeat_an_audit_are_refused(params: tuple[int, ...], named: str) -> None:
    with pytest.raises(WorkloadError, match=named):
        workload_shape("gemm_i8", params)


@settings(max_examples=60, deadline=None)
@given(gemm_jobs())
def test_no_accepted_tile_holds_much_more_than_its_share_of_the_work(spec: JobSpec) -> None:
    """Faking a share f of an accepted tiled job's leaves saves at most 3/2·f of its work: no
    more than the incentive guard's dependency factor prices."""
    m, _, n = spec.params[:3]
    sizes = spec.shape.leaf_sizes
    if len(spec.params) == 5 and spec.params[4] < n:
        assert max(sizes) * len(sizes) <= MAX_TILE_SKEW * 4 * m * n
        assert MAX_TILE_SKEW <= DEPENDENCY_FACTOR


@settings(max_examples=40, deadline=None)
@given(
    length=st.integers(1, 300),
    gap=st.integers(0, 3000),
    count=st.integers(1, 40),
    start=st.integers(0, 500),
)
def test_generated_runs_are_the_bytes_of_the_whole_input(
    length: int, gap: int, count: int, start: int
) -> None:
    runs = ByteRuns(start, length, length + gap, count)
    params = (1, runs.stop, 1, 1)
    whole = generate_input("gemm_i8", params, "a", 9)
    expected = b"".join(whole[a:b] for a, b in runs.ranges())
    assert generate_input_runs("gemm_i8", params, "a", 9, runs) == expected


@settings(max_examples=60, deadline=None)
@given(
    length=st.integers(0, 3 * CHUNK_BYTES),
    stride=st.integers(1, 3 * CHUNK_BYTES),
    count=st.integers(1, 12),
    start=st.integers(0, 2 * CHUNK_BYTES),
)
def test_chunks_covering_runs_are_those_of_each_run(
    length: int, stride: int, count: int, start: int
) -> None:
    stride = max(stride, length) if count > 1 else stride
    runs = ByteRuns(start, length, stride, count)
    assert covering_chunks([runs]) == covering_chunks(runs.ranges())


def test_tiles_run_side_by_side_only_through_the_single_threaded_kernel() -> None:
    """`recompute_leaves` runs a check's tiles on several threads at once: the audit kernel they
    take must not be a parallel one (Numba's parallel kernels must not be entered from two
    threads at once)."""
    from gpu_worker.kernels import audit_cpu

    assert audit_cpu._gemm_tiles.targetoptions.get("parallel", False) is False
    spec = JobSpec("gemm_i8", (64, 40, 64, 8, 16), seed=4)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    picks = list(range(0, spec.shape.leaves, 3))
    assert recompute_leaves(spec, inputs, picks, {}, device="cpu") == [leaves[i] for i in picks]
