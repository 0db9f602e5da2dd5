"""Checking a whole result cheaply: Freivalds' algorithm for gemm_i8 and each qmlp_i8 layer.

To check C = A·B + b without multiplying again, draw a random matrix R (N×rounds) and compare
C·R with A·(B·R) + b·R: O(n²) work instead of O(n³). All of it runs in exact int64: entries of R
are drawn from [0, 2^bits) with bits small enough that no product or sum can overflow, even for
adversarial int32 outputs, so a correct result always passes, and a wrong row escapes one round
with probability at most 2^−bits. The rows whose checks differ are the wrong rows, so the check
also names the first wrong leaf: the one a fraud proof names.

The products run in parallel Numba kernels: B·R through the int8 gemm kernel (R cut into 7-bit
limbs), then one pass over the rows of A and C for A·(B·R) and C·R together. B·R (|B·R| < 2^38)
is split into its low 24 bits and the rest, so every product in A·(B·R) fits in 32 bits, which
x86 multiplies four to an instruction.
C is read where it lies, in the leaves' own buffers: copying a large result into one array costs
as much as the whole check.

sgd_fxp steps are not linear maps of the inputs; `check_result` spot-checks them by recomputing
a few random steps from the committed weights before them.
"""

from __future__ import annotations

import ctypes
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt
from numba import prange, types
from numba.extending import intrinsic
from numba.np.numpy_support import carray

from gpu_worker.inputs import I8, I32, I64, QmlpLayer
from gpu_worker.jobs import (
    JobSpec,
    _arrays,
    _block_count,
    check_leaf_sizes,
    leaf_dependencies,
    recompute_leaf,
)
from gpu_worker.kernels import cpu
from runtime.workloads import MAX_DIM, MAX_K

SECURITY_BITS = 40
"""Rounds are drawn until a wrong row escapes with probability at most 2^−SECURITY_BITS."""
SGD_SPOT_CHECKS = 8
LOW_BITS: Final = 24
"""B·R is split as high·2^LOW_BITS + low with low in [0, 2^LOW_BITS): int8 × low fits in int32."""
LIMB_BITS: Final = 7
LIMB_MASK: Final = (1 << LIMB_BITS) - 1

_F = TypeVar("_F", bound=Callable[..., Any])
Flags = npt.NDArray[np.bool_]


def _kernel(*, parallel: bool) -> Callable[[_F], _F]:
    return cast(Callable[[_F], _F], numba.njit(cache=True, parallel=parallel, nogil=True))


def random_bits(inner: int, cols: int) -> int:
    """Bits per entry of R that keep A·(B·R) + b·R and C·R exact in int64 (|A|, |B| ≤ 128,
    |C|, |b| ≤ 2^31, inner dimension `inner`, `cols` columns).

    C·R and b·R stay under 2^(31 + bits + ⌈log₂ cols⌉) ≤ 2^62, and A·(B·R) under
    2^(14 + bits + ⌈log₂ inner⌉ + ⌈log₂ cols⌉) ≤ 2^62, so their sum never reaches 2^63.
    """
    log_n = max(1, math.ceil(math.log2(max(cols, 2))))
    log_k = max(1, math.ceil(math.log2(max(inner, 2))))
    return max(1, min(31 - log_n, 48 - log_k - log_n))


def _draw(rng: np.random.Generator, cols: int, inner: int) -> I64:
    bits = random_bits(inner, cols)
    rounds = -(-SECURITY_BITS // bits)
    return rng.integers(0, 1 << bits, size=(cols, rounds), dtype=np.int64)


# A result matrix read in place: the rows of block b start at addresses[b]


def _int32_pointer_typer(typingctx: Any, address: Any) -> Any:
    if not isinstance(address, types.Integer):
        return None
    pointer = _CPointer(types.int32)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], context.get_value_type(pointer))

    return pointer(address), codegen


_CPointer: Any = types.CPointer
_int32_pointer: Any = intrinsic(_int32_pointer_typer)


@_kernel(parallel=False)
def _row(addresses: I64, block_rows: int, cols: int, i: int) -> I32:
    block = i // block_rows
    offset = (i - block * block_rows) * cols * 4
    return carray(_int32_pointer(addresses[block] + offset), cols)


def _addresses(blocks: Sequence[bytes | np.ndarray]) -> I64:
    """Where each block's bytes lie; the caller keeps the blocks alive while they are read."""
    if ctypes.sizeof(ctypes.c_void_p) == 8 and all(type(block) is bytes for block in blocks):
        # One array of C pointers, filled in C: a tenth of the cost of one call per leaf.
        pointers: Any = (ctypes.c_char_p * len(blocks))(*cast(Sequence[Any], blocks))
        addresses: I64 = np.frombuffer(memoryview(pointers), np.int64).copy()
        return addresses
    out = np.empty(len(blocks), np.int64)
    for index, block in enumerate(blocks):
        out[index] = np.frombuffer(block, np.uint8).ctypes.data
    return out


def _native_blocks(leaves: Sequence[bytes]) -> Sequence[bytes | np.ndarray]:
    """Leaves as native int32 blocks: themselves on little-endian machines, converted elsewhere."""
    if sys.byteorder == "little":
        return leaves
    return [np.frombuffer(leaf, "<i4").astype(np.int32) for leaf in leaves]


# The kernels


def _rhs_times_r(rhs: I8, rt: I32) -> tuple[I32, I32]:
    """(B·R)ᵀ, split as low + high·2^LOW_BITS with low in [0, 2^LOW_BITS).

    R's entries are cut into 7-bit limbs, int8 matrices that the gemm kernel multiplies B by
    exactly (|B·limb| < 128·127·cols ≤ 2^30); the limbs' products are put together in int64.
    """
    rounds, n = rt.shape
    bits = max(1, int(rt.max()).bit_length()) if rt.size else 1
    limbs = -(-bits // LIMB_BITS)
    pieces = np.empty((rounds * limbs, n), np.int8)
    for q in range(rounds):
        for limb in range(limbs):
            pieces[q * limbs + limb] = (rt[q] >> (LIMB_BITS * limb)) & LIMB_MASK
    products = cpu.gemm_transposed(rhs, pieces).astype(np.int64)
    total = np.zeros((rounds, rhs.shape[0]), np.int64)
    for q in range(rounds):
        for limb in range(limbs):
            total[q] += products[:, q * limbs + limb] << (LIMB_BITS * limb)
    low: I32 = (total & ((1 << LOW_BITS) - 1)).astype(np.int32)
    high: I32 = (total >> LOW_BITS).astype(np.int32)
    return low, high


@_kernel(parallel=True)
def _rows_differ(
    lhs: I8,
    low: I32,
    high: I32,
    bias_r: I64,
    addresses: I64,
    block_rows: int,
    rt: I32,
    bad: Flags,
) -> None:
    """bad[i] = whether row i of A·(B·R) + b·R differs from row i of C·R in any round."""
    m, k = lhs.shape
    n = rt.shape[1]
    rounds = rt.shape[0]
    scale = np.int64(1) << LOW_BITS
    for i in prange(m):
        li = lhs[i]
        ci = _row(addresses, block_rows, n, i)
        differs = False
        for q in range(rounds):
            lq = low[q]
            hq = high[q]
            lows = np.int64(0)
            highs = np.int64(0)
            for p in range(k):
                x = np.int64(li[p])
                lows += x * np.int64(lq[p])
                highs += x * np.int64(hq[p])
            rq = rt[q]
            got = np.int64(0)
            for j in range(n):
                got += np.int64(ci[j]) * np.int64(rq[j])
            if lows + highs * scale + bias_r[q] != got:
                differs = True
        bad[i] = differs


@_kernel(parallel=True)
def _requantize_rows(addresses: I64, block_rows: int, mult: int, shift: int, out: I8) -> None:
    rows, cols = out.shape
    for i in prange(rows):
        acc = _row(addresses, block_rows, cols, i)
        for j in range(cols):
            out[i, j] = cpu.requantize_value(acc[j], mult, shift)


def _bad_rows(
    lhs: I8,
    rhs: I8,
    addresses: I64,
    block_rows: int,
    rng: np.random.Generator,
    bias: I32 | None,
) -> I64:
    k, n = rhs.shape
    r = _draw(rng, n, k)
    rt = np.ascontiguousarray(r.T, dtype=np.int32)
    rounds = rt.shape[0]
    bias_r = np.zeros(rounds, np.int64)
    if bias is not None:
        bias_r += (bias.astype(np.int64).reshape(-1, n) @ r).sum(axis=0)
    low, high = _rhs_times_r(rhs, rt)
    bad = np.zeros(lhs.shape[0], np.bool_)
    if bad.size:
        lhs = np.ascontiguousarray(lhs, dtype=np.int8)
        _rows_differ(lhs, low, high, bias_r, addresses, max(block_rows, 1), rt, bad)
    return np.flatnonzero(bad).astype(np.int64)


def bad_rows(
    lhs: I8, rhs: I8, claimed: I32, rng: np.random.Generator, bias: I32 | None = None
) -> I64:
    """Indices of the rows where `claimed` differs from lhs·rhs (+ bias), found in O(n²).

    Exact within the workloads' limits: K ≤ 131,071 and N ≤ 65,536.
    """
    m, k = lhs.shape
    n = rhs.shape[1]
    if rhs.shape[0] != k or claimed.shape != (m, n):
        raise ValueError(
            f"cannot check a {claimed.shape} result of {lhs.shape} × {rhs.shape} matrices"
        )
    if k > MAX_K or n > MAX_DIM:
        raise ValueError(f"{lhs.shape} × {rhs.shape} is beyond the workloads' limits")
    matrix = np.ascontiguousarray(claimed, dtype=np.int32)
    return _bad_rows(lhs, rhs, _addresses([matrix]), m, rng, bias)


def check_result(
    spec: JobSpec,
    inputs: Mapping[str, bytes],
    leaves: Sequence[bytes],
    *,
    rng: np.random.Generator | None = None,
) -> int | None:
    """The first wrong leaf of a result, or None when it passes.

    gemm_i8 and qmlp_i8 are checked whole with Freivalds; sgd_fxp by recomputing
    SGD_SPOT_CHECKS random steps. The leaves must already match the committed root.
    """
    rng = rng if rng is not None else np.random.default_rng()
    arrays = _arrays(spec, inputs)
    check_leaf_sizes(spec, leaves)
    p = spec.params
    if spec.workload == "gemm_i8":
        blocks = _native_blocks(leaves)
        rows = _bad_rows(arrays["a"], arrays["b"], _addresses(blocks), p[3], rng, None)
        return None if rows.size == 0 else int(rows[0]) // p[3]
    if spec.workload == "qmlp_i8":
        layers: list[QmlpLayer] = arrays["layers"]
        per_layer = _block_count(p[0], p[1])
        h: I8 = arrays["x"]
        for j, layer in enumerate(layers):
            blocks = _native_blocks(leaves[j * per_layer : (j + 1) * per_layer])
            addresses = _addresses(blocks)
            rows = _bad_rows(h, layer.weights, addresses, p[1], rng, layer.bias[None, :])
            if rows.size:
                return j * per_layer + int(rows[0]) // p[1]
            if j + 1 < len(layers):
                h = np.empty((p[0], layer.weights.shape[1]), np.int8)
                _requantize_rows(addresses, p[1], layer.mult, layer.shift, h)
        return None
    steps = len(leaves)
    picks = sorted(set(rng.integers(0, steps, size=min(SGD_SPOT_CHECKS, steps)).tolist()))
    for t in picks:
        deps = {d: leaves[d] for d in leaf_dependencies(spec, t)}
        if recompute_leaf(spec, inputs, t, deps, device="cpu") != leaves[t]:
            return int(t)
    return None


__all__ = ["SECURITY_BITS", "bad_rows", "check_result", "random_bits"]
