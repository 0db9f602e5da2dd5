"""The recomputation witness on the CPU: Numba @njit kernels that form each product term once and
add it both to the result and to the witness, bit-exact with `gpu_worker.kernels.witness_numpy`.

An int8·int8 term p lies in [−2^14 + 128, 2^14], so it fits 16 bits and its int64 XOR with a mask
m < 2^32 splits into parts that 32-bit lanes can sum. With p = low − 2^15·s (low = p & 0x7FFF,
s = 1 for p < 0) and m = m_lo + 2^15·m_hi (m_lo = m & 0x7FFF):

    p ^ m = (low ^ m_lo) + 2^15·m_hi − s·(2^15 + 2^16·m_hi)

so over a span of L terms Σ (p ^ m) = U + L·2^15·m_hi + S·(2^15 + 2^16·m_hi), with U = Σ (low ^
m_lo) (under 2^32 for L ≤ SPAN, summed in int32 and read back unsigned) and S = Σ (p >> 15) = −Σ s.
The inner loop therefore keeps three int32 sums per output (the result Σ p, U and S), four terms
a step, on 8-lane integer vectors: about 1.3·10^10 terms a second on the two cores of the
development machine (6.5·10^9 on one). The plain kernel's `vpmaddwd` path, which sums pairs of
products before any of them can be seen, is ten times faster on many rows; on a verifier's
one-row leaves, which it streams at memory speed, the witness takes 2.5 to 3.5 times as long.

sgd_fxp's terms (int8 × int32) take int64 lanes, as its plain kernel's already do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, TypeVar, cast

import numba
import numpy as np
from numba import prange

from gpu_worker.inputs import I8, I16, I32, I64
from gpu_worker.kernels import kernel_cache  # noqa: F401  (stamps the kernels' cache)
from gpu_worker.kernels.arguments import (
    I32_MAX,
    I32_MIN,
    check_product,
    int8_matrix,
    read_only,
)

SPAN: Final = 65_536
"""Terms summed into one int32 U before it is moved to int64: 65,536 · (2^15 − 1) < 2^32."""
FEW_ROWS: Final = 8
"""Products of at most this many rows (a verifier's leaf) split K among the threads, each
streaming its part of B row by row; larger ones split the output into tiles."""
TILE_ROWS: Final = 8
TILE_COLS: Final = 512
"""A tile's three int32 sums per output (8 × 512 × 12 bytes) stay in L2 while K streams past."""
FEW_ROWS_COLS: Final = 4096
"""Columns per task for few rows: B is read in runs this long."""
SGD_SLICE: Final = 128
"""Features per parallel task of an SGD gradient."""
SERIAL_TERMS: Final = 1 << 23
"""Terms below which a kernel runs on one thread (about 1 ms): waking the others costs more, and
on a loaded machine a parallel region waits for its slowest thread to be scheduled (a qmlp_i8
leaf of 16 layers is 16 regions)."""
LOW: Final = 0x7FFF

_F = TypeVar("_F", bound=Callable[..., Any])


def _kernel(*, parallel: bool = False) -> Callable[[_F], _F]:
    """numba.njit with the project's settings: cached on disk, no Python fallback."""
    return cast(Callable[[_F], _F], numba.njit(cache=True, parallel=parallel, nogil=True))


@contextmanager
def _threads_for(terms: int) -> Iterator[int]:
    """Run the enclosed kernel on one thread if it forms fewer than SERIAL_TERMS terms; yields
    the threads it may use."""
    threads = numba.get_num_threads()
    if terms >= SERIAL_TERMS:
        yield threads
        return
    numba.set_num_threads(1)
    try:
        yield 1
    finally:
        numba.set_num_threads(threads)


@_kernel()
def _clamp(v: Any, lo: int, hi: int) -> Any:
    return min(max(v, lo), hi)


@_kernel()
def _span(
    h: I8, w: I8, i0: int, j0: int, j1: int, p0: int, p1: int, m_lo: Any, c: I32, u: I32, s: I32
) -> None:
    """Add terms p0..p1 of rows i0.. (as many as c has) and columns j0..j1 to the tile's sums:
    c += Σ p, u += Σ (p & 0x7FFF) ^ m_lo, s += Σ p >> 15. Four terms per step, so each sum is
    loaded and stored once per four."""
    width = j1 - j0
    rows = c.shape[0]
    p = p0
    while p + 4 <= p1:
        w0, w1, w2, w3 = w[p, j0:j1], w[p + 1, j0:j1], w[p + 2, j0:j1], w[p + 3, j0:j1]
        for r in range(rows):
            x0, x1 = np.int32(h[i0 + r, p]), np.int32(h[i0 + r, p + 1])
            x2, x3 = np.int32(h[i0 + r, p + 2]), np.int32(h[i0 + r, p + 3])
            cr, ur, sr = c[r], u[r], s[r]
            for j in range(width):
                t0 = x0 * np.int32(w0[j])
                t1 = x1 * np.int32(w1[j])
                t2 = x2 * np.int32(w2[j])
                t3 = x3 * np.int32(w3[j])
                cr[j] += t0 + t1 + t2 + t3
                ur[j] += ((t0 & LOW) ^ m_lo) + ((t1 & LOW) ^ m_lo)
                ur[j] += ((t2 & LOW) ^ m_lo) + ((t3 & LOW) ^ m_lo)
                sr[j] += (t0 >> 15) + (t1 >> 15) + (t2 >> 15) + (t3 >> 15)
        p += 4
    while p < p1:
        wp = w[p, j0:j1]
        for r in range(rows):
            x = np.int32(h[i0 + r, p])
            cr, ur, sr = c[r], u[r], s[r]
            for j in range(width):
                t = x * np.int32(wp[j])
                cr[j] += t
                ur[j] += (t & LOW) ^ m_lo
                sr[j] += t >> 15
        p += 1


@_kernel(parallel=True)
def _product_witness(
    h: I8, w: I8, mask: Any, chunks: int, tile_rows: int, tile_cols: int, c_out: I32, w_out: I64
) -> None:
    """c_out[q] and w_out[q]: the result's and the witness's sums over K chunk q of `chunks`, for
    every output, tiles of tile_rows × tile_cols in parallel."""
    m, k = h.shape
    n = w.shape[1]
    m_lo = np.int32(mask & LOW)
    m_hi = np.int64(mask) >> 15
    per_term = m_hi << 15
    per_negative = (np.int64(1) << 15) + (m_hi << 16)
    row_tiles = (m + tile_rows - 1) // tile_rows
    col_tiles = (n + tile_cols - 1) // tile_cols
    chunk = (k + chunks - 1) // chunks
    for task in prange(chunks * row_tiles * col_tiles):
        q = task // (row_tiles * col_tiles)
        tile = task % (row_tiles * col_tiles)
        i0 = (tile // col_tiles) * tile_rows
        i1 = min(i0 + tile_rows, m)
        j0 = (tile % col_tiles) * tile_cols
        j1 = min(j0 + tile_cols, n)
        k0 = q * chunk
        k1 = min(k0 + chunk, k)
        c = np.zeros((i1 - i0, j1 - j0), np.int32)
        u = np.zeros_like(c)
        s = np.zeros_like(c)
        wide = np.zeros((i1 - i0, j1 - j0), np.int64)
        for p0 in range(k0, k1, SPAN):
            p1 = min(p0 + SPAN, k1)
            u[:] = 0
            s[:] = 0
            _span(h, w, i0, j0, j1, p0, p1, m_lo, c, u, s)
            base = (p1 - p0) * per_term
            for r in range(i1 - i0):
                for j in range(j1 - j0):
                    unsigned = np.int64(u[r, j]) & 0xFFFFFFFF
                    wide[r, j] += unsigned + base + np.int64(s[r, j]) * per_negative
        c_out[q, i0:i1, j0:j1] = c
        w_out[q, i0:i1, j0:j1] = wide


def product_witness(h: I8, weights: I8, bias: I32, mask: int) -> tuple[I32, I64]:
    """(h·weights + bias as int32, the witness W[i, j] = Σ_p (h[i, p]·weights[p, j]) ^ mask)."""
    h, weights = int8_matrix(h, "h"), int8_matrix(weights, "weights")
    check_product(h.shape, weights.shape)
    (m, k), n = h.shape, weights.shape[1]
    with _threads_for(m * k * n) as threads:
        if m <= FEW_ROWS:
            chunks = max(1, min(threads, k // 64))
            tile_rows, tile_cols = max(m, 1), FEW_ROWS_COLS
        else:
            chunks, tile_rows, tile_cols = 1, TILE_ROWS, TILE_COLS
        c_parts = np.zeros((chunks, m, n), np.int32)
        w_parts = np.zeros((chunks, m, n), np.int64)
        if m and n and k:
            _product_witness(
                h, weights, np.int64(mask), chunks, tile_rows, tile_cols, c_parts, w_parts
            )
    total = c_parts.sum(axis=0, dtype=np.int64) + bias.astype(np.int64)
    witness: I64 = w_parts[0] if chunks == 1 else w_parts.sum(axis=0, dtype=np.int64)
    return total.astype(np.int32), witness


@_kernel(parallel=True)
def _sgd_step_witness(
    x: I8,
    y: I16,
    rows: I64,
    w: I32,
    frac_bits: int,
    lr_shift: int,
    mask: Any,
    out: I32,
    w1: I64,
    w2: I64,
) -> None:
    """One step as `gpu_worker.kernels.cpu._sgd` computes it, each term also XORed into W1
    (pred's) or W2 (grad's)."""
    batch = rows.shape[0]
    features, outputs = w.shape
    wt = np.ascontiguousarray(w.T)
    err = np.empty((batch, outputs), np.int64)
    for b in prange(batch):
        xr = x[rows[b]]
        for o in range(outputs):
            wo = wt[o]
            pred = np.int64(0)
            witness = np.int64(0)
            for f in range(features):
                t = np.int64(xr[f]) * np.int64(wo[f])
                pred += t
                witness += t ^ mask
            w1[b, o] = witness
            e = pred - (np.int64(y[rows[b], o]) << frac_bits)
            err[b, o] = _clamp(e, I32_MIN, I32_MAX)
    half = np.int64(1) << (lr_shift - 1)
    for sl in prange((features + SGD_SLICE - 1) // SGD_SLICE):
        f0 = sl * SGD_SLICE
        f1 = min(f0 + SGD_SLICE, features)
        grad = np.zeros((outputs, f1 - f0), np.int64)
        wit = np.zeros((outputs, f1 - f0), np.int64)
        for b in range(batch):
            xr = x[rows[b], f0:f1]
            for o in range(outputs):
                e = err[b, o]
                go, wo = grad[o], wit[o]
                for f in range(f1 - f0):
                    t = np.int64(xr[f]) * e
                    go[f] += t
                    wo[f] += t ^ mask
        for f in range(f1 - f0):
            for o in range(outputs):
                updated = np.int64(w[f0 + f, o]) - ((grad[o, f] + half) >> lr_shift)
                out[f0 + f, o] = _clamp(updated, I32_MIN, I32_MAX)
                w2[f0 + f, o] = wit[o, f]


def sgd_step_witness(
    x: I8, y: I16, rows: I64, w: I32, frac_bits: int, lr_shift: int, mask: int
) -> tuple[I32, I64, I64]:
    """One sgd_fxp step on the batch `rows` from weights `w`: (the new weights, W1, W2)."""
    x = int8_matrix(x, "x")
    features, outputs = w.shape
    out: I32 = np.empty((features, outputs), np.int32)
    w1: I64 = np.empty((rows.shape[0], outputs), np.int64)
    w2: I64 = np.empty((features, outputs), np.int64)
    with _threads_for(2 * rows.shape[0] * features * outputs):
        _sgd_step_witness(
            x,
            read_only(np.ascontiguousarray(y, dtype=np.int16)),
            read_only(np.ascontiguousarray(rows, dtype=np.int64)),
            read_only(np.ascontiguousarray(w, dtype=np.int32)),
            frac_bits,
            lr_shift,
            np.int64(mask),
            out,
            w1,
            w2,
        )
    return out, w1, w2


__all__ = ["product_witness", "sgd_step_witness"]
