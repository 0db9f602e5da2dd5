"""The tfm_i8 operations on the CPU: Numba kernels, bit-exact with gpu_worker.tfm.reference.

The matrix products are the project's int8 GEMM (`gpu_worker.kernels.cpu`, the qmlp_i8 layer
with its bias); the rest is one compiled loop per operation over the rows, calling the per-value
arithmetic of `gpu_worker.tfm.scalar`. Each kernel takes read-only contiguous arrays and int64
scalars, so it is compiled once (and cached on disk) whoever calls it.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from gpu_worker.inputs import I8, I32, I64, QmlpLayer
from gpu_worker.kernels import cpu as gemm_kernels
from gpu_worker.kernels import kernel_cache  # noqa: F401  (stamps the kernels' cache)
from gpu_worker.kernels.arguments import read_only
from gpu_worker.tfm import scalar
from gpu_worker.tfm.spec import (
    BIAS_LIMIT,
    GELU_LIMIT,
    I32_MAX,
    I32_MIN,
    NORM_BITS,
    RES_LIMIT,
    SCORE_LIMIT,
    SIGMA_BITS,
    Requant,
)

_jit: Any = numba.njit(cache=True, nogil=True)
_rq = _jit(scalar.rq_value)
_isqrt = _jit(scalar.isqrt_value)
_i_exp = _jit(scalar.i_exp_value)
_probability = _jit(scalar.probability_value)
_i_gelu = _jit(scalar.i_gelu_value)


def _embed_kernel(
    tok_emb: I8, pos_emb: I8, tokens: I64, start: int, tm: int, ts: int, pm: int, ps: int,
    out: I32,
) -> None:  # fmt: skip
    for r in range(tokens.shape[0]):
        for j in range(out.shape[1]):
            a = _rq(np.int64(tok_emb[tokens[r], j]), tm, ts, -RES_LIMIT, RES_LIMIT)
            b = _rq(np.int64(pos_emb[start + r, j]), pm, ps, -RES_LIMIT, RES_LIMIT)
            out[r, j] = min(max(a + b, -RES_LIMIT), RES_LIMIT)


def _layernorm_kernel(x: I32, g: I8, b: I32, eps: int, mult: int, shift: int, out: I8) -> None:
    d = x.shape[1]
    for r in range(x.shape[0]):
        total = np.int64(0)
        for j in range(d):
            total += x[r, j]
        mean = (2 * total + d) // (2 * d)
        squares = np.int64(0)
        for j in range(d):
            c = np.int64(x[r, j]) - mean
            squares += c * c
        sigma = _isqrt((squares // d + eps) << (2 * SIGMA_BITS))
        for j in range(d):
            c = np.int64(x[r, j]) - mean
            n = (c * (1 << (NORM_BITS + SIGMA_BITS + 1)) + sigma) // (2 * sigma)
            acc = min(max(n * np.int64(g[j]) + np.int64(b[j]), I32_MIN), I32_MAX)
            out[r, j] = _rq(acc, mult, shift, -128, 127)


def _requantize_kernel(acc: I32, mult: int, shift: int, out: I8) -> None:
    for r in range(acc.shape[0]):
        for j in range(acc.shape[1]):
            out[r, j] = _rq(np.int64(acc[r, j]), mult, shift, -128, 127)


def _softmax_kernel(scores: I32, mult: int, shift: int, start: int, e: I64, out: I8) -> None:
    keys = scores.shape[1]
    for r in range(scores.shape[0]):
        visible = min(start + r + 1, keys)
        top = np.int64(-SCORE_LIMIT)
        for j in range(visible):
            e[j] = _rq(np.int64(scores[r, j]), mult, shift, -SCORE_LIMIT, SCORE_LIMIT)
            top = max(top, e[j])
        total = np.int64(0)
        for j in range(visible):
            e[j] = _i_exp(e[j] - top)
            total += e[j]
        for j in range(visible):
            out[r, j] = _probability(e[j], total)
        for j in range(visible, keys):
            out[r, j] = 0


def _gelu_kernel(acc: I32, m1: int, s1: int, m2: int, s2: int, out: I8) -> None:
    for r in range(acc.shape[0]):
        for j in range(acc.shape[1]):
            g = _rq(np.int64(acc[r, j]), m1, s1, -GELU_LIMIT, GELU_LIMIT)
            out[r, j] = _rq(_i_gelu(g), m2, s2, -128, 127)


def _residual_kernel(x: I32, acc: I32, mult: int, shift: int, out: I32) -> None:
    for r in range(x.shape[0]):
        for j in range(x.shape[1]):
            a = _rq(np.int64(acc[r, j]), mult, shift, -RES_LIMIT, RES_LIMIT)
            out[r, j] = min(max(np.int64(x[r, j]) + a, -RES_LIMIT), RES_LIMIT)


_embed = _jit(_embed_kernel)
_layernorm = _jit(_layernorm_kernel)
_requantize = _jit(_requantize_kernel)
_softmax = _jit(_softmax_kernel)
_gelu = _jit(_gelu_kernel)
_residual = _jit(_residual_kernel)


def _ro(a: np.ndarray, dtype: Any) -> Any:
    return read_only(np.ascontiguousarray(a, dtype=dtype))


def embed(tok_emb: I8, pos_emb: I8, tokens: I64, start: int, tok: Requant, pos: Requant) -> I32:
    """The residual stream of `tokens` at positions start.. (reference.embed)."""
    out: I32 = np.empty((len(tokens), tok_emb.shape[1]), np.int32)
    _embed(
        _ro(tok_emb, np.int8), _ro(pos_emb, np.int8), _ro(tokens, np.int64), start,
        tok.mult, tok.shift, pos.mult, pos.shift, out,
    )  # fmt: skip
    return out


def layernorm(x: I32, g: I8, b: I32, eps: int, step: Requant) -> I8:
    """Integer LayerNorm of each row of x into int8 (reference.layernorm)."""
    out: I8 = np.empty(x.shape, np.int8)
    _layernorm(
        _ro(x, np.int32), _ro(g, np.int8), _ro(b, np.int32), max(eps, 1), step.mult, step.shift,
        out,
    )  # fmt: skip
    return out


def linear(h: I8, w: I8, b: I32) -> I32:
    """acc = h·W + clamp(b, ±(2^30 − 1)) (reference.linear), by the int8 GEMM."""
    bias = np.clip(b, -BIAS_LIMIT, BIAS_LIMIT).astype(np.int32)
    return gemm_kernels.qmlp_layer(_ro(h, np.int8), QmlpLayer(_ro(w, np.int8), bias, 1, 1))


def gemm(a: I8, b: I8) -> I32:
    """a·b with int32 accumulation (reference.gemm)."""
    return gemm_kernels.gemm(a, b)


def requantize(acc: I32, step: Requant) -> I8:
    """rq(acc; step; −128, 127) (reference.requantize)."""
    out: I8 = np.empty(acc.shape, np.int8)
    _requantize(_ro(acc, np.int32), step.mult, step.shift, out)
    return out


def softmax(scores: I32, step: Requant, start: int) -> I8:
    """Causal integer softmax into int8 probabilities (reference.softmax)."""
    out: I8 = np.empty(scores.shape, np.int8)
    work: I64 = np.empty(scores.shape[1], np.int64)
    _softmax(_ro(scores, np.int32), step.mult, step.shift, start, work, out)
    return out


def gelu(acc: I32, w1: Requant, step: Requant) -> I8:
    """Integer GELU of the first MLP matrix's accumulators into int8 (reference.gelu)."""
    out: I8 = np.empty(acc.shape, np.int8)
    _gelu(_ro(acc, np.int32), w1.mult, w1.shift, step.mult, step.shift, out)
    return out


def residual(x: I32, acc: I32, step: Requant) -> I32:
    """x + rq(acc; step; ±RES_LIMIT), clamped (reference.residual)."""
    out: I32 = np.empty(x.shape, np.int32)
    _residual(_ro(x, np.int32), _ro(acc, np.int32), step.mult, step.shift, out)
    return out
