"""The recomputation witness on an NVIDIA GPU: Numba @cuda.jit kernels, one thread per output
element, each forming its terms once and adding each to the result's sum and, XORed with the
mask, to the witness's; bit-exact with `gpu_worker.kernels.witness_numpy`.

Sums are int64 and the result is reduced modulo 2^32 with integer arithmetic (no narrowing cast),
so the kernels give the same bits in Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1), where every
GPU thread is a Python thread and the tests run them on tiny shapes. Kernels compile at their
first launch, so importing this module needs no GPU.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from numba import cuda as numba_cuda

from gpu_worker.inputs import I8, I16, I32, I64
from gpu_worker.kernels.arguments import I32_MAX, I32_MIN, check_product, int8_matrix
from gpu_worker.kernels.cuda import THREADS

TWO_32: Final = 1 << 32
TWO_31: Final = 1 << 31

cuda: Any = numba_cuda
"""numba.cuda, untyped: its kernel API (grid, threadIdx) is made at run time."""
_jit: Any = cuda.jit


def _product_witness_kernel(h: Any, w: Any, bias: Any, mask: Any, out: Any, wit: Any) -> None:
    """out[i, j] = Σ_p h[i, p]·w[p, j] + bias[j] modulo 2^32; wit[i, j] = Σ_p (term ^ mask)."""
    j, i = cuda.grid(2)
    if i < h.shape[0] and j < w.shape[1]:
        total = np.int64(0)
        witness = np.int64(0)
        for p in range(h.shape[1]):
            t = np.int64(h[i, p]) * np.int64(w[p, j])
            total += t
            witness += t ^ mask
        total += np.int64(bias[j])
        out[i, j] = ((total + TWO_31) & (TWO_32 - 1)) - TWO_31
        wit[i, j] = witness


def _sgd_errors_kernel(
    x: Any, y: Any, rows: Any, w: Any, frac_bits: Any, mask: Any, err: Any, w1: Any
) -> None:
    """err[b, o] = clamp(x[rows[b]]·w[:, o] − y[rows[b], o]·2^frac_bits); w1[b, o] = its terms'
    witness."""
    o, b = cuda.grid(2)
    if b < rows.shape[0] and o < w.shape[1]:
        r = rows[b]
        pred = np.int64(0)
        witness = np.int64(0)
        for f in range(x.shape[1]):
            t = np.int64(x[r, f]) * np.int64(w[f, o])
            pred += t
            witness += t ^ mask
        w1[b, o] = witness
        e = pred - (np.int64(y[r, o]) << frac_bits)
        err[b, o] = min(max(e, I32_MIN), I32_MAX)


def _sgd_update_kernel(
    x: Any, rows: Any, err: Any, half: Any, lr_shift: Any, mask: Any, w: Any, out: Any, w2: Any
) -> None:
    """out[f, o] = clamp(w − ((Σ_b x[rows[b], f]·err[b, o] + half) >> lr_shift)); w2[f, o] = the
    witness of those terms."""
    o, f = cuda.grid(2)
    if f < w.shape[0] and o < w.shape[1]:
        grad = np.int64(0)
        witness = np.int64(0)
        for b in range(rows.shape[0]):
            t = np.int64(x[rows[b], f]) * err[b, o]
            grad += t
            witness += t ^ mask
        w2[f, o] = witness
        v = np.int64(w[f, o]) - ((grad + half) >> lr_shift)
        out[f, o] = min(max(v, I32_MIN), I32_MAX)


_product_witness = _jit(_product_witness_kernel)
_sgd_errors = _jit(_sgd_errors_kernel)
_sgd_update = _jit(_sgd_update_kernel)


def _grid(rows: int, cols: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Blocks of THREADS×THREADS covering rows×cols, as CUDA's (x = columns, y = rows)."""
    return (-(-cols // THREADS), -(-rows // THREADS)), (THREADS, THREADS)


def product_witness(h: I8, weights: I8, bias: I32, mask: int) -> tuple[I32, I64]:
    """(h·weights + bias as int32, the witness W[i, j] = Σ_p (h[i, p]·weights[p, j]) ^ mask)."""
    h, weights = int8_matrix(h, "h"), int8_matrix(weights, "weights")
    check_product(h.shape, weights.shape)
    m, n = h.shape[0], weights.shape[1]
    if not (m and n):
        return np.zeros((m, n), np.int32), np.zeros((m, n), np.int64)
    d_out = cuda.device_array((m, n), np.int32)
    d_wit = cuda.device_array((m, n), np.int64)
    blocks, threads = _grid(m, n)
    _product_witness[blocks, threads](
        cuda.to_device(h),
        cuda.to_device(weights),
        cuda.to_device(np.ascontiguousarray(bias, dtype=np.int32)),
        np.int64(mask),
        d_out,
        d_wit,
    )
    out: I32 = d_out.copy_to_host()
    witness: I64 = d_wit.copy_to_host()
    return out, witness


def sgd_step_witness(
    x: I8, y: I16, rows: I64, w: I32, frac_bits: int, lr_shift: int, mask: int
) -> tuple[I32, I64, I64]:
    """One sgd_fxp step on the batch `rows` from weights `w`: (the new weights, W1, W2)."""
    x = int8_matrix(x, "x")
    features, outputs = w.shape
    batch = rows.shape[0]
    d_x = cuda.to_device(x)
    d_rows = cuda.to_device(np.ascontiguousarray(rows, dtype=np.int64))
    d_w = cuda.to_device(np.ascontiguousarray(w, dtype=np.int32))
    d_err = cuda.device_array((max(batch, 1), outputs), np.int64)
    d_w1 = cuda.device_array((batch, outputs), np.int64)
    d_w2 = cuda.device_array((features, outputs), np.int64)
    d_out = cuda.device_array((features, outputs), np.int32)
    mask64 = np.int64(mask)
    if batch and outputs:
        blocks, threads = _grid(batch, outputs)
        _sgd_errors[blocks, threads](
            d_x,
            cuda.to_device(np.ascontiguousarray(y, dtype=np.int16)),
            d_rows,
            d_w,
            np.int64(frac_bits),
            mask64,
            d_err,
            d_w1,
        )
    if features and outputs:
        blocks, threads = _grid(features, outputs)
        _sgd_update[blocks, threads](
            d_x,
            d_rows,
            d_err,
            np.int64(1 << (lr_shift - 1)),
            np.int64(lr_shift),
            mask64,
            d_w,
            d_out,
            d_w2,
        )
    out: I32 = d_out.copy_to_host()
    w1: I64 = d_w1.copy_to_host() if batch and outputs else np.zeros((batch, outputs), np.int64)
    w2: I64 = d_w2.copy_to_host()
    return out, w1, w2


__all__ = ["product_witness", "sgd_step_witness"]
