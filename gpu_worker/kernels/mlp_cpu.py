"""mlp_fxp training on the CPU: one Numba @njit kernel, bit-exact with `gpu_worker.mlp_fxp`.

Every sum is exact in int64 (the workload's bounds keep it below 2^62), so the kernel may add in
any order: it runs each product with the output's row contiguous in the inner loop (which LLVM
vectorizes) and keeps the parameters as a flat int64 copy of the checkpoint layout, layer
offsets in a table, so one compiled signature serves every depth. One thread: the digits model's
steps are too short for a parallel region to pay its start (about 30 µs a region, several a
step). The GPU's kernels are `kernels.mlp_cuda`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numba
import numpy as np

from gpu_worker.inputs import I8, I16, I32, I64
from gpu_worker.kernels import kernel_cache  # noqa: F401  (stamps the kernels' cache)
from gpu_worker.kernels.arguments import read_only
from gpu_worker.mlp_fxp import (
    ACTIVATION_MAX,
    ERROR_LIMIT,
    WEIGHT_LIMIT,
    checked_train_args,
)


@numba.njit(cache=True, nogil=True)
def _train(
    x: Any,
    y: Any,
    order: Any,
    every: int,
    frac_bits: int,
    lr_shift: int,
    dims: Any,
    params: Any,
    mask: int,
    witness: Any,
    out: Any,
) -> None:  # pragma: no cover - compiled
    """Train from `params` (flat int64, updated in place), writing checkpoint t to out[t] and,
    where `witness` has rows, step s's layer-0 witness to witness[s]."""
    layers = dims.shape[0] - 1
    batch = order.shape[1]
    # Offsets of W_j and b_j in params, and of h_j in the activation rows.
    w_at = np.empty(layers, np.int64)
    b_at = np.empty(layers, np.int64)
    h_at = np.empty(layers + 1, np.int64)
    at = 0
    width = 0
    for j in range(layers):
        w_at[j] = at
        at += dims[j] * dims[j + 1]
        b_at[j] = at
        at += dims[j + 1]
        h_at[j] = width
        width += dims[j]
    h_at[layers] = width
    widest = 0
    for j in range(layers + 1):
        widest = max(widest, dims[j])
    h = np.empty((batch, width), np.int64)  # h_0..h_{L−1}, side by side
    m = np.zeros((batch, width), np.int64)  # the masks, where h_j's are
    delta = np.empty((batch, widest), np.int64)
    back = np.empty((batch, widest), np.int64)
    acc = np.empty(widest, np.int64)
    wit = np.empty(widest, np.int64)
    grad = np.empty(widest, np.int64)
    half_f = np.int64(1) << (frac_bits - 1)
    half_lr = np.int64(1) << (lr_shift - 1)
    keep = witness.shape[0] > 0
    mask64 = np.int64(mask)
    for s in range(order.shape[0]):
        rows = order[s]
        for r in range(batch):
            for i in range(dims[0]):
                h[r, i] = x[rows[r], i]
        # forward
        for j in range(layers):
            d_in, d_out = dims[j], dims[j + 1]
            w = params[w_at[j] : w_at[j] + d_in * d_out].reshape((d_in, d_out))
            b = params[b_at[j] : b_at[j] + d_out]
            witnessed = j == 0 and keep
            for r in range(batch):
                hr = h[r, h_at[j] : h_at[j] + d_in]
                for o in range(d_out):
                    acc[o] = b[o]
                if witnessed:  # the same terms, each also XORed into the witness's sums
                    for o in range(d_out):
                        wit[o] = 0
                    for i in range(d_in):
                        hv = hr[i]
                        wi = w[i]
                        for o in range(d_out):
                            term = hv * wi[o]
                            acc[o] += term
                            wit[o] += term ^ mask64
                    for o in range(d_out):
                        witness[s, r, o] = wit[o]
                else:
                    for i in range(d_in):
                        hv = hr[i]
                        wi = w[i]
                        for o in range(d_out):
                            acc[o] += hv * wi[o]
                if j + 1 < layers:
                    hn = h[r, h_at[j + 1] : h_at[j + 1] + d_out]
                    mn = m[r, h_at[j + 1] : h_at[j + 1] + d_out]
                    for o in range(d_out):
                        pre = (acc[o] + half_f) >> frac_bits
                        mn[o] = 1 if 0 < pre < ACTIVATION_MAX else 0
                        hn[o] = min(max(pre, 0), ACTIVATION_MAX)
                else:
                    yr = y[rows[r]]
                    for o in range(d_out):
                        e = acc[o] - (np.int64(yr[o]) << frac_bits)
                        delta[r, o] = min(max(e, -ERROR_LIMIT), ERROR_LIMIT)
        # backward and update, last layer first
        for j in range(layers - 1, -1, -1):
            d_in, d_out = dims[j], dims[j + 1]
            w = params[w_at[j] : w_at[j] + d_in * d_out].reshape((d_in, d_out))
            b = params[b_at[j] : b_at[j] + d_out]
            if j > 0:
                for r in range(batch):
                    dr = delta[r, :d_out]
                    mr = m[r, h_at[j] : h_at[j] + d_in]
                    for i in range(d_in):
                        wi = w[i]
                        total = np.int64(0)
                        for o in range(d_out):
                            total += dr[o] * wi[o]
                        v = (total + half_f) >> frac_bits
                        back[r, i] = min(max(v, -ERROR_LIMIT), ERROR_LIMIT) * mr[i]
            for i in range(d_in):
                for o in range(d_out):
                    grad[o] = 0
                for r in range(batch):
                    hv = h[r, h_at[j] + i]
                    if hv != 0:
                        dr = delta[r, :d_out]
                        for o in range(d_out):
                            grad[o] += hv * dr[o]
                wi = w[i]
                for o in range(d_out):
                    v = wi[o] - ((grad[o] + half_lr) >> lr_shift)
                    wi[o] = min(max(v, -WEIGHT_LIMIT), WEIGHT_LIMIT)
            for o in range(d_out):
                total = np.int64(0)
                for r in range(batch):
                    total += delta[r, o]
                v = b[o] - ((total + half_lr) >> lr_shift)
                b[o] = min(max(v, -WEIGHT_LIMIT), WEIGHT_LIMIT)
            if j > 0:
                for r in range(batch):
                    for i in range(d_in):
                        delta[r, i] = back[r, i]
        if (s + 1) % every == 0:
            t = (s + 1) // every - 1
            for k in range(params.shape[0]):
                out[t, k] = params[k]


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
    """As `gpu_worker.mlp_fxp.train`, compiled: the checkpoints, and each step's witness."""
    x = checked_train_args(x, y, order, every, frac_bits, lr_shift, start, dims)
    steps, batch = order.shape
    out: I32 = np.empty((steps // every, len(start)), np.int32)
    mask = -1 if witness_mask is None else int(witness_mask)
    witness: I64 = np.empty((steps, batch, dims[1]) if mask >= 0 else (0, 0, 0), np.int64)
    _train(
        x,
        read_only(np.ascontiguousarray(y)),
        read_only(np.ascontiguousarray(order, dtype=np.int64)),
        every,
        frac_bits,
        lr_shift,
        read_only(np.asarray(dims, np.int64)),
        np.array(start, np.int64),  # a copy: the kernel trains it in place
        max(mask, 0),
        witness,
        out,
    )
    return out, list(witness)


__all__ = ["train"]
