"""A requester's input files: read as the workload takes them, and gemm_i8's parameters inferred
from the arrays' shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chain.client.jobs import (
    JobRequestError,
    gemm_blocks_for,
    infer_params,
    parse_params,
    read_input,
)
from chain.client.jobs.inputs import (
    ARRAY_INPUTS,
    GEMM_MIN_TILE,
    GEMM_TARGET_LEAVES,
    GEMM_TILE_ROWS,
    WORKLOAD_INPUTS,
    InputFile,
    with_default_layout,
)
from runtime.workloads import WORKLOADS, workload_shape


def save(path: Path, array: np.ndarray) -> Path:
    np.save(path, array)
    return path


def matrix(tmp_path: Path, name: str, rows: int, cols: int) -> InputFile:
    path = save(tmp_path / f"{name}.npy", np.ones((rows, cols), np.int8))
    return read_input("gemm_i8", name, path)


# Reading files


def test_an_array_input_is_its_raw_little_endian_bytes(tmp_path: Path) -> None:
    y = np.arange(6, dtype=">i2").reshape(3, 2)  # big-endian on disk: converted, not refused
    found = read_input("sgd_fxp", "y", save(tmp_path / "y.npy", y))
    assert found.shape == (3, 2)
    assert found.data == y.astype("<i2").tobytes()


def test_an_array_of_the_wrong_dtype_is_refused_naming_the_dtype_needed(tmp_path: Path) -> None:
    path = save(tmp_path / "a.npy", np.ones((2, 2), np.int32))
    with pytest.raises(JobRequestError, match=r"the array is int32, gemm_i8 needs int8"):
        read_input("gemm_i8", "a", path)


def test_an_array_input_must_come_as_npy(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(bytes(4))
    with pytest.raises(JobRequestError, match=r"takes a as a \.npy array of int8"):
        read_input("gemm_i8", "a", path)


def test_a_raw_input_is_read_as_bytes_from_any_file_or_a_byte_array(tmp_path: Path) -> None:
    raw = tmp_path / "model.bin"
    raw.write_bytes(b"\x01\x02\x03")
    assert read_input("qmlp_i8", "model", raw) == InputFile(raw, b"\x01\x02\x03", None)
    as_array = save(tmp_path / "model.npy", np.array([1, 2, 3], np.uint8))
    assert read_input("qmlp_i8", "model", as_array).data == b"\x01\x02\x03"
    wide = save(tmp_path / "wide.npy", np.array([1, 2, 3], np.int64))
    with pytest.raises(JobRequestError, match="as raw bytes"):
        read_input("qmlp_i8", "model", wide)


def test_missing_and_unreadable_files_are_refused_with_their_path(tmp_path: Path) -> None:
    with pytest.raises(JobRequestError, match=r"cannot read input a \(.*nowhere\.npy\)"):
        read_input("gemm_i8", "a", tmp_path / "nowhere.npy")
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"not an array")
    with pytest.raises(JobRequestError, match=r"is not a readable \.npy file"):
        read_input("gemm_i8", "a", garbage)


def test_every_workload_names_the_inputs_the_runtime_names() -> None:
    examples = {
        "gemm_i8": (8, 8, 8, 2),
        "qmlp_i8": (4, 2, 8, 8, 4),
        "sgd_fxp": (8, 4, 2, 4, 2, 8, 6),
        "mlp_fxp": (8, 4, 4, 2, 8, 6, 3, 4, 2),
    }
    assert set(WORKLOAD_INPUTS) == set(WORKLOADS) == set(examples)
    for workload, params in examples.items():
        names = tuple(spec.name for spec in workload_shape(workload, params).inputs)
        assert names == WORKLOAD_INPUTS[workload]


# Parameters


def test_params_are_whole_numbers_separated_by_commas() -> None:
    assert parse_params("256, 256,256 ,64") == (256, 256, 256, 64)
    for text in ("256,,64", "1.5,2", "-1,2", "a,b", "", "٣,1"):
        with pytest.raises(JobRequestError, match="whole numbers separated by commas"):
            parse_params(text)


def test_gemm_params_are_inferred_from_the_shapes_of_a_and_b(tmp_path: Path) -> None:
    a, b = matrix(tmp_path, "a", 256, 96), matrix(tmp_path, "b", 96, 40)
    m, k, n, row_block, col_block = infer_params("gemm_i8", {"a": a, "b": b})
    assert (m, k, n) == (256, 96, 40)
    # Tiles of GEMM_TILE_ROWS rows, none under GEMM_MIN_TILE elements, a shape the runtime takes.
    assert row_block == GEMM_TILE_ROWS
    assert row_block * col_block >= GEMM_MIN_TILE or col_block == n
    assert workload_shape("gemm_i8", (m, k, n, row_block, col_block)).leaves >= 32


@pytest.mark.parametrize(
    ("m", "k", "n"),
    [
        (1, 1, 1),
        (10, 10, 10),
        (2048, 2048, 2048),
        (1024, 1024, 1024),
        (65_536, 8, 8),
        (300, 7000, 7000),
        (64, 100_000, 512),
        (1024, 16, 65_536),
        (7, 3, 5000),
    ],
)
def test_the_default_tiles_are_accepted_and_fine_enough(m: int, k: int, n: int) -> None:
    row_block, col_block = gemm_blocks_for(m, k, n)
    shape = workload_shape("gemm_i8", (m, k, n, row_block, col_block))
    assert shape.leaves <= GEMM_TARGET_LEAVES or col_block == n
    # Where C has room for them, about GEMM_TARGET_LEAVES tiles: an audit of 16 is about 0.4%.
    if m * n >= 2 * GEMM_TARGET_LEAVES * GEMM_MIN_TILE and k * 2 * GEMM_MIN_TILE <= 1 << 23:
        assert shape.leaves >= GEMM_TARGET_LEAVES // 2


def test_gemm_params_of_three_numbers_get_the_default_tiles() -> None:
    assert with_default_layout("gemm_i8", (2048, 2048, 2048)) == (2048, 2048, 2048, 8, 128)
    assert with_default_layout("gemm_i8", (64, 64, 64, 8)) == (64, 64, 64, 8)
    assert with_default_layout("qmlp_i8", (8, 1, 4, 4)) == (8, 1, 4, 4)


def test_gemm_inference_refuses_shapes_that_do_not_multiply(tmp_path: Path) -> None:
    a, b = matrix(tmp_path, "a", 4, 5), matrix(tmp_path, "b", 6, 3)
    with pytest.raises(JobRequestError, match=r"a is 4×5 and b is 6×3: a's columns must match"):
        infer_params("gemm_i8", {"a": a, "b": b})
    vector = read_input("gemm_i8", "a", save(tmp_path / "v.npy", np.ones(4, np.int8)))
    with pytest.raises(JobRequestError, match="must be matrices"):
        infer_params("gemm_i8", {"a": vector, "b": b})


@pytest.mark.parametrize(
    ("workload", "rule"),
    [
        ("qmlp_i8", r"\[batch, row_block, d0, d1, \.\.\., dL\]"),
        ("sgd_fxp", r"\[samples, features, outputs, batch, steps, frac_bits, lr_shift\]"),
    ],
)
def test_only_gemm_params_can_be_inferred_and_the_others_name_their_params(
    workload: str, rule: str
) -> None:
    with pytest.raises(
        JobRequestError, match=f"--params is needed: {workload} takes params {rule}"
    ):
        infer_params(workload, {})


def test_gemm_needs_both_arrays_to_infer(tmp_path: Path) -> None:
    with pytest.raises(JobRequestError, match="--params is needed"):
        infer_params("gemm_i8", {"a": matrix(tmp_path, "a", 4, 4)})


def test_mlp_fxp_arrays_are_samples_by_the_first_and_last_widths() -> None:
    params = (100, 8, 40, 20, 8, 10, 64, 32, 10)
    assert ARRAY_INPUTS[("mlp_fxp", "x")].shape(params) == (100, 64)
    assert ARRAY_INPUTS[("mlp_fxp", "y")].shape(params) == (100, 10)
    assert ARRAY_INPUTS[("mlp_fxp", "y")].dtype == np.dtype("<i2")
