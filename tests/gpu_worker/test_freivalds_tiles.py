"""Freivalds' check on results cut into tiles (row block × column block) and across qmlp_i8's
layers in one pass: a correct result always passes, a wrong entry is caught in its own tile, and
the deviations a cheater could try (errors that cancel along a row or across tiles, errors of
high powers of two, a later layer made consistent with a wrong earlier one) are all named."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker import freivalds, reference
from gpu_worker.freivalds import _check_layers, _Grid, _Layer
from gpu_worker.inputs import I8, I32, QmlpLayer, encode_model, generate_inputs, parse_model
from gpu_worker.jobs import JobSpec, compute_leaves, leaf_tile, leaf_tiles
from gpu_worker.kernels import cpu
from runtime.workloads import WorkloadError


def tiles(matrices: Sequence[I32], row_block: int, col_block: int) -> list[bytes]:
    """Each matrix cut into tiles, band-major, matrices in order: the leaves of a tiled result."""
    leaves: list[bytes] = []
    for matrix in matrices:
        rows, width = matrix.shape
        for r in range(0, rows, row_block):
            for c in range(0, width, col_block):
                tile = matrix[r : r + row_block, c : c + col_block]
                leaves.append(np.ascontiguousarray(tile, dtype="<i4").tobytes())
    return leaves


def grids(matrices: Sequence[I32], row_block: int, col_block: int) -> list[_Grid]:
    out: list[_Grid] = []
    first = 0
    for matrix in matrices:
        rows, width = matrix.shape
        grid = _Grid(first, rows, width, min(row_block, rows), min(col_block, width))
        out.append(grid)
        first += grid.leaves
    return out


def leaf_of(
    matrices: Sequence[I32], row_block: int, col_block: int, at: tuple[int, int, int]
) -> int:
    """The leaf holding entry (row, col) of matrix `layer`."""
    layer, row, col = at
    g = grids(matrices, row_block, col_block)[layer]
    return g.first + (row // g.row_block) * g.col_tiles + col // g.col_block


def qmlp_model(
    rng: np.random.Generator, dims: Sequence[int], mult: int, shift: int
) -> list[QmlpLayer]:
    layers = [
        (
            rng.integers(-128, 128, (d_in, d_out), dtype=np.int8),
            rng.integers(-(2**10), 2**10, d_out).astype(np.int32),
            mult,
            shift,
        )
        for d_in, d_out in itertools.pairwise(dims)
    ]
    return parse_model(dims, encode_model(layers))


def qmlp_result(x: I8, model: Sequence[QmlpLayer]) -> list[I32]:
    return cpu.qmlp(x, list(model))


def check(
    x: I8, layers: Sequence[_Layer], matrices: Sequence[I32], rb: int, cb: int, seed: int
) -> int | None:
    leaves = tiles(matrices, rb, cb)
    return _check_layers(x, layers, grids(matrices, rb, cb), leaves, np.random.default_rng(seed))


def as_layers(model: Sequence[QmlpLayer]) -> list[_Layer]:
    return [_Layer(q.weights, q.bias, q.mult, q.shift) for q in model]


def moved(matrix: I32, row: int, col: int, delta: int) -> I32:
    out = matrix.copy()
    out[row, col] = np.int32((int(out[row, col]) + delta + 2**31) % 2**32 - 2**31)
    return out


deltas = st.integers(-(2**32) + 1, 2**32 - 1).filter(lambda d: d % 2**32 != 0)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 24), st.integers(1, 40), st.integers(1, 24)),
    blocks=st.tuples(st.integers(1, 24), st.integers(1, 24)),
    wrong=st.lists(
        st.tuples(st.integers(0, 23), st.integers(0, 23), deltas), min_size=0, max_size=3
    ),
    seed=st.integers(0, 2**32),
)
def test_a_tiled_gemm_result_names_its_first_wrong_tile(
    shape: tuple[int, int, int],
    blocks: tuple[int, int],
    wrong: list[tuple[int, int, int]],
    seed: int,
) -> None:
    m, k, n = shape
    rb, cb = min(blocks[0], m), min(blocks[1], n)
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    c = reference.gemm(a, b)
    for row, col, delta in wrong:
        c = moved(c, row % m, col % n, delta)
    wrong_leaves = sorted(
        {leaf_of([c], rb, cb, (0, row % m, col % n)) for row, col, _ in wrong}
        if not np.array_equal(c, reference.gemm(a, b))
        else set()
    )
    # Two moves of one entry may cancel: the expected leaf is the first that really differs.
    truth = tiles([reference.gemm(a, b)], rb, cb)
    claimed = tiles([c], rb, cb)
    first = next((i for i in wrong_leaves if truth[i] != claimed[i]), None)
    assert check(a, [_Layer(b, None)], [c], rb, cb, seed) == first


@pytest.mark.parametrize("cb", [1, 3, 7])
def test_errors_that_cancel_along_a_row_or_across_tiles_are_caught(cb: int) -> None:
    """+δ and −δ in one row (within a tile or in two tiles) leave the row's sum unchanged: the
    random weights of R still tell them apart, in every draw."""
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, (9, 30), dtype=np.int8)
    b = rng.integers(-128, 128, (30, 14), dtype=np.int8)
    truth = reference.gemm(a, b)
    for delta in (1, 2**31, 2**30 + 1):
        c = moved(moved(truth, 4, 2, delta), 4, 12, -delta)
        for seed in range(20):
            got = check(a, [_Layer(b, None)], [c], 4, cb, seed)
            assert got == leaf_of([c], 4, cb, (0, 4, 2))


def test_a_power_of_two_error_is_caught_in_every_draw() -> None:
    """An error of 2^31 is even for every even entry of R: exact integer arithmetic (no
    modulus) still sees it, whatever R is."""
    rng = np.random.default_rng(6)
    a = rng.integers(-128, 128, (5, 8), dtype=np.int8)
    b = rng.integers(-128, 128, (8, 6), dtype=np.int8)
    c = moved(reference.gemm(a, b), 3, 5, 2**31)
    for seed in range(30):
        assert check(a, [_Layer(b, None)], [c], 2, 4, seed) == leaf_of([c], 2, 4, (0, 3, 5))


@settings(max_examples=30, deadline=None)
@given(
    dims=st.lists(st.integers(1, 20), min_size=2, max_size=4),
    batch=st.integers(1, 12),
    blocks=st.tuples(st.integers(1, 12), st.integers(1, 20)),
    at=st.tuples(st.integers(0, 2), st.integers(0, 11), st.integers(0, 19)),
    delta=deltas,
    seed=st.integers(0, 2**32),
)
def test_qmlp_layers_checked_in_one_pass_name_the_wrong_tile(
    dims: list[int],
    batch: int,
    blocks: tuple[int, int],
    at: tuple[int, int, int],
    delta: int,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    model = qmlp_model(rng, dims, mult=int(rng.integers(1, 2**16)), shift=int(rng.integers(8, 30)))
    x = rng.integers(-128, 128, (batch, dims[0]), dtype=np.int8)
    result = qmlp_result(x, model)
    rb, cb = blocks
    layers = as_layers(model)
    assert check(x, layers, result, rb, cb, seed) is None
    layer = at[0] % len(result)
    row, col = at[1] % batch, at[2] % result[layer].shape[1]
    result[layer] = moved(result[layer], row, col, delta)
    assert check(x, layers, result, rb, cb, seed) == leaf_of(result, rb, cb, (layer, row, col))


def test_a_later_layer_made_consistent_with_a_wrong_earlier_one_names_the_earlier() -> None:
    """The cheater changes a layer-0 row and recomputes layers 1.. from it: every later layer
    passes against the claimed layer 0, and layer 0's tile is named."""
    rng = np.random.default_rng(8)
    model = qmlp_model(rng, [16, 12, 12, 4], mult=2**12, shift=20)
    x = rng.integers(-128, 128, (10, 16), dtype=np.int8)
    honest = qmlp_result(x, model)
    wrong0 = moved(honest[0], 7, 5, 2**20)
    h1 = cpu.requantize(wrong0, model[0])
    wrong1 = cpu.qmlp_layer(h1, model[1])
    wrong2 = cpu.qmlp_layer(cpu.requantize(wrong1, model[1]), model[2])
    claimed = [wrong0, wrong1, wrong2]
    assert not np.array_equal(wrong1, honest[1])
    got = check(x, as_layers(model), claimed, 3, 5, 1)
    assert got == leaf_of(claimed, 3, 5, (0, 7, 5))


@pytest.mark.parametrize(
    ("mult", "shift"), [(2**31 - 1, 62), (-(2**31), 62), (2**31 - 1, 1), (-(2**31), 1), (0, 5)]
)
def test_the_fused_requantization_equals_the_kernels_at_the_extremes(mult: int, shift: int) -> None:
    """The row pass requantizes the claimed layer itself: at every multiplier and shift the
    workload allows, a correct result still passes (a difference would flag the next layer)."""
    rng = np.random.default_rng(11)
    model = qmlp_model(rng, [20, 16, 9], mult=mult, shift=shift)
    x = rng.integers(-128, 128, (7, 20), dtype=np.int8)
    result = qmlp_result(x, model)
    for seed in range(3):
        assert check(x, as_layers(model), result, 2, 5, seed) is None


def test_a_qmlp_job_checked_whole_passes_and_names_a_wrong_leaf() -> None:
    spec = JobSpec("qmlp_i8", (13, 4, 11, 9, 9, 5), seed=12)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="cpu")
    assert freivalds.check_result(spec, inputs, leaves) is None
    values = np.frombuffer(leaves[5], "<i4").copy()
    values[0] ^= 1 << 30
    leaves[5] = values.tobytes()
    assert freivalds.check_result(spec, inputs, leaves) == 5


def test_leaves_given_as_views_into_one_buffer_are_read_in_place() -> None:
    """A worker's leaves may be memoryviews into its result array: read where they lie."""
    spec = JobSpec("gemm_i8", (12, 10, 7, 5), seed=13)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="cpu")
    whole = bytearray(b"".join(leaves))
    views = [memoryview(whole)[i * 5 * 7 * 4 : min((i + 1) * 5, 12) * 7 * 4] for i in range(3)]
    assert freivalds.check_result(spec, inputs, views) is None
    whole[4 * 7 * 6 + 8] ^= 1
    assert freivalds.check_result(spec, inputs, views) == 1


def test_sgd_checks_a_share_of_the_steps_at_least_the_minimum() -> None:
    assert freivalds.sgd_spot_checks(3) == 3
    assert freivalds.sgd_spot_checks(100) == freivalds.SGD_SPOT_CHECKS
    assert freivalds.sgd_spot_checks(2000) == 40
    assert freivalds.sgd_spot_checks(10**6) == 20_000


def test_every_sgd_step_is_checked_when_the_job_is_short() -> None:
    spec = JobSpec("sgd_fxp", (20, 6, 2, 5, 6, 10, 8), seed=14)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    honest = compute_leaves(spec, inputs, device="cpu")
    for t in range(6):
        leaves = list(honest)
        values = np.frombuffer(leaves[t], "<i4").copy()
        values[1] += 1
        leaves[t] = values.tobytes()
        assert freivalds.check_result(spec, inputs, leaves) == t


@settings(max_examples=60, deadline=None)
@given(
    workload=st.sampled_from(["gemm_i8", "qmlp_i8"]),
    rows=st.integers(1, 40),
    widths=st.lists(st.integers(1, 40), min_size=2, max_size=4),
    blocks=st.tuples(st.integers(1, 40), st.integers(1, 40)),
)
def test_the_grids_read_off_the_first_tiles_equal_every_leaf_tile(
    workload: str, rows: int, widths: list[int], blocks: tuple[int, int]
) -> None:
    """The row pass finds each leaf by the grid formula: it must agree with `leaf_tile` on
    every leaf of every layout the runtime accepts."""
    rb = min(blocks[0], rows)
    if workload == "gemm_i8":
        cb = min(blocks[1], widths[1])
        spec = JobSpec(workload, (rows, widths[0], widths[1], rb, cb), seed=1)
    else:
        spec = JobSpec(workload, (rows, rb, *widths), seed=1)
    try:
        tiles = leaf_tiles(spec)
    except WorkloadError:
        return
    layer_grids = freivalds._grids(spec, len(tiles))
    formula = [
        g.tile(layer, g.first + i) for layer, g in enumerate(layer_grids) for i in range(g.leaves)
    ]
    assert formula == tiles


@pytest.mark.parametrize("params", [(37, 19, 29, 8, 7), (37, 19, 29, 5, 29), (16, 9, 40, 16, 3)])
def test_a_tiled_gemm_job_checked_whole_names_the_wrong_tile(params: tuple[int, ...]) -> None:
    spec = JobSpec("gemm_i8", params, seed=15)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="cpu")
    assert freivalds.check_result(spec, inputs, leaves) is None
    for index in (0, len(leaves) // 2, len(leaves) - 1):
        wrong = list(leaves)
        values = np.frombuffer(wrong[index], "<i4").copy()
        values[-1] += 3
        wrong[index] = values.tobytes()
        assert freivalds.check_result(spec, inputs, wrong) == index
        tile = leaf_tile(spec, index)
        assert tile.rows.stop - tile.rows.start == len(values) // (tile.cols.stop - tile.cols.start)


@pytest.mark.parametrize("security_bits", [41, 60, 80, 100])
def test_a_correct_result_passes_whatever_number_of_rounds_the_security_asks(
    security_bits: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernels take rounds in pairs; asking for security that needs an odd number of rounds
    (3 at 60 bits, 5 at 100 for these sizes) must still pass a correct product and flag a wrong
    row, as at the default (a third round summed twice flagged every correct row before)."""
    monkeypatch.setattr(freivalds, "SECURITY_BITS", security_bits)
    rng = np.random.default_rng(security_bits)
    a = rng.integers(-128, 128, size=(6, 9), dtype=np.int8)
    b = rng.integers(-128, 128, size=(9, 7), dtype=np.int8)
    c = (a.astype(np.int64) @ b.astype(np.int64)).astype(np.int32)
    assert freivalds.bad_rows(a, b, c, rng).tolist() == []
    c[4, 2] += 1
    assert freivalds.bad_rows(a, b, c, rng).tolist() == [4]
