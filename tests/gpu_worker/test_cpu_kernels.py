"""The Numba CPU kernels give the NumPy reference's bits: any shape, any values, the extremes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker import reference
from gpu_worker.inputs import BIAS_LIMIT, I8, I16, I32, QmlpLayer, parse_model
from gpu_worker.inputs import generate_input as generated
from gpu_worker.kernels import cpu
from runtime.workloads import MAX_K
from tests.gpu_worker.job_arrays import as_job_input

FILLS = ("random", "min", "max", "extremes")


def int8_matrix(rng: np.random.Generator, rows: int, cols: int, fill: str) -> I8:
    """Random int8, all −128, all 127, or a random mix of the two extremes."""
    if fill == "min":
        return np.full((rows, cols), -128, np.int8)
    if fill == "max":
        return np.full((rows, cols), 127, np.int8)
    if fill == "extremes":
        return rng.choice(np.array([-128, 127], np.int8), size=(rows, cols))
    return rng.integers(-128, 128, (rows, cols), dtype=np.int8)


def random_layer(rng: np.random.Generator, d_in: int, d_out: int, fill: str) -> QmlpLayer:
    bias = rng.integers(-BIAS_LIMIT, BIAS_LIMIT + 1, d_out).astype(np.int32)
    mult = int(rng.integers(-(2**31), 2**31))
    return QmlpLayer(int8_matrix(rng, d_in, d_out, fill), bias, mult, int(rng.integers(1, 63)))


# gemm_i8

dims = st.integers(1, 70)


@settings(max_examples=60, deadline=None)
@given(m=dims, k=dims, n=dims, fill=st.sampled_from(FILLS), seed=st.integers(0, 2**32))
def test_gemm_matches_the_reference(m: int, k: int, n: int, fill: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = int8_matrix(rng, m, k, fill), int8_matrix(rng, k, n, fill)
    np.testing.assert_array_equal(cpu.gemm(a, b), reference.gemm(a, b))


@pytest.mark.parametrize("m,n", [(1, 1), (1, 2), (2, 1), (2, 2)])
@pytest.mark.parametrize("a_value,b_value", [(-128, -128), (-128, 127), (127, 127)])
def test_gemm_is_exact_at_the_largest_k(m: int, n: int, a_value: int, b_value: int) -> None:
    a = np.full((m, MAX_K), a_value, np.int8)
    b = np.full((MAX_K, n), b_value, np.int8)
    expected = MAX_K * a_value * b_value
    assert abs(expected) < 2**31
    np.testing.assert_array_equal(cpu.gemm(a, b), np.full((m, n), expected, np.int32))
    np.testing.assert_array_equal(cpu.gemm(a, b), reference.gemm(a, b))


def test_gemm_over_several_k_slices_and_tiles() -> None:
    rng = np.random.default_rng(5)
    a = int8_matrix(rng, 35, 2 * cpu.K_SLICE + 37, "extremes")
    b = int8_matrix(rng, a.shape[1], 2 * cpu.TILE_COLS + 3, "random")
    np.testing.assert_array_equal(cpu.gemm(a, b), reference.gemm(a, b))


def test_gemm_takes_read_only_and_strided_inputs() -> None:
    rng = np.random.default_rng(6)
    raw = int8_matrix(rng, 40, 30, "random")
    a = np.frombuffer(raw.tobytes(), np.int8).reshape(40, 30)[::2]
    b = raw[:30, ::3]
    assert not a.flags.writeable and not b.flags.c_contiguous
    np.testing.assert_array_equal(cpu.gemm(a, b), reference.gemm(a, b))


def test_gemm_with_views_of_one_input_buffer() -> None:
    """Transposed inputs are kept per view of an immutable buffer: every view gets its own."""
    rng = np.random.default_rng(11)
    data = rng.integers(-128, 128, 4000, dtype=np.int8).tobytes()
    a = int8_matrix(rng, 7, 30, "random")
    views = [
        np.frombuffer(data, np.int8, 30 * 40).reshape(30, 40),
        np.frombuffer(data, np.int8, 30 * 40, offset=1).reshape(30, 40),
        np.frombuffer(data, np.int8, 30 * 20).reshape(30, 20),
        np.frombuffer(data, np.int8, 30 * 40).reshape(30, 40),
    ]
    for b in views:
        np.testing.assert_array_equal(cpu.gemm(a, b), reference.gemm(a, b))
    other = bytes(reversed(data))
    b = np.frombuffer(other, np.int8, 30 * 40).reshape(30, 40)
    np.testing.assert_array_equal(cpu.gemm(a, b), reference.gemm(a, b))


def test_kept_transposes_stay_within_their_budget() -> None:
    rng = np.random.default_rng(12)
    side = 2048
    a = int8_matrix(rng, cpu.FEW_ROWS + 1, side, "random")  # the tiled kernel's, which transposes
    for _ in range(20):
        b = np.frombuffer(rng.bytes(side * side), np.int8).reshape(side, side)
        np.testing.assert_array_equal(cpu.gemm(a, b)[:, :5], reference.gemm(a, b[:, :5]))
    kept = sum(len(owner) + bt.nbytes for owner, bt in cpu._kept.values())
    assert 0 < kept <= cpu.TRANSPOSED_BYTES


@pytest.mark.parametrize("rows", [1, 2, cpu.FEW_ROWS - 1, cpu.FEW_ROWS, cpu.FEW_ROWS + 1])
def test_a_product_of_few_rows_equals_the_reference_at_the_extremes(rows: int) -> None:
    """The few-rows kernel (a verifier's leaf) wraps modulo 2^32 as the tiled one does."""
    rng = np.random.default_rng(rows)
    k = 131_071
    a = np.full((rows, k), -128, np.int8)
    b = np.full((k, 3), -128, np.int8)
    np.testing.assert_array_equal(cpu.gemm(a, b), reference.gemm(a, b))
    a, b = int8_matrix(rng, rows, 300, "random"), int8_matrix(rng, 300, 77, "random")
    np.testing.assert_array_equal(cpu.gemm(a, b), reference.gemm(a, b))


def test_gemm_of_empty_matrices() -> None:
    np.testing.assert_array_equal(
        cpu.gemm(np.zeros((0, 3), np.int8), np.zeros((3, 4), np.int8)), np.zeros((0, 4))
    )
    np.testing.assert_array_equal(
        cpu.gemm(np.zeros((2, 0), np.int8), np.zeros((0, 4), np.int8)), np.zeros((2, 4))
    )


def test_gemm_refuses_what_it_cannot_multiply() -> None:
    with pytest.raises(ValueError, match="cannot multiply"):
        cpu.gemm(np.zeros((2, 3), np.int8), np.zeros((4, 2), np.int8))
    with pytest.raises(ValueError, match="must be int8"):
        cpu.gemm(np.zeros((2, 3), np.int16), np.zeros((3, 2), np.int8))
    with pytest.raises(ValueError, match="must be a matrix"):
        cpu.gemm(np.zeros(3, np.int8), np.zeros((3, 2), np.int8))


# qmlp_i8


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 40),
    d_in=dims,
    d_out=dims,
    fill=st.sampled_from(FILLS),
    seed=st.integers(0, 2**32),
)
def test_qmlp_layer_and_requantize_match_the_reference(
    rows: int, d_in: int, d_out: int, fill: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    layer = random_layer(rng, d_in, d_out, fill)
    h = int8_matrix(rng, rows, d_in, fill)
    acc = cpu.qmlp_layer(h, layer)
    np.testing.assert_array_equal(acc, reference.qmlp_layer(h, layer))
    np.testing.assert_array_equal(cpu.requantize(acc, layer), reference.requantize(acc, layer))


def test_qmlp_layer_takes_int32_activations() -> None:
    rng = np.random.default_rng(7)
    layer = random_layer(rng, 9, 5, "random")
    h: I32 = rng.integers(-(2**31), 2**31, (4, 9)).astype(np.int32)
    np.testing.assert_array_equal(cpu.qmlp_layer(h, layer), reference.qmlp_layer(h, layer))


@settings(max_examples=60, deadline=None)
@given(
    mult=st.integers(-(2**31), 2**31 - 1),
    shift=st.integers(1, 62),
    seed=st.integers(0, 2**32),
)
def test_requantize_over_the_whole_int32_range(mult: int, shift: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    acc = rng.integers(-(2**31), 2**31, (5, 7)).astype(np.int32)
    acc[0, :4] = [-(2**31), 2**31 - 1, 0, -1]
    layer = QmlpLayer(np.zeros((1, 7), np.int8), np.zeros(7, np.int32), mult, shift)
    np.testing.assert_array_equal(cpu.requantize(acc, layer), reference.requantize(acc, layer))


def test_requantize_refuses_a_shift_out_of_range() -> None:
    layer = QmlpLayer(np.zeros((1, 1), np.int8), np.zeros(1, np.int32), 1, 0)
    with pytest.raises(ValueError, match="shift"):
        cpu.requantize(np.zeros((1, 1), np.int32), layer)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 30),
    widths=st.lists(st.integers(1, 40), min_size=2, max_size=5),
    fill=st.sampled_from(FILLS),
    seed=st.integers(0, 2**32),
)
def test_qmlp_matches_the_reference(batch: int, widths: list[int], fill: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    layers = [random_layer(rng, a, b, fill) for a, b in itertools.pairwise(widths)]
    x = int8_matrix(rng, batch, widths[0], fill)
    got = cpu.qmlp(x, layers)
    expected = reference.qmlp(x, layers)
    assert len(got) == len(expected)
    for acc, want in zip(got, expected, strict=True):
        np.testing.assert_array_equal(acc, want)


def test_qmlp_on_a_generated_model() -> None:
    dims = [96, 80, 33, 10]
    params = [64, 16, *dims]
    layers = parse_model(dims, generated("qmlp_i8", params, "model", 3))
    x = np.frombuffer(generated("qmlp_i8", params, "x", 3), np.int8).reshape(64, 96)
    for acc, want in zip(cpu.qmlp(x, layers), reference.qmlp(x, layers), strict=True):
        np.testing.assert_array_equal(acc, want)


# sgd_fxp


@st.composite
def sgd_cases(draw: st.DrawFn) -> tuple[I8, I16, np.ndarray, int, int, I32 | None]:
    samples = draw(st.integers(1, 24))
    features = draw(st.integers(1, 20))
    outputs = draw(st.integers(1, 4))
    batch = draw(st.integers(1, samples))
    steps = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32))
    fill = draw(st.sampled_from(FILLS))
    rng = np.random.default_rng(seed)
    x = int8_matrix(rng, samples, features, fill)
    y = rng.integers(-(2**15), 2**15, (samples, outputs)).astype(np.int16)
    order = rng.integers(0, samples, (steps, batch))
    start = None
    if draw(st.booleans()):
        start = rng.integers(-(2**31), 2**31, (features, outputs)).astype(np.int32)
    return x, y, order, draw(st.integers(0, 24)), draw(st.integers(1, 48)), start


@settings(max_examples=60, deadline=None)
@given(case=sgd_cases())
def test_sgd_matches_the_reference(
    case: tuple[I8, I16, np.ndarray, int, int, I32 | None],
) -> None:
    x, y, order, frac_bits, lr_shift, start = case
    got = cpu.sgd(x, y, order, frac_bits, lr_shift, start=start)
    expected = reference.sgd(x, y, order, frac_bits, lr_shift, start=start)
    assert len(got) == len(expected) == order.shape[0]
    for w, want in zip(got, expected, strict=True):
        np.testing.assert_array_equal(w, want)


def test_sgd_saturates_like_the_reference() -> None:
    """Errors and weights clamp to int32: large targets, a large step, extreme inputs."""
    rng = np.random.default_rng(8)
    x = int8_matrix(rng, 40, 300, "extremes")
    y = np.full((40, 3), 2**15 - 1, np.int16)
    y[::2] = -(2**15)
    order = rng.integers(0, 40, (4, 40))
    got = cpu.sgd(x, y, order, 24, 1)
    expected = reference.sgd(x, y, order, 24, 1)
    assert np.isin(expected[-1], [-(2**31), 2**31 - 1]).any()
    for w, want in zip(got, expected, strict=True):
        np.testing.assert_array_equal(w, want)


def test_sgd_refuses_sample_indices_out_of_range() -> None:
    x = np.zeros((3, 2), np.int8)
    y = np.zeros((3, 1), np.int16)
    with pytest.raises(ValueError, match="outside"):
        cpu.sgd(x, y, np.array([[0, 3]]), 8, 8)
    with pytest.raises(ValueError, match="outside"):
        cpu.sgd(x, y, np.array([[-1, 0]]), 8, 8)


# One compilation each


def test_each_kernel_is_compiled_once_for_writable_and_read_only_inputs() -> None:
    """A job's inputs arrive read-only (read from bytes), a caller's own arrays writable, and
    Numba compiles a kernel once for each array type it is handed: the wrappers hand every
    kernel one type, so no kernel is compiled twice (seconds each on a fresh checkout)."""
    rng = np.random.default_rng(12)
    a = int8_matrix(rng, cpu.FEW_ROWS + 9, 40, "random")
    layers = [random_layer(rng, 40, 24, "random"), random_layer(rng, 24, 7, "random")]
    x = int8_matrix(rng, 12, 9, "random")
    y = rng.integers(-(2**15), 2**15, (12, 2)).astype(np.int16)
    order = rng.integers(0, 12, (3, 5))
    start = rng.integers(-(2**20), 2**20, (9, 2)).astype(np.int32)
    for arrive in (np.array, as_job_input):
        model = [QmlpLayer(arrive(q.weights), arrive(q.bias), q.mult, q.shift) for q in layers]
        for rows in (a, a[: cpu.FEW_ROWS]):
            cpu.gemm(arrive(rows), arrive(layers[0].weights))
            cpu.qmlp(arrive(rows), model)
        cpu.sgd(arrive(x), arrive(y), arrive(order), 8, 4, start=arrive(start))
    kernels = (
        cpu._gemm_bias,
        cpu._gemm_bias_few_rows,
        cpu._transpose_i8,
        cpu._requantize,
        cpu._requantize_few_rows,
        cpu._sgd,
    )
    for kernel in kernels:
        assert len(kernel.signatures) == 1, (kernel, kernel.signatures)
