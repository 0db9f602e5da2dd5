"""A job's input files: which inputs each workload takes, reading them from .npy or raw files,
and inferring gemm_i8's parameters from the arrays' shapes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from chain.client.jobs.errors import JobRequestError
from runtime.workloads import MAX_LEAF_BYTES, WorkloadError, workload_shape

GEMM_TARGET_LEAVES: Final = 64
"""An inferred gemm_i8 row block cuts C into about this many leaves: fine enough for a fraud
proof to name a small part, few enough to fetch quickly."""

WORKLOAD_INPUTS: Final = {"gemm_i8": ("a", "b"), "qmlp_i8": ("x", "model"), "sgd_fxp": ("x", "y")}
"""Input names per workload, known before the parameters are (the runtime's shapes name them too;
`make_request` checks that both agree)."""


@dataclass(frozen=True, slots=True)
class ArrayLayout:
    """How an input that is a matrix is laid out: its dtype and its shape from the parameters."""

    dtype: np.dtype[Any]
    dims: tuple[str, str]
    rows: int
    """Index of the parameter that is the number of rows."""
    cols: int
    """Index of the parameter that is the number of columns."""

    def shape(self, params: Sequence[int]) -> tuple[int, int]:
        """The (rows, columns) this input must have for the job parameters `params`."""
        return params[self.rows], params[self.cols]


_I8, _I16 = np.dtype(np.int8), np.dtype("<i2")
ARRAY_INPUTS: Final[dict[tuple[str, str], ArrayLayout]] = {
    ("gemm_i8", "a"): ArrayLayout(_I8, ("m", "k"), 0, 1),
    ("gemm_i8", "b"): ArrayLayout(_I8, ("k", "n"), 1, 2),
    ("qmlp_i8", "x"): ArrayLayout(_I8, ("batch", "d0"), 0, 2),
    ("sgd_fxp", "x"): ArrayLayout(_I8, ("samples", "features"), 0, 1),
    ("sgd_fxp", "y"): ArrayLayout(_I16, ("samples", "outputs"), 0, 2),
}
"""Inputs given as .npy arrays; any other input (the qmlp_i8 model) is raw bytes."""


@dataclass(frozen=True, slots=True)
class InputFile:
    """An input read from a file: its bytes as the workload takes them, and its array shape."""

    path: Path
    data: bytes
    shape: tuple[int, ...] | None
    """The .npy array's shape; None for raw bytes."""


def read_input(workload: str, name: str, path: Path) -> InputFile:
    """Read input `name` of `workload` from `path`: a .npy array of the dtype the workload
    needs (its raw little-endian bytes are the input), or any other file as raw bytes."""
    layout = ARRAY_INPUTS.get((workload, name))
    where = f"input {name} ({path})"
    if path.suffix.lower() != ".npy":
        if layout is not None:
            raise JobRequestError(
                f"{where}: {workload} takes {name} as a .npy array of {layout.dtype.name}"
            )
        try:
            return InputFile(path, path.read_bytes(), None)
        except OSError as exc:
            raise JobRequestError(f"cannot read {where}: {exc.strerror or exc}") from exc
    try:
        array = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise JobRequestError(f"cannot read {where}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise JobRequestError(f"{where} is not a readable .npy file: {exc}") from exc
    if not isinstance(array, np.ndarray):
        raise JobRequestError(f"{where} holds several arrays (.npz?), not one")
    if layout is None:
        # A raw-byte input may come as a .npy array of bytes.
        if array.dtype not in (np.dtype(np.uint8), np.dtype(np.int8)):
            raise JobRequestError(
                f"{where}: the array is {array.dtype}; {workload} takes {name} as raw bytes "
                "(a file of bytes, or a .npy array of uint8)"
            )
        return InputFile(path, np.ascontiguousarray(array).tobytes(), None)
    need = layout.dtype
    if array.dtype.kind != need.kind or array.dtype.itemsize != need.itemsize:
        raise JobRequestError(f"{where}: the array is {array.dtype}, {workload} needs {need.name}")
    data = np.ascontiguousarray(array, dtype=need).tobytes()
    return InputFile(path, data, tuple(int(d) for d in array.shape))


def parse_params(text: str) -> tuple[int, ...]:
    """`256,256,256,64` as integers; JobRequestError if it is not a list of integers."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise JobRequestError(
            f"params {text!r}: expected whole numbers separated by commas, like 256,256,256,64"
        )
    return tuple(int(p) for p in parts)


def gemm_row_block(m: int, n: int) -> int:
    """Rows of C per result leaf: about GEMM_TARGET_LEAVES leaves, none over the leaf limit."""
    return max(1, min(-(-m // GEMM_TARGET_LEAVES), MAX_LEAF_BYTES // (4 * max(n, 1))))


def infer_params(workload: str, files: Mapping[str, InputFile]) -> tuple[int, ...]:
    """gemm_i8's [m, k, n, row_block] from the shapes of a and b; JobRequestError otherwise."""
    a, b = files.get("a"), files.get("b")
    if workload != "gemm_i8" or a is None or b is None or a.shape is None or b.shape is None:
        try:
            workload_shape(workload, ())
        except WorkloadError as exc:
            raise JobRequestError(f"--params is needed: {exc}") from exc
        raise JobRequestError("--params is needed")  # pragma: no cover - every rule needs some
    if len(a.shape) != 2 or len(b.shape) != 2:
        raise JobRequestError(
            f"inputs a and b must be matrices, not arrays of shape {a.shape} and {b.shape}"
        )
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2:
        raise JobRequestError(f"a is {m}×{k} and b is {k2}×{n}: a's columns must match b's rows")
    return (m, k, n, gemm_row_block(m, n))
