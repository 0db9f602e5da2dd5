"""The recomputation witness in plain NumPy: the definition the fused kernels must match.

Small and slow on purpose. Each function forms every product term of the recomputation as an
int64 array, once, and from it both the sum the result needs and the witness Σ (term XOR mask)
(`gpu_worker.witness` defines it). The results go through the same int64 arithmetic as
`gpu_worker.reference`, so the leaf is the reference's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gpu_worker import reference
from gpu_worker.inputs import I8, I16, I32, I64, QmlpLayer
from gpu_worker.kernels.arguments import I32_MAX, I32_MIN, check_product, int8_matrix


def product_witness(h: I8, weights: I8, bias: I32, mask: int) -> tuple[I32, I64]:
    """(h·weights + bias as int32, the witness W[i, j] = Σ_p (h[i, p]·weights[p, j]) ^ mask)."""
    check_product(h.shape, weights.shape)
    h64, w64 = h.astype(np.int64), weights.astype(np.int64)
    total = np.zeros((h.shape[0], weights.shape[1]), np.int64)
    witness = np.zeros_like(total)
    for p in range(h.shape[1]):
        terms = h64[:, p, None] * w64[None, p, :]
        total += terms
        witness += terms ^ np.int64(mask)
    return (total + bias.astype(np.int64)).astype(np.int32), witness


def qmlp_witness(x: I8, layers: Sequence[QmlpLayer], mask: int) -> tuple[I32, list[I64]]:
    """The last layer's accumulators for rows `x` through `layers`, and each layer's witness."""
    h = int8_matrix(x, "x")
    witnesses: list[I64] = []
    acc: I32 = np.zeros((h.shape[0], 0), np.int32)
    for j, layer in enumerate(layers):
        acc, witness = product_witness(h, layer.weights, layer.bias, mask)
        witnesses.append(witness)
        if j + 1 < len(layers):
            h = reference.requantize(acc, layer)
    return acc, witnesses


def sgd_step_witness(
    x: I8, y: I16, rows: I64, w: I32, frac_bits: int, lr_shift: int, mask: int
) -> tuple[I32, I64, I64]:
    """One sgd_fxp step on the batch `rows` from weights `w`, as `reference.sgd_step`: (the new
    weights, W1 over pred's terms xb[i, f]·w[f, o], W2 over grad's terms xb[i, f]·err[i, o])."""
    xb = x[rows].astype(np.int64)
    w64 = w.astype(np.int64)
    batch, features = xb.shape
    outputs = w.shape[1]
    pred = np.zeros((batch, outputs), np.int64)
    w1 = np.zeros_like(pred)
    for f in range(features):
        terms = xb[:, f, None] * w64[None, f, :]
        pred += terms
        w1 += terms ^ np.int64(mask)
    err = np.clip(pred - (y[rows].astype(np.int64) << frac_bits), I32_MIN, I32_MAX)
    grad = np.zeros((features, outputs), np.int64)
    w2 = np.zeros_like(grad)
    for i in range(batch):
        terms = xb[i, :, None] * err[i, None, :]
        grad += terms
        w2 += terms ^ np.int64(mask)
    step = (grad + (1 << (lr_shift - 1))) >> lr_shift
    updated: I32 = np.clip(w64 - step, I32_MIN, I32_MAX).astype(np.int32)
    return updated, w1, w2


__all__ = ["product_witness", "qmlp_witness", "sgd_step_witness"]
