"""A job's input files: which inputs each workload takes, reading them from .npy or raw files,
and inferring gemm_i8's parameters (and its default leaf layout, tiles) from the arrays' shapes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from chain.client.jobs.errors import JobRequestError
from runtime.workloads import WorkloadError, workload_shape

GEMM_TILE_ROWS: Final = 8
"""Rows of C in a default gemm_i8 tile: few enough that a check multiplies them by the tile's
columns of B as B is stored (no transpose of B), on one core, several tiles side by side."""
GEMM_TARGET_LEAVES: Final = 4096
"""A default gemm_i8 layout cuts C into about this many tiles (fewer for a small C): an audit of
16 leaves then recomputes about 16 / 4,096 = 0.4% of the job, and a leaf's Merkle proof is 12
hashes."""
GEMM_MIN_TILE: Final = 512
"""Elements of C (2 KiB) a default tile holds at least: below that, the per-leaf costs (its hash,
its proof, its place in the result blob) outweigh what a finer audit saves."""

WORKLOAD_INPUTS: Final = {
    "gemm_i8": ("a", "b"),
    "qmlp_i8": ("x", "model"),
    "sgd_fxp": ("x", "y"),
    "mlp_fxp": ("x", "y"),
}
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
    """Index of the parameter that is the number of columns (−1: the last, mlp_fxp's dL)."""

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
    ("mlp_fxp", "x"): ArrayLayout(_I8, ("samples", "d0"), 0, 6),
    ("mlp_fxp", "y"): ArrayLayout(_I16, ("samples", "dL"), 0, -1),
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


def gemm_blocks_for(m: int, k: int, n: int) -> tuple[int, int]:
    """The default gemm_i8 layout of an m×k·k×n product, (row_block, col_block): tiles of
    GEMM_TILE_ROWS rows, about GEMM_TARGET_LEAVES of them, none under GEMM_MIN_TILE elements,
    cut evenly, and within the runtime's bounds on a leaf's check (narrower tiles where k is
    long); bands of whole rows where no tiling fits."""
    row_block = max(1, min(m, GEMM_TILE_ROWS))
    bands = -(-m // row_block)
    col_tiles = max(1, min(GEMM_TARGET_LEAVES // bands, n * row_block // GEMM_MIN_TILE, n))
    col_block = -(-n // col_tiles)
    while col_block >= 1:
        params = (m, k, n, row_block, col_block)
        try:
            workload_shape("gemm_i8", params)
        except WorkloadError:
            col_block //= 2
            continue
        return row_block, col_block
    return row_block, n


def with_default_layout(workload: str, params: tuple[int, ...]) -> tuple[int, ...]:
    """gemm_i8 params given as `[m, k, n]` with the default tiles appended (`gemm_blocks_for`);
    any other params as they are (the runtime checks them)."""
    if workload == "gemm_i8" and len(params) == 3 and all(p >= 1 for p in params):
        return (*params, *gemm_blocks_for(*params))
    return params


def infer_params(workload: str, files: Mapping[str, InputFile]) -> tuple[int, ...]:
    """gemm_i8's [m, k, n, row_block, col_block] from the shapes of a and b (the default tiles,
    `gemm_blocks_for`); JobRequestError otherwise."""
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
    return (m, k, n, *gemm_blocks_for(m, k, n))
