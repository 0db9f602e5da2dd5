"""The tfm_i8 operations in plain NumPy: the definition the Numba CPU and CUDA kernels match.

Each function is a step of `gpu_worker.tfm.spec`'s scheme written out in int64, short enough to
check against the spec by eye; `gpu_worker.tfm.forward` composes them into the forward pass.
"""

from __future__ import annotations

import math

import numpy as np

from gpu_worker.inputs import I8, I32, I64
from gpu_worker.tfm.spec import (
    BIAS_LIMIT,
    ERF_A,
    ERF_CLIP,
    EXP_B,
    EXP_C,
    EXP_MAX_SHIFT,
    GELU_LIMIT,
    I32_MAX,
    I32_MIN,
    LN2_Q,
    NORM_BITS,
    PROB_ONE,
    RES_LIMIT,
    SCORE_LIMIT,
    SIGMA_BITS,
    Requant,
)


def rq(a: np.ndarray, step: Requant, lo: int, hi: int) -> I64:
    """clamp((a·mult + 2^(s−1)) >> s, lo, hi), s = clamp(shift, 1, 62), in int64."""
    s = min(max(step.shift, 1), 62)
    scaled = (a.astype(np.int64) * step.mult + (1 << (s - 1))) >> s
    out: I64 = np.clip(scaled, lo, hi)
    return out


def requantize(acc: I32 | I64, step: Requant) -> I8:
    """Accumulators to int8 activations: rq(acc; step; −128, 127)."""
    out: I8 = rq(acc, step, -128, 127).astype(np.int8)
    return out


def linear(h: I8, w: I8, b: I32) -> I32:
    """acc = h·W + clamp(b, ±(2^30 − 1)): int32, exact."""
    bias = np.clip(b.astype(np.int64), -BIAS_LIMIT, BIAS_LIMIT)
    out: I32 = (h.astype(np.int64) @ w.astype(np.int64) + bias).astype(np.int32)
    return out


def gemm(a: I8, b: I8) -> I32:
    """a·b with int32 accumulation (exact for K ≤ 131,071)."""
    out: I32 = (a.astype(np.int64) @ b.astype(np.int64)).astype(np.int32)
    return out


def embed(tok_emb: I8, pos_emb: I8, tokens: I64, start: int, tok: Requant, pos: Requant) -> I32:
    """The residual stream of `tokens` at positions start, start + 1, ...: each token's row of
    tok_emb and its position's row of pos_emb, each rescaled to the residual's scale, added."""
    positions = np.arange(start, start + len(tokens))
    x = rq(tok_emb[tokens], tok, -RES_LIMIT, RES_LIMIT) + rq(
        pos_emb[positions], pos, -RES_LIMIT, RES_LIMIT
    )
    out: I32 = np.clip(x, -RES_LIMIT, RES_LIMIT).astype(np.int32)
    return out


def residual(x: I32, acc: I32, step: Requant) -> I32:
    """x + rq(acc; step; ±RES_LIMIT), clamped to ±RES_LIMIT."""
    total = x.astype(np.int64) + rq(acc, step, -RES_LIMIT, RES_LIMIT)
    out: I32 = np.clip(total, -RES_LIMIT, RES_LIMIT).astype(np.int32)
    return out


def isqrt(n: I64) -> I64:
    """⌊√n⌋ of each non-negative value, exactly."""
    return np.array([math.isqrt(int(v)) for v in n.ravel()], np.int64).reshape(n.shape)


def layernorm(x: I32, g: I8, b: I32, eps: int, step: Requant) -> I8:
    """Integer LayerNorm of each row of x into int8 (spec: mean, var, isqrt, Q12, rq)."""
    d = x.shape[1]
    x64 = x.astype(np.int64)
    mean = (2 * x64.sum(axis=1, keepdims=True) + d) // (2 * d)
    c = x64 - mean
    var = (c * c).sum(axis=1, keepdims=True) // d
    sigma = isqrt((var + max(eps, 1)) << (2 * SIGMA_BITS))
    n = (c * (1 << (NORM_BITS + SIGMA_BITS + 1)) + sigma) // (2 * sigma)
    acc = np.clip(n * g.astype(np.int64) + b.astype(np.int64), I32_MIN, I32_MAX)
    return requantize(acc, step)


def i_exp(d: I64) -> I64:
    """I-BERT's integer exp of d ≤ 0 in Q10, in units of 1 / (0.3585·2^20)."""
    k = (-d) // LN2_Q
    r = d + k * LN2_Q
    poly = (r + EXP_B) ** 2 + EXP_C
    out: I64 = np.where(k > EXP_MAX_SHIFT, 0, poly >> np.minimum(k, EXP_MAX_SHIFT))
    return out


def softmax(scores: I32, step: Requant, start: int) -> I8:
    """Causal integer softmax of a block of score rows into int8 probabilities (scale 1/127).

    Row r is the query at position start + r; it sees the keys j ≤ start + r, and the others
    get probability 0."""
    rows, keys = scores.shape
    z = rq(scores, step, -SCORE_LIMIT, SCORE_LIMIT)
    visible = np.arange(keys)[None, :] <= (start + np.arange(rows))[:, None]
    top = np.where(visible, z, -SCORE_LIMIT).max(axis=1, keepdims=True)
    e = np.where(visible, i_exp(np.minimum(z - top, 0)), 0)
    total = e.sum(axis=1, keepdims=True)
    out: I8 = ((2 * PROB_ONE * e + total) // (2 * total)).astype(np.int8)
    return out


def i_gelu(g: I64) -> I64:
    """I-BERT's integer GELU of g in Q10, in Q10."""
    t = np.minimum(np.abs(g), ERF_CLIP) - ERF_CLIP
    erf = np.sign(g) * ((1 << 20) + ((ERF_A * t * t) >> 16))
    out: I64 = (g * ((1 << 20) + erf)) >> 21
    return out


def gelu(acc: I32, w1: Requant, step: Requant) -> I8:
    """GELU of the first MLP matrix's accumulators, into int8: rq(i_gelu(rq(acc; w1)); step)."""
    g = rq(acc, w1, -GELU_LIMIT, GELU_LIMIT)
    return requantize(i_gelu(g), step)
