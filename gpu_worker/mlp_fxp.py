"""mlp_fxp: fixed-point mini-batch SGD on an MLP, the arithmetic every device must match.

A job trains an MLP of widths d0 → d1 → … → dL (params [samples, batch, steps, every,
frac_bits F, lr_shift, d0, …, dL]; `runtime.workloads.mlp_shape`) on inputs x (samples×d0 int8)
and y (samples×dL int16 targets). Everything is integer, in int64, and no sum can overflow under
the workload's bounds, so the order of additions does not matter and every device gives the same
bits.

The parameters: per layer j, weights W_j (d_j×d_{j+1}) and bias b_j (d_{j+1}), int32 in
Q.F fixed point (the real value is W/2^F), each clamped to ±WEIGHT_LIMIT after every update.
A checkpoint (a leaf) is the layers in order, each W_j row-major then b_j, little-endian int32;
read as the start of the next checkpoint, each word is clamped to ±WEIGHT_LIMIT (an honest
checkpoint's already are; a faked one's may not be, and the bounds below need them to be).

Initial weights (`initial_parameters`), from the job's seed alone: W_j's d_j·d_{j+1} int32
words are the counter-based stream `inputs.seed_stream(seed, "mlp_fxp", f"init.{j}", 4·d_j·
d_{j+1})` read little-endian, each shifted right (arithmetic) by 31 − INIT_BITS(F, d_j), which is
uniform in [−2^bits, 2^bits) with bits = max(1, F + 1 − ⌊log₂ d_j⌋/2): real weights of about
±2/√d_j. Biases start at zero. The batch of step s is row s of the order stream
(`inputs.batch_order_rows(..., workload="mlp_fxp")`), as for sgd_fxp.

One step on the batch rows r (B of them), with half(k) = 2^(k−1):
  forward    h_0 = x[r] (int8 values); for j < L: acc_j = h_j·W_j + b_j;
             for j < L − 1: pre_{j+1} = (acc_j + half(F)) >> F,
             h_{j+1} = clamp(pre_{j+1}, 0, 127) (a clipped ReLU, activations 0..127 as in
             qmlp_i8), and its derivative mask m_{j+1} = [0 < pre_{j+1} < 127].
  loss       squared error on the targets: e = clamp(acc_{L−1} − (y[r] << F), ±ERROR_LIMIT),
             which is dLoss/dlogits of ½Σ(z − y)² in Q.F. Chosen over a softmax because its
             gradient is exactly integer with no table or approximation, and the requester's
             targets (a one-hot class scaled to, say, 64) make it a classifier.
  backward   δ_{L−1} = e; for j = L−1 down to 0: G_j = h_jᵀ·δ_j, g_j = Σ_rows δ_j;
             for j > 0, with W_j as it was before this step:
             δ_{j−1} = clamp((δ_j·W_jᵀ + half(F)) >> F, ±ERROR_LIMIT) · m_j;
  update     W_j ← clamp(W_j − ((G_j + half(lr_shift)) >> lr_shift), ±WEIGHT_LIMIT), and b_j
             the same with g_j: a learning rate of 2^−lr_shift on the batch's summed gradient.
All shifts are arithmetic (rounding half up). Bounds: |h| ≤ 128, |W|, |b| < 2^24, |δ| < 2^26,
widths and batch ≤ 4,096 = 2^12, F ≤ 20 and |y| ≤ 2^15: every sum stays below 2^62.

The checks: a leaf t is the parameters after (t + 1)·every steps; its audit recomputes its
`every` steps from the committed checkpoint t − 1 (from the seed's weights for t = 0). The
recomputation witness (`gpu_worker.witness`) of a leaf is, for each of its steps in order, the
masked sums of layer 0's forward terms x[r_b, i]·W_0[i, o] (shape B×d1): W_0 at each step is
known only to whoever ran the steps before it, whose intermediate states are never published.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Final

import numpy as np

from gpu_worker.inputs import I8, I16, I32, I64, seed_stream
from gpu_worker.kernels.arguments import int8_matrix

WEIGHT_LIMIT: Final = (1 << 24) - 1
"""Weights and biases are clamped to ±WEIGHT_LIMIT (Q.F) after every update."""
ERROR_LIMIT: Final = (1 << 26) - 1
"""Errors and the gradients carried back are clamped to ±ERROR_LIMIT (Q.F)."""
ACTIVATION_MAX: Final = 127
"""Hidden activations are clamped to 0..ACTIVATION_MAX."""


def init_bits(frac_bits: int, d_in: int) -> int:
    """The initial weights of a layer with `d_in` inputs lie in [−2^bits, 2^bits)."""
    return max(1, frac_bits + 1 - (d_in.bit_length() - 1) // 2)


def parameter_count(dims: Sequence[int]) -> int:
    """int32 words in a checkpoint: per layer d_j·d_{j+1} weights and d_{j+1} biases."""
    return sum(a * b + b for a, b in itertools.pairwise(dims))


def initial_parameters(seed: int, dims: Sequence[int], frac_bits: int) -> I32:
    """The parameters a job starts from, as a flat checkpoint (see the module)."""
    parts: list[I32] = []
    for j, (d_in, d_out) in enumerate(itertools.pairwise(dims)):
        raw = seed_stream(seed, "mlp_fxp", f"init.{j}", 4 * d_in * d_out)
        words = np.frombuffer(raw, "<i4").astype(np.int32)
        parts.append(words >> np.int32(31 - init_bits(frac_bits, d_in)))
        parts.append(np.zeros(d_out, np.int32))
    return np.concatenate(parts)


def split_parameters(flat: I32, dims: Sequence[int]) -> list[tuple[I32, I32]]:
    """(W_j, b_j) views of a flat checkpoint, per layer."""
    if flat.shape != (parameter_count(dims),):
        raise ValueError(f"a checkpoint of {list(dims)} has {parameter_count(dims)} words")
    layers: list[tuple[I32, I32]] = []
    at = 0
    for d_in, d_out in itertools.pairwise(dims):
        w = flat[at : at + d_in * d_out].reshape(d_in, d_out)
        at += d_in * d_out
        layers.append((w, flat[at : at + d_out]))
        at += d_out
    return layers


def _half(shift: int) -> int:
    return 1 << (shift - 1)


def _forward(
    x: I8, layers: Sequence[tuple[I64, I64]], frac_bits: int
) -> tuple[list[I64], list[I64], I64]:
    """(h_0..h_{L−1}, the masks m_1..m_{L−1}, the logits acc_{L−1}) in int64."""
    hs: list[I64] = [x.astype(np.int64)]
    masks: list[I64] = []
    acc = hs[0]
    for j, (w, b) in enumerate(layers):
        acc = hs[-1] @ w + b
        if j + 1 < len(layers):
            pre = (acc + _half(frac_bits)) >> frac_bits
            masks.append(((pre > 0) & (pre < ACTIVATION_MAX)).astype(np.int64))
            hs.append(np.clip(pre, 0, ACTIVATION_MAX))
    return hs, masks, acc


def logits(flat: I32, dims: Sequence[int], x: I8, frac_bits: int) -> I64:
    """The logits (Q.F) of a checkpoint for rows `x`: the forward pass of a step."""
    layers = [(w.astype(np.int64), b.astype(np.int64)) for w, b in split_parameters(flat, dims)]
    return _forward(x, layers, frac_bits)[2]


def train_step(
    layers: list[tuple[I64, I64]],
    xb: I8,
    yb: I16,
    frac_bits: int,
    lr_shift: int,
    witness_mask: int | None = None,
) -> I64 | None:
    """One step on the batch (xb, yb), updating `layers` (int64 W_j, b_j) in place; with
    `witness_mask`, also the step's witness array (the masked sums of layer 0's forward terms)."""
    hs, masks, acc = _forward(xb, layers, frac_bits)
    witness = None
    if witness_mask is not None:
        w0 = layers[0][0]
        witness = np.zeros((xb.shape[0], w0.shape[1]), np.int64)
        h0 = hs[0]
        for i in range(w0.shape[0]):
            witness += (h0[:, i, None] * w0[None, i, :]) ^ np.int64(witness_mask)
    target = yb.astype(np.int64) << frac_bits
    delta = np.clip(acc - target, -ERROR_LIMIT, ERROR_LIMIT)
    half_lr = _half(lr_shift)
    for j in range(len(layers) - 1, -1, -1):
        w, b = layers[j]
        grad_w = hs[j].T @ delta
        grad_b = delta.sum(axis=0)
        if j > 0:
            back = (delta @ w.T + _half(frac_bits)) >> frac_bits
            delta = np.clip(back, -ERROR_LIMIT, ERROR_LIMIT) * masks[j - 1]
        w -= (grad_w + half_lr) >> lr_shift
        b -= (grad_b + half_lr) >> lr_shift
        np.clip(w, -WEIGHT_LIMIT, WEIGHT_LIMIT, out=w)
        np.clip(b, -WEIGHT_LIMIT, WEIGHT_LIMIT, out=b)
    return witness


def checked_train_args(
    x: np.ndarray,
    y: I16,
    order: I64,
    every: int,
    frac_bits: int,
    lr_shift: int,
    start: I32,
    dims: Sequence[int],
) -> I8:
    """`x` as an int8 matrix, once the compiled kernels' arguments are checked against each other
    (shapes, sample indices, the shifts' ranges); ValueError naming the first that is not."""
    x = int8_matrix(x, "x")
    if y.ndim != 2 or y.dtype != np.int16 or y.shape != (x.shape[0], dims[-1]):
        raise ValueError(f"y must be int16 of {x.shape[0]}×{dims[-1]}, not {y.dtype} {y.shape}")
    if x.shape[1] != dims[0]:
        raise ValueError(f"x has {x.shape[1]} columns, the model's input {dims[0]}")
    if order.ndim != 2 or order.shape[0] % every:
        raise ValueError(f"order of shape {order.shape} is not whole checkpoints of {every}")
    if order.size and (int(order.min()) < 0 or int(order.max()) >= x.shape[0]):
        raise ValueError(f"order holds sample indices outside 0..{x.shape[0] - 1}")
    if start.shape != (parameter_count(dims),):
        raise ValueError(f"start must hold {parameter_count(dims)} words, not {start.shape}")
    if not 1 <= frac_bits <= 20 or not 1 <= lr_shift <= 62:
        raise ValueError(f"frac_bits {frac_bits} or lr_shift {lr_shift} is out of range")
    return x


def _flat(layers: Sequence[tuple[I64, I64]]) -> I32:
    return np.concatenate([part.reshape(-1) for layer in layers for part in layer]).astype(np.int32)


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
    """The checkpoints (len(order)/every × parameter_count, int32) of training from `start` on
    the batches `order` (steps×batch sample indices), and with `witness_mask` each step's
    witness array. The NumPy reference: slow and plain."""
    if order.shape[0] % every:
        raise ValueError(f"{order.shape[0]} steps are not whole checkpoints of {every}")
    layers = [(w.astype(np.int64), b.astype(np.int64)) for w, b in split_parameters(start, dims)]
    checkpoints: list[I32] = []
    witnesses: list[I64] = []
    for s, rows in enumerate(order):
        witness = train_step(layers, x[rows], y[rows], frac_bits, lr_shift, witness_mask)
        if witness is not None:
            witnesses.append(witness)
        if (s + 1) % every == 0:
            checkpoints.append(_flat(layers))
    out: I32 = np.stack(checkpoints) if checkpoints else np.zeros((0, len(start)), np.int32)
    return out, witnesses


__all__ = [
    "ACTIVATION_MAX",
    "ERROR_LIMIT",
    "WEIGHT_LIMIT",
    "checked_train_args",
    "init_bits",
    "initial_parameters",
    "logits",
    "parameter_count",
    "split_parameters",
    "train",
    "train_step",
]
