"""mlp_fxp training on an NVIDIA GPU: Numba @cuda.jit kernels, bit-exact with `gpu_worker.mlp_fxp`.

The parameters stay on the GPU for the whole run, as a flat int64 copy of the checkpoint layout
(layer offsets passed to each launch). A step is, per layer, one launch for the forward pass
(a thread per (sample, output): the accumulator, then the activation and its mask, or for the
last layer the error, and for layer 0 the witness sums), and, last layer first, one for the
errors carried back (a thread per (sample, input), reading the weights before their update),
one for the weights' gradients and update (a thread per weight) and one for the biases. Launches
on one stream run in order, so each reads what the one before wrote. Every sum is exact in
int64, so the order of additions within a thread is free and the bits are the reference's.

Under Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) every GPU thread is a Python thread: the
tests use tiny shapes. Kernels compile at their first launch, so importing needs no GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numba
import numpy as np
from numba import cuda as numba_cuda

from gpu_worker.inputs import I8, I16, I32, I64
from gpu_worker.mlp_fxp import (
    ACTIVATION_MAX,
    ERROR_LIMIT,
    WEIGHT_LIMIT,
    checked_train_args,
)

SIMULATOR: Final = bool(getattr(numba.config, "ENABLE_CUDASIM", 0))
THREADS: Final = 4 if SIMULATOR else 16
"""Threads along each side of a block."""

cuda: Any = numba_cuda
_jit: Any = cuda.jit


def _gather_kernel(x: Any, rows: Any, h: Any) -> None:
    """h[r, i] = x[rows[r], i]: the batch's samples as layer 0's input."""
    i, r = cuda.grid(2)
    if r < rows.shape[0] and i < x.shape[1]:
        h[r, i] = x[rows[r], i]


def _forward_kernel(
    h: Any,
    m: Any,
    params: Any,
    at: Any,
    y: Any,
    rows: Any,
    frac_bits: Any,
    mask: Any,
    witness: Any,
    step: Any,
    delta: Any,
) -> None:
    """One layer's forward pass for one (sample r, output o). `at` = (W offset, b offset, input
    width, output width, input's column in h, output's column in h, last layer?, witness?)."""
    o, r = cuda.grid(2)
    w_at, b_at, d_in, d_out = at[0], at[1], at[2], at[3]
    h_in, h_out, last, keep = at[4], at[5], at[6], at[7]
    if r < h.shape[0] and o < d_out:
        acc = params[b_at + o]
        for i in range(d_in):
            acc += h[r, h_in + i] * params[w_at + i * d_out + o]
        if keep:
            total = np.int64(0)
            for i in range(d_in):
                total += (h[r, i] * params[i * d_out + o]) ^ mask
            witness[step, r, o] = total
        if last:
            e = acc - (np.int64(y[rows[r], o]) << frac_bits)
            delta[r, o] = min(max(e, -ERROR_LIMIT), ERROR_LIMIT)
        else:
            pre = (acc + (np.int64(1) << (frac_bits - 1))) >> frac_bits
            m[r, h_out + o] = 1 if 0 < pre < ACTIVATION_MAX else 0
            h[r, h_out + o] = min(max(pre, 0), ACTIVATION_MAX)


def _back_kernel(delta: Any, m: Any, params: Any, at: Any, frac_bits: Any, back: Any) -> None:
    """The error carried back to input i of a layer for sample r, through its weights before
    their update, clamped and masked by the activation's derivative."""
    i, r = cuda.grid(2)
    w_at, d_in, d_out, h_in = at[0], at[2], at[3], at[4]
    if r < delta.shape[0] and i < d_in:
        total = np.int64(0)
        for o in range(d_out):
            total += delta[r, o] * params[w_at + i * d_out + o]
        v = (total + (np.int64(1) << (frac_bits - 1))) >> frac_bits
        back[r, i] = min(max(v, -ERROR_LIMIT), ERROR_LIMIT) * m[r, h_in + i]


def _update_kernel(h: Any, delta: Any, params: Any, at: Any, lr_shift: Any) -> None:
    """W[i, o] −= (Σ_r h[r, i]·δ[r, o] + half) >> lr_shift, clamped; one weight a thread."""
    o, i = cuda.grid(2)
    w_at, d_in, d_out, h_in = at[0], at[2], at[3], at[4]
    if i < d_in and o < d_out:
        grad = np.int64(0)
        for r in range(h.shape[0]):
            grad += h[r, h_in + i] * delta[r, o]
        k = w_at + i * d_out + o
        v = params[k] - ((grad + (np.int64(1) << (lr_shift - 1))) >> lr_shift)
        params[k] = min(max(v, -WEIGHT_LIMIT), WEIGHT_LIMIT)


def _bias_kernel(delta: Any, params: Any, at: Any, lr_shift: Any) -> None:
    """b[o] −= (Σ_r δ[r, o] + half) >> lr_shift, clamped."""
    o = cuda.grid(1)
    b_at, d_out = at[1], at[3]
    if o < d_out:
        total = np.int64(0)
        for r in range(delta.shape[0]):
            total += delta[r, o]
        v = params[b_at + o] - ((total + (np.int64(1) << (lr_shift - 1))) >> lr_shift)
        params[b_at + o] = min(max(v, -WEIGHT_LIMIT), WEIGHT_LIMIT)


def _copy_kernel(source: Any, target: Any, width: Any) -> None:
    """target[r, :width] = source[r, :width]."""
    i, r = cuda.grid(2)
    if r < source.shape[0] and i < width:
        target[r, i] = source[r, i]


def _checkpoint_kernel(params: Any, out: Any, t: Any) -> None:
    """out[t] = params (as int32: every word is within ±WEIGHT_LIMIT)."""
    k = cuda.grid(1)
    if k < params.shape[0]:
        out[t, k] = params[k]


_gather = _jit(_gather_kernel)
_forward = _jit(_forward_kernel)
_back = _jit(_back_kernel)
_update = _jit(_update_kernel)
_bias = _jit(_bias_kernel)
_copy = _jit(_copy_kernel)
_checkpoint = _jit(_checkpoint_kernel)


def _grid(rows: int, cols: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(blocks, threads) covering rows×cols, as CUDA's (x = columns, y = rows)."""
    return (-(-max(cols, 1) // THREADS), -(-max(rows, 1) // THREADS)), (THREADS, THREADS)


def _linear(n: int) -> tuple[int, int]:
    return -(-max(n, 1) // (THREADS * THREADS)), THREADS * THREADS


def _layer_table(dims: Sequence[int], keep: bool) -> list[Any]:
    """Each layer's offsets (see `_forward_kernel`), on the GPU."""
    tables: list[Any] = []
    at = 0
    column = 0
    for j in range(len(dims) - 1):
        d_in, d_out = dims[j], dims[j + 1]
        last = j == len(dims) - 2
        row = [at, at + d_in * d_out, d_in, d_out, column, column + d_in, int(last)]
        row.append(int(keep and j == 0))
        tables.append(cuda.to_device(np.array(row, np.int64)))
        at += d_in * d_out + d_out
        column += d_in
    return tables


def train(
    x: I8,
    y: I16,
    order: I64,
    every: int,
    frac_bits: int,
    lr_shift: int,
    start: I32,
    dims: Sequence[int],
    witness_mask: int | None = None,
) -> tuple[I32, list[I64]]:
    """As `gpu_worker.mlp_fxp.train`, on the GPU: the checkpoints, and each step's witness."""
    x = checked_train_args(x, y, order, every, frac_bits, lr_shift, start, dims)
    steps, batch = order.shape
    keep = witness_mask is not None
    mask = np.int64(0 if witness_mask is None else witness_mask)
    widest = max(dims)
    width = sum(dims[:-1])
    d_x = cuda.to_device(x)
    d_y = cuda.to_device(np.ascontiguousarray(y))
    d_order = cuda.to_device(np.ascontiguousarray(order, dtype=np.int64))
    d_params = cuda.to_device(np.array(start, np.int64))
    d_h = cuda.device_array((batch, width), np.int64)
    d_m = cuda.to_device(np.zeros((batch, width), np.int64))
    d_delta = cuda.device_array((batch, widest), np.int64)
    d_back = cuda.device_array((batch, widest), np.int64)
    d_out = cuda.device_array((steps // every, len(start)), np.int32)
    d_witness = cuda.device_array((steps, batch, dims[1]) if keep else (1, 1, 1), np.int64)
    tables = _layer_table(dims, keep)
    frac, shift = np.int64(frac_bits), np.int64(lr_shift)
    for s in range(steps):
        rows = d_order[s]
        blocks, threads = _grid(batch, dims[0])
        _gather[blocks, threads](d_x, rows, d_h)
        for j, table in enumerate(tables):
            blocks, threads = _grid(batch, dims[j + 1])
            _forward[blocks, threads](
                d_h, d_m, d_params, table, d_y, rows, frac, mask, d_witness, s, d_delta
            )
        for j in range(len(tables) - 1, -1, -1):
            if j > 0:
                blocks, threads = _grid(batch, dims[j])
                _back[blocks, threads](d_delta, d_m, d_params, tables[j], frac, d_back)
            blocks, threads = _grid(dims[j], dims[j + 1])
            _update[blocks, threads](d_h, d_delta, d_params, tables[j], shift)
            _bias[_linear(dims[j + 1])](d_delta, d_params, tables[j], shift)
            if j > 0:
                blocks, threads = _grid(batch, dims[j])
                _copy[blocks, threads](d_back, d_delta, dims[j])
        if (s + 1) % every == 0:
            _checkpoint[_linear(len(start))](d_params, d_out, (s + 1) // every - 1)
    out: I32 = d_out.copy_to_host()
    witnesses: list[I64] = list(d_witness.copy_to_host()) if keep else []
    return out, witnesses


__all__ = ["SIMULATOR", "train"]
