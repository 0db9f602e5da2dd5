"""The tfm_i8 operations on an NVIDIA GPU: numba.cuda kernels, bit-exact with the reference.

The matrix products are the project's int8 GEMM kernel (`gpu_worker.kernels.cuda`, the qmlp_i8
layer with its bias); the rest is a kernel per operation, a thread per value (embedding,
requantization, GELU, residual add) or per row (LayerNorm and softmax, whose sums run along the
row), calling the per-value arithmetic of `gpu_worker.tfm.scalar` compiled as device functions.
Each function takes and returns NumPy arrays, like the reference; kernels compile at their first
launch, so importing this module needs no GPU (tests run it in Numba's CUDA simulator).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from numba import cuda as numba_cuda

from gpu_worker.inputs import I8, I32, I64, QmlpLayer
from gpu_worker.kernels import cuda as gemm_kernels
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

cuda: Any = numba_cuda
"""numba.cuda, untyped: its kernel API (grid, to_device) is made at run time."""
THREADS: Final = 8 if gemm_kernels.SIMULATOR else 128
"""Threads per block of the element-wise and row kernels."""
_device = cuda.jit(device=True)
_rq = _device(scalar.rq_value)
_isqrt = _device(scalar.isqrt_value)
_i_exp = _device(scalar.i_exp_value)
_probability = _device(scalar.probability_value)
_i_gelu = _device(scalar.i_gelu_value)


def _embed_kernel(tok_emb: Any, pos_emb: Any, tokens: Any, start: Any, tm: Any, ts: Any, pm: Any,
           ps: Any, out: Any) -> None:  # fmt: skip
    i = cuda.grid(1)
    d = out.shape[1]
    if i < out.size:
        r, j = i // d, i % d
        a = _rq(np.int64(tok_emb[tokens[r], j]), tm, ts, -RES_LIMIT, RES_LIMIT)
        b = _rq(np.int64(pos_emb[start + r, j]), pm, ps, -RES_LIMIT, RES_LIMIT)
        out[r, j] = min(max(a + b, -RES_LIMIT), RES_LIMIT)


def _layernorm_kernel(x: Any, g: Any, b: Any, eps: Any, mult: Any, shift: Any, out: Any) -> None:
    r = cuda.grid(1)
    d = x.shape[1]
    if r < x.shape[0]:
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


def _requantize_kernel(acc: Any, mult: Any, shift: Any, out: Any) -> None:
    i = cuda.grid(1)
    cols = acc.shape[1]
    if i < acc.size:
        r, j = i // cols, i % cols
        out[r, j] = _rq(np.int64(acc[r, j]), mult, shift, -128, 127)


def _softmax_kernel(scores: Any, mult: Any, shift: Any, start: Any, e: Any, out: Any) -> None:
    r = cuda.grid(1)
    keys = scores.shape[1]
    if r < scores.shape[0]:
        visible = min(start + r + 1, keys)
        top = np.int64(-SCORE_LIMIT)
        for j in range(visible):
            e[r, j] = _rq(np.int64(scores[r, j]), mult, shift, -SCORE_LIMIT, SCORE_LIMIT)
            top = max(top, e[r, j])
        total = np.int64(0)
        for j in range(visible):
            e[r, j] = _i_exp(e[r, j] - top)
            total += e[r, j]
        for j in range(visible):
            out[r, j] = _probability(e[r, j], total)
        for j in range(visible, keys):
            out[r, j] = 0


def _gelu_kernel(acc: Any, m1: Any, s1: Any, m2: Any, s2: Any, out: Any) -> None:
    i = cuda.grid(1)
    cols = acc.shape[1]
    if i < acc.size:
        r, j = i // cols, i % cols
        g = _rq(np.int64(acc[r, j]), m1, s1, -GELU_LIMIT, GELU_LIMIT)
        out[r, j] = _rq(_i_gelu(g), m2, s2, -128, 127)


def _residual_kernel(x: Any, acc: Any, mult: Any, shift: Any, out: Any) -> None:
    i = cuda.grid(1)
    cols = x.shape[1]
    if i < x.size:
        r, j = i // cols, i % cols
        a = _rq(np.int64(acc[r, j]), mult, shift, -RES_LIMIT, RES_LIMIT)
        out[r, j] = min(max(np.int64(x[r, j]) + a, -RES_LIMIT), RES_LIMIT)


_embed = cuda.jit(_embed_kernel)
_layernorm = cuda.jit(_layernorm_kernel)
_requantize = cuda.jit(_requantize_kernel)
_softmax = cuda.jit(_softmax_kernel)
_gelu = cuda.jit(_gelu_kernel)
_residual = cuda.jit(_residual_kernel)


def _grid(count: int) -> int:
    return max(1, -(-count // THREADS))


def _on(a: np.ndarray, dtype: Any) -> Any:
    return cuda.to_device(np.ascontiguousarray(a, dtype=dtype))


def _i64(v: int) -> np.int64:
    return np.int64(v)


def embed(tok_emb: I8, pos_emb: I8, tokens: I64, start: int, tok: Requant, pos: Requant) -> I32:
    """The residual stream of `tokens` at positions start.. (reference.embed)."""
    d_out = cuda.device_array((len(tokens), tok_emb.shape[1]), np.int32)
    _embed[_grid(d_out.size), THREADS](
        _on(tok_emb, np.int8), _on(pos_emb, np.int8), _on(tokens, np.int64), _i64(start),
        _i64(tok.mult), _i64(tok.shift), _i64(pos.mult), _i64(pos.shift), d_out,
    )  # fmt: skip
    out: I32 = d_out.copy_to_host()
    return out


def layernorm(x: I32, g: I8, b: I32, eps: int, step: Requant) -> I8:
    """Integer LayerNorm of each row of x into int8 (reference.layernorm)."""
    d_out = cuda.device_array(x.shape, np.int8)
    _layernorm[_grid(x.shape[0]), THREADS](
        _on(x, np.int32), _on(g, np.int8), _on(b, np.int32), _i64(max(eps, 1)),
        _i64(step.mult), _i64(step.shift), d_out,
    )  # fmt: skip
    out: I8 = d_out.copy_to_host()
    return out


def linear(h: I8, w: I8, b: I32) -> I32:
    """acc = h·W + clamp(b, ±(2^30 − 1)) (reference.linear), by the int8 GEMM kernel."""
    bias = np.clip(b, -BIAS_LIMIT, BIAS_LIMIT).astype(np.int32)
    layer = QmlpLayer(np.ascontiguousarray(w, np.int8), bias, 1, 1)
    return gemm_kernels.qmlp_layer(np.ascontiguousarray(h, np.int8), layer)


def gemm(a: I8, b: I8) -> I32:
    """a·b with int32 accumulation (reference.gemm)."""
    return gemm_kernels.gemm(a, b)


def requantize(acc: I32, step: Requant) -> I8:
    """rq(acc; step; −128, 127) (reference.requantize)."""
    d_out = cuda.device_array(acc.shape, np.int8)
    _requantize[_grid(acc.size), THREADS](
        _on(acc, np.int32), _i64(step.mult), _i64(step.shift), d_out
    )
    out: I8 = d_out.copy_to_host()
    return out


def softmax(scores: I32, step: Requant, start: int) -> I8:
    """Causal integer softmax into int8 probabilities (reference.softmax)."""
    d_out = cuda.device_array(scores.shape, np.int8)
    work = cuda.device_array(scores.shape, np.int64)
    _softmax[_grid(scores.shape[0]), THREADS](
        _on(scores, np.int32), _i64(step.mult), _i64(step.shift), _i64(start), work, d_out
    )
    out: I8 = d_out.copy_to_host()
    return out


def gelu(acc: I32, w1: Requant, step: Requant) -> I8:
    """Integer GELU of the first MLP matrix's accumulators into int8 (reference.gelu)."""
    d_out = cuda.device_array(acc.shape, np.int8)
    _gelu[_grid(acc.size), THREADS](
        _on(acc, np.int32), _i64(w1.mult), _i64(w1.shift), _i64(step.mult), _i64(step.shift),
        d_out,
    )  # fmt: skip
    out: I8 = d_out.copy_to_host()
    return out


def residual(x: I32, acc: I32, step: Requant) -> I32:
    """x + rq(acc; step; ±RES_LIMIT), clamped (reference.residual)."""
    d_out = cuda.device_array(x.shape, np.int32)
    _residual[_grid(x.size), THREADS](
        _on(x, np.int32), _on(acc, np.int32), _i64(step.mult), _i64(step.shift), d_out
    )
    out: I32 = d_out.copy_to_host()
    return out
