"""The workloads in plain NumPy: the definition every kernel must match bit for bit.

Small and slow on purpose: each function is the arithmetic of runtime.workloads written out in
int64, so a reader can check it against the rules and the Numba kernels can be tested against it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gpu_worker.inputs import I8, I16, I32, I64, QmlpLayer
from gpu_worker.kernels.arguments import I32_MAX, I32_MIN, run_layers


def gemm(a: I8, b: I8) -> I32:
    """C = A·B with int32 accumulation (exact for K ≤ 131,071)."""
    return (a.astype(np.int64) @ b.astype(np.int64)).astype(np.int32)


def qmlp_layer(h: I8 | I32, layer: QmlpLayer) -> I32:
    """One layer's accumulators acc = h·W + b (exact in int32 under the workload's limits)."""
    acc = h.astype(np.int64) @ layer.weights.astype(np.int64) + layer.bias.astype(np.int64)
    return acc.astype(np.int32)


def requantize(acc: I32, layer: QmlpLayer) -> I8:
    """The next layer's input: clamp((acc·mult + 2^(shift−1)) >> shift, 0, 127) in int64."""
    scaled = (acc.astype(np.int64) * layer.mult + (1 << (layer.shift - 1))) >> layer.shift
    clipped: I8 = np.clip(scaled, 0, 127).astype(np.int8)
    return clipped


def qmlp(x: I8, layers: Sequence[QmlpLayer]) -> list[I32]:
    """Every layer's accumulators for a batch `x`; the last are the logits."""
    return run_layers(x, layers, qmlp_layer, requantize)


def sgd_step(w: I32, xb: I8, yb: I16, frac_bits: int, lr_shift: int) -> I32:
    """One step of fixed-point SGD with squared loss on a linear model.

    pred = X·W (weights in Q.frac_bits); err = clamp(pred − Y·2^frac_bits) to int32;
    grad = Xᵀ·err; W ← clamp(W − ((grad + 2^(lr_shift−1)) >> lr_shift)) to int32. All in int64,
    which none of it can overflow under the workload's limits.
    """
    x = xb.astype(np.int64)
    pred = x @ w.astype(np.int64)
    err = np.clip(pred - (yb.astype(np.int64) << frac_bits), I32_MIN, I32_MAX)
    grad = x.T @ err
    step = (grad + (1 << (lr_shift - 1))) >> lr_shift
    updated: I32 = np.clip(w.astype(np.int64) - step, I32_MIN, I32_MAX).astype(np.int32)
    return updated


def sgd(
    x: I8, y: I16, order: I64, frac_bits: int, lr_shift: int, *, start: I32 | None = None
) -> list[I32]:
    """The weights after each step, from zero weights (or `start`), batches by `order`."""
    features, outputs = x.shape[1], y.shape[1]
    w = np.zeros((features, outputs), np.int32) if start is None else start
    out: list[I32] = []
    for rows in order:
        w = sgd_step(w, x[rows], y[rows], frac_bits, lr_shift)
        out.append(w)
    return out
