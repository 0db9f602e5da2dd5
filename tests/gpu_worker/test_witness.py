"""The recomputation witness: every device gives the reference's bytes and the plain leaf, the
witness follows the mask and every operand, and it cannot be read off the published leaf.

The CUDA kernels are checked on a GPU when there is one, and always in Numba's CUDA simulator, in
a subprocess (the simulator must be switched on before numba is imported), as
`test_cuda_simulator.py` does for the plain kernels.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gpu_worker.devices import cuda_available
from gpu_worker.inputs import I8, InputError, batch_order_rows, encode_model, generate_inputs
from gpu_worker.jobs import JobSpec, compute_leaves, leaf_dependencies, leaf_tile, recompute_leaf
from gpu_worker.kernels import witness_cpu, witness_numpy
from gpu_worker.witness import (
    MASK_LIMIT,
    WITNESS_TAG,
    leaf_witness_arrays,
    recompute_leaf_witness,
    witness_bytes,
    witness_digest,
)
from runtime.primitives.hashing import blake2b_256
from runtime.workloads import WorkloadError
from tests.gpu_worker.job_arrays import as_job_input

ROOT = Path(__file__).resolve().parents[2]
masks = st.integers(0, MASK_LIMIT - 1)
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


def agree(spec: JobSpec, index: int, mask: int, devices: tuple[str, ...] = ("cpu",)) -> None:
    """Leaf `index` and its witness are the same on numpy and `devices`, and the leaf is the
    worker's and `recompute_leaf`'s."""
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    deps = {d: leaves[d] for d in leaf_dependencies(spec, index)}
    expected = recompute_leaf_witness(spec, inputs, index, deps, mask, device="numpy")
    assert expected[0] == leaves[index] == recompute_leaf(spec, {}, index, deps, device="numpy")
    assert len(expected[1]) == 32
    for device in devices:
        assert recompute_leaf_witness(spec, {}, index, deps, mask, device=device) == expected


# Every device gives the reference's bytes


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(1, 20),
    k=st.integers(1, 90),
    n=st.integers(1, 20),
    data=st.data(),
    mask=masks,
    seed=st.integers(0, 2**32),
)
def test_gemm_witness_is_the_same_on_every_device(
    m: int, k: int, n: int, data: st.DataObject, mask: int, seed: int
) -> None:
    row_block = data.draw(st.integers(1, m))
    col_block = data.draw(st.none() | st.integers(1, n))
    tiles = () if col_block is None else (col_block,)
    try:
        spec = JobSpec("gemm_i8", (m, k, n, row_block, *tiles), seed)
        spec.shape  # noqa: B018 - a layout the runtime refuses is drawn again
    except WorkloadError:
        return
    index = data.draw(st.integers(0, spec.shape.leaves - 1))
    agree(spec, index, mask)
    # The witness covers the tile's own terms: one int64 per element of the tile.
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    _, arrays = leaf_witness_arrays(spec, inputs, index, {}, mask, device="numpy")
    assert [w.shape for w in arrays] == [leaf_tile(spec, index).shape]


@settings(max_examples=20, deadline=None)
@given(
    batch=st.integers(1, 12),
    dims=st.lists(st.integers(1, 24), min_size=2, max_size=5),
    data=st.data(),
    mask=masks,
    seed=st.integers(0, 2**32),
)
def test_qmlp_witness_is_the_same_on_every_device(
    batch: int, dims: list[int], data: st.DataObject, mask: int, seed: int
) -> None:
    spec = JobSpec("qmlp_i8", (batch, data.draw(st.integers(1, batch)), *dims), seed)
    try:
        leaves = spec.shape.leaves
    except WorkloadError:
        assume(False)  # a model the runtime refuses (its work in its last layers)
    agree(spec, data.draw(st.integers(0, leaves - 1)), mask)


@settings(max_examples=20, deadline=None)
@given(
    samples=st.integers(1, 30),
    features=st.integers(1, 20),
    outputs=st.integers(1, 5),
    steps=st.integers(1, 4),
    frac_bits=st.integers(1, 24),
    lr_shift=st.integers(1, 48),
    data=st.data(),
    mask=masks,
    seed=st.integers(0, 2**32),
)
def test_sgd_witness_is_the_same_on_every_device(
    samples: int,
    features: int,
    outputs: int,
    steps: int,
    frac_bits: int,
    lr_shift: int,
    data: st.DataObject,
    mask: int,
    seed: int,
) -> None:
    batch = data.draw(st.integers(1, samples))
    spec = JobSpec("sgd_fxp", (samples, features, outputs, batch, steps, frac_bits, lr_shift), seed)
    agree(spec, data.draw(st.integers(0, steps - 1)), mask)


def test_auto_is_a_device_and_gives_the_same_bytes() -> None:
    agree(JobSpec("gemm_i8", (9, 40, 7, 3), 5), 2, 0x9E3779B9, devices=("cpu", "auto"))


@settings(max_examples=30, deadline=None)
@given(
    m=st.integers(1, 12),
    k=st.integers(1, 70),
    n=st.integers(1, 40),
    fill=st.sampled_from(FILLS),
    mask=masks,
    seed=st.integers(0, 2**32),
)
def test_product_witness_of_extreme_values(
    m: int, k: int, n: int, fill: str, mask: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    h, w = as_job_input(int8_matrix(rng, m, k, fill)), as_job_input(int8_matrix(rng, k, n, fill))
    bias = rng.integers(-(2**30), 2**30, n).astype(np.int32)
    c, wit = witness_cpu.product_witness(h, w, bias, mask)
    c_ref, wit_ref = witness_numpy.product_witness(h, w, bias, mask)
    np.testing.assert_array_equal(c, c_ref)
    np.testing.assert_array_equal(wit, wit_ref)


@pytest.mark.parametrize("mask", [0, 1, 0x7FFF, 0x8000, 0xFFFFFFFF, 0x9E3779B9])
def test_every_int8_product_xored_with_the_mask(mask: int) -> None:
    """With K = 1 each witness element is one term: all 65,536 int8 pairs, checked by the rule."""
    values = np.arange(-128, 128, dtype=np.int64)
    h = as_job_input(values.astype(np.int8).reshape(256, 1))
    w = as_job_input(values.astype(np.int8).reshape(1, 256))
    _, wit = witness_cpu.product_witness(h, w, np.zeros(256, np.int32), mask)
    np.testing.assert_array_equal(wit, (values[:, None] * values[None, :]) ^ mask)


@pytest.mark.parametrize("rows", [1, 9])
def test_sums_longer_than_a_span_of_the_cpu_kernel(rows: int) -> None:
    """K beyond two SPANs of the kernel's int32 sums, with the largest low bits every term."""
    k = 2 * witness_cpu.SPAN + 5
    h = np.full((rows, k), -128, np.int8)
    w = np.full((k, 2), -128, np.int8)
    w[::3, 1] = 127
    h, w, mask = as_job_input(h), as_job_input(w), 0x7FFF
    c, wit = witness_cpu.product_witness(h, w, np.zeros(2, np.int32), mask)
    c_ref, wit_ref = witness_numpy.product_witness(h, w, np.zeros(2, np.int32), mask)
    np.testing.assert_array_equal(c, c_ref)
    np.testing.assert_array_equal(wit, wit_ref)


@pytest.mark.parametrize("fill", FILLS)
def test_sgd_step_witness_of_extreme_values(fill: str) -> None:
    """Saturated errors and weights at the int32 limits, on the reference and the CPU."""
    rng = np.random.default_rng(len(fill))
    x = as_job_input(int8_matrix(rng, 12, 9, fill))
    y = rng.choice(np.array([-(2**15), 2**15 - 1], np.int16), size=(12, 3))
    w = rng.choice(np.array([-(2**31), 2**31 - 1, 0], np.int32), size=(9, 3))
    rows = rng.integers(0, 12, 7)
    got = witness_cpu.sgd_step_witness(x, y, rows, w, 24, 1, 0xA5A5A5A5)
    expected = witness_numpy.sgd_step_witness(x, y, rows, w, 24, 1, 0xA5A5A5A5)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


# What the witness depends on


@settings(max_examples=30, deadline=None)
@given(k=st.integers(0, 20).map(lambda h: 2 * h + 1), first=masks, second=masks)
def test_a_different_mask_gives_a_different_witness(k: int, first: int, second: int) -> None:
    """With K odd, two masks differing first in bit b change each output's sum by an odd multiple
    of 2^b: never equal."""
    if first == second:
        second ^= 1
    spec = JobSpec("gemm_i8", (4, k, 3, 2), 17)
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    digests = {recompute_leaf_witness(spec, inputs, 1, {}, mask)[1] for mask in (first, second)}
    assert len(digests) == 2


@pytest.mark.parametrize(
    "spec, index",
    [
        (JobSpec("qmlp_i8", (6, 3, 8, 5, 4), 3), 3),
        (JobSpec("sgd_fxp", (20, 6, 2, 5, 3, 8, 6), 4), 2),
    ],
)
def test_a_different_mask_gives_a_different_witness_on_every_workload(
    spec: JobSpec, index: int
) -> None:
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="cpu")
    deps = {d: leaves[d] for d in leaf_dependencies(spec, index)}
    results = [recompute_leaf_witness(spec, inputs, index, deps, m) for m in (1, 2, 0xFFFFFFFF)]
    assert len({leaf for leaf, _ in results}) == 1
    assert len({digest for _, digest in results}) == 3


@settings(max_examples=40, deadline=None)
@given(data=st.data(), mask=masks, seed=st.integers(0, 2**32))
def test_any_byte_a_gemm_leaf_multiplies_changes_its_witness(
    data: st.DataObject, mask: int, seed: int
) -> None:
    """With no zero operand, any byte of the leaf's rows of A or of B is in a term whose value it
    changes, so the witness changes, the leaf or not."""
    spec = JobSpec("gemm_i8", (6, 5, 4, 2), seed)
    rng = np.random.default_rng(seed)
    inputs = {
        name: bytes(rng.choice(np.r_[-128:0, 1:128], size).astype(np.int8).tobytes())
        for name, size in (("a", 30), ("b", 20))
    }
    index = data.draw(st.integers(0, 2))
    name, position = data.draw(
        st.sampled_from(["a", "b"]).flatmap(
            lambda name: st.tuples(
                st.just(name),
                st.integers(10 * index, 10 * index + 9) if name == "a" else st.integers(0, 19),
            )
        )
    )
    changed = bytearray(inputs[name])
    changed[position] = (changed[position] + data.draw(st.integers(1, 255))) % 256
    before = recompute_leaf_witness(spec, inputs, index, {}, mask)[1]
    after = recompute_leaf_witness(spec, {**inputs, name: bytes(changed)}, index, {}, mask)[1]
    assert before != after


def test_any_x_byte_of_a_qmlp_or_sgd_leaf_changes_its_witness() -> None:
    """Every byte of a qmlp_i8 leaf's rows of x, and of the rows of x an sgd_fxp step's batch
    reads, changes the leaf's witness."""
    qmlp = JobSpec("qmlp_i8", (4, 2, 6, 5, 3), 8)
    sgd = JobSpec("sgd_fxp", (10, 5, 2, 4, 2, 6, 5), 9)
    order = np.unique(np.asarray(_order_row(sgd, 1)))
    for spec, index, positions in (
        (qmlp, 3, range(12, 24)),  # layer 1, rows 2..3 of x (6 bytes each)
        (sgd, 1, [int(r) * 5 + f for r in order for f in range(5)]),
    ):
        inputs = generate_inputs(spec.workload, spec.params, spec.seed)
        leaves = compute_leaves(spec, inputs, device="cpu")
        deps = {d: leaves[d] for d in leaf_dependencies(spec, index)}
        before = recompute_leaf_witness(spec, inputs, index, deps, 0x5EED)[1]
        for position in positions:
            x = bytearray(inputs["x"])
            x[position] = 0 if x[position] != 0 else 1
            after = recompute_leaf_witness(spec, {**inputs, "x": bytes(x)}, index, deps, 0x5EED)
            assert after[1] != before, (spec.workload, position)


def _order_row(spec: JobSpec, step: int) -> np.ndarray:
    samples, _, _, batch, steps, _, _ = spec.params
    return batch_order_rows(spec.seed, samples, batch, steps, step, step + 1)[0]


def test_the_witness_is_not_read_off_the_published_leaf() -> None:
    """A·T and T⁻¹·B (T unimodular) give the same C, so the same leaf, from different terms: the
    witnesses differ for every mask tried, so no function of the leaf gives the witness. Mask 0
    alone makes it the plain sum of the terms (which the chain therefore never draws)."""
    rng = np.random.default_rng(2)
    a = rng.integers(-60, 61, (4, 32), dtype=np.int8)
    b = rng.integers(-60, 61, (32, 8), dtype=np.int8)
    # T adds column 2p of A to column 2p+1; T⁻¹ subtracts row 2p+1 of B from row 2p.
    a2, b2 = a.copy(), b.copy()
    a2[:, 1::2] = a[:, 0::2] + a[:, 1::2]
    b2[0::2] = b[0::2] - b[1::2]
    spec = JobSpec("gemm_i8", (4, 32, 8, 4), 0)
    one = {"a": a.tobytes(), "b": b.tobytes()}
    other = {"a": a2.tobytes(), "b": b2.tobytes()}
    assert recompute_leaf(spec, one, 0, {}) == recompute_leaf(spec, other, 0, {})
    for mask in [1, 2, 0x7FFF, 0x8000, 0xFFFFFFFF, *rng.integers(1, MASK_LIMIT, 10).tolist()]:
        first, second = (recompute_leaf_witness(spec, x, 0, {}, mask) for x in (one, other))
        assert first[0] == second[0]
        assert first[1] != second[1], hex(mask)
    leaf, (wit,) = leaf_witness_arrays(spec, one, 0, {}, 0)
    np.testing.assert_array_equal(wit, np.frombuffer(leaf, "<i4").reshape(4, 8))


# The digest and its arguments


@pytest.mark.parametrize(
    "spec, index, shapes",
    [
        (JobSpec("gemm_i8", (5, 7, 3, 2), 1), 2, [(1, 3)]),
        (JobSpec("qmlp_i8", (5, 2, 7, 4, 6, 3), 2), 8, [(1, 4), (1, 6), (1, 3)]),
        (JobSpec("sgd_fxp", (9, 4, 3, 6, 2, 8, 6), 3), 1, [(6, 3), (4, 3)]),
    ],
)
def test_the_digest_hashes_the_witness_bytes_in_order(
    spec: JobSpec, index: int, shapes: list[tuple[int, int]]
) -> None:
    inputs = generate_inputs(spec.workload, spec.params, spec.seed)
    leaves = compute_leaves(spec, inputs, device="numpy")
    deps = {d: leaves[d] for d in leaf_dependencies(spec, index)}
    leaf, arrays = leaf_witness_arrays(spec, inputs, index, deps, 77, device="numpy")
    assert [w.shape for w in arrays] == shapes
    assert all(w.dtype == np.int64 for w in arrays)
    data = witness_bytes(arrays)
    assert len(data) == 8 * sum(r * c for r, c in shapes)
    digest = blake2b_256(WITNESS_TAG + data)
    assert witness_digest(arrays) == digest
    assert recompute_leaf_witness(spec, inputs, index, deps, 77, device="cpu") == (leaf, digest)


@pytest.mark.parametrize("mask", [-1, MASK_LIMIT, 2**63, True, 1.0, "1"])
def test_a_mask_out_of_range_is_refused(mask: Any) -> None:
    spec = JobSpec("gemm_i8", (2, 3, 2, 1), 0)
    with pytest.raises(InputError, match="mask"):
        recompute_leaf_witness(spec, {}, 0, {}, mask)


def test_a_missing_dependency_is_named() -> None:
    spec = JobSpec("sgd_fxp", (8, 3, 2, 4, 3, 8, 6), 0)
    with pytest.raises(InputError, match=r"needs leaves \[1\]"):
        recompute_leaf_witness(spec, {}, 2, {}, 5)


def test_qmlp_witness_covers_every_layer_up_to_the_leaf() -> None:
    """A qmlp_i8 model whose layer-1 weights differ only gives the same layer-0 leaf and witness,
    and a different witness for a layer-1 leaf."""
    rng = np.random.default_rng(4)
    w0 = rng.integers(-128, 128, (5, 4), dtype=np.int8)
    w1 = rng.integers(-128, 128, (4, 3), dtype=np.int8)
    bias0, bias1 = np.zeros(4, np.int32), np.zeros(3, np.int32)
    spec = JobSpec("qmlp_i8", (2, 2, 5, 4, 3), 0)
    x = rng.integers(1, 128, (2, 5), dtype=np.int8).tobytes()
    models = [encode_model([(w0, bias0, 1, 1), (w, bias1, 1, 1)]) for w in (w1, (w1 ^ np.int8(1)))]
    layer0 = [recompute_leaf_witness(spec, {"x": x, "model": m}, 0, {}, 3) for m in models]
    layer1 = [recompute_leaf_witness(spec, {"x": x, "model": m}, 1, {}, 3) for m in models]
    assert layer0[0] == layer0[1]
    assert layer1[0][1] != layer1[1][1]


# CUDA


@pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU or simulator")
@pytest.mark.parametrize(
    "spec, index",
    [
        (JobSpec("gemm_i8", (5, 9, 6, 2), 1), 2),
        (JobSpec("qmlp_i8", (3, 2, 5, 4, 3), 2), 3),
        (JobSpec("sgd_fxp", (8, 5, 2, 3, 2, 8, 6), 3), 1),
    ],
)
def test_cuda_witness_matches_numpy(spec: JobSpec, index: int) -> None:
    for mask in (0, 0xFFFFFFFF, 0x9E3779B9):
        agree(spec, index, mask, devices=("cuda",))


@pytest.mark.timeout(300)
def test_cuda_witness_in_the_simulator() -> None:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{__file__}::test_cuda_witness_matches_numpy",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=280,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout
