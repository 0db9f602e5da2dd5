"""The tfm_i8 architecture in floating point: parameters, forward pass and its backward pass.

    shape = LmShape(vocab=256, context=64, d_model=128, heads=4, layers=2, d_ff=512)
    params = init_params(shape, seed=0)                     # float32, the shared names
    loss, grads = loss_and_grads(params, shape, inputs, targets)
    scores = logits(params, shape, inputs)                 # [B, T, vocab]

The model is the decoder-only, pre-LayerNorm transformer the tfm_i8 workload runs in integers
(the integer scheme approximates exactly this):

    x = tok_emb[t] + pos_emb[p]
    for each layer:  x = x + Attention(LN1(x));  x = x + W2·GELU(W1·LN2(x) + b1) + b2
    logits = LNf(x) @ w_out

with causal softmax attention over `heads` heads scaled by 1/sqrt(d_model/heads), GELU in its
erf form and LN(x) = g·(x − mean)/sqrt(var + 1e-5) + b. The backward pass is written out by hand
(no autodiff library ships here); tests/gpu_worker/test_lm_float.py checks it against finite
differences in float64. Every function keeps its input's float type: float32 for training,
float64 for the check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy.special import erf  # type: ignore[import-untyped]

from runtime.tfm_layout import TfmDescriptor

Array = npt.NDArray[np.floating[Any]]
Params = dict[str, Array]
Tokens = npt.NDArray[np.integer[Any]]

LN_EPSILON: Final = 1e-5
INIT_STD: Final = 0.02
"""The standard deviation of the initial weights (the residual projections' is scaled down)."""
_INV_SQRT2: Final = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI: Final = 1.0 / math.sqrt(2.0 * math.pi)


LmShape = TfmDescriptor
"""A tfm_i8 descriptor: (vocab, context, d_model, heads, layers, d_ff), in that order."""


class ShapeError(ValueError):
    """A model shape, parameter set or token array that does not fit the architecture."""


def check_shape(shape: LmShape) -> None:
    """ShapeError unless every dimension is positive and heads divides d_model."""
    if min(shape) < 1:
        raise ShapeError(f"every dimension must be positive: {tuple(shape)}")
    if shape.d_model % shape.heads:
        raise ShapeError(f"d_model {shape.d_model} is not a multiple of heads {shape.heads}")


def param_shapes(shape: LmShape) -> dict[str, tuple[int, ...]]:
    """Every parameter's name and array shape, in the architecture's order."""
    v, c, d, f = shape.vocab, shape.context, shape.d_model, shape.d_ff
    shapes: dict[str, tuple[int, ...]] = {"tok_emb": (v, d), "pos_emb": (c, d)}
    for i in range(shape.layers):
        p = f"layers.{i}."
        shapes |= {p + "ln1_g": (d,), p + "ln1_b": (d,)}
        shapes |= {p + name: (d, d) for name in ("wq", "wk", "wv", "wo")}
        shapes |= {p + name: (d,) for name in ("bq", "bk", "bv", "bo")}
        shapes |= {p + "ln2_g": (d,), p + "ln2_b": (d,)}
        shapes |= {p + "w1": (d, f), p + "b1": (f,), p + "w2": (f, d), p + "b2": (d,)}
    return shapes | {"lnf_g": (d,), "lnf_b": (d,), "w_out": (d, v)}


def check_params(params: Params, shape: LmShape) -> None:
    """ShapeError unless `params` has exactly the shape's names with their array shapes."""
    expected = param_shapes(shape)
    if set(params) != set(expected):
        missing, extra = sorted(set(expected) - set(params)), sorted(set(params) - set(expected))
        raise ShapeError(f"parameter names differ: missing {missing}, unexpected {extra}")
    for name, dims in expected.items():
        if params[name].shape != dims:
            raise ShapeError(f"{name} has shape {params[name].shape}, expected {dims}")


def init_params(shape: LmShape, seed: int) -> Params:
    """Fresh float32 parameters: normal(0, INIT_STD) weights (the two residual projections
    scaled by 1/sqrt(2·layers), as GPT-2 does), zero biases, unit LayerNorm gains."""
    check_shape(shape)
    rng = np.random.default_rng(seed)
    residual_std = INIT_STD / math.sqrt(2 * shape.layers)
    params: Params = {}
    for name, dims in param_shapes(shape).items():
        leaf = name.rsplit(".", 1)[-1]
        if leaf.endswith("_g"):
            params[name] = np.ones(dims, dtype=np.float32)
        elif len(dims) == 1:
            params[name] = np.zeros(dims, dtype=np.float32)
        else:
            std = residual_std if leaf in ("wo", "w2") else INIT_STD
            params[name] = rng.normal(0.0, std, size=dims).astype(np.float32)
    return params


# The pieces, each with its backward


def _layer_norm(x: Array, g: Array, b: Array) -> tuple[Array, tuple[Array, Array]]:
    centred = x - x.mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + LN_EPSILON)
    normed = centred * rstd
    return normed * g + b, (normed, rstd)


def _layer_norm_backward(
    dy: Array, g: Array, saved: tuple[Array, Array]
) -> tuple[Array, Array, Array]:
    normed, rstd = saved
    dnormed = dy * g
    dx = rstd * (
        dnormed
        - dnormed.mean(axis=-1, keepdims=True)
        - normed * (dnormed * normed).mean(axis=-1, keepdims=True)
    )
    rows = dy.reshape(-1, dy.shape[-1])
    return dx, (rows * normed.reshape(rows.shape)).sum(axis=0), rows.sum(axis=0)


def _gelu(u: Array) -> Array:
    result: Array = 0.5 * u * (1.0 + erf(u * _INV_SQRT2))
    return result


def _gelu_derivative(u: Array) -> Array:
    cdf = 0.5 * (1.0 + erf(u * _INV_SQRT2))
    result: Array = cdf + u * _INV_SQRT_2PI * np.exp(-0.5 * u * u)
    return result


def _linear(x: Array, w: Array, b: Array | None = None) -> Array:
    """x[..., in] @ w[in, out] (+ b), as one matrix product over all leading axes."""
    out = x.reshape(-1, x.shape[-1]) @ w
    if b is not None:
        out += b
    return out.reshape(*x.shape[:-1], w.shape[1])


def _weight_grad(x: Array, dy: Array) -> Array:
    """The gradient of w in y = x @ w, summed over all leading axes."""
    result: Array = x.reshape(-1, x.shape[-1]).T @ dy.reshape(-1, dy.shape[-1])
    return result


def _split_heads(x: Array, heads: int) -> Array:
    b, t, d = x.shape
    return x.reshape(b, t, heads, d // heads).transpose(0, 2, 1, 3)


def _merge_heads(x: Array) -> Array:
    b, h, t, e = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, t, h * e)


@dataclass(slots=True)
class _LayerSaved:
    ln1: tuple[Array, Array]
    h1: Array
    q: Array
    k: Array
    v: Array
    probs: Array
    attended: Array
    ln2: tuple[Array, Array]
    h2: Array
    pre_gelu: Array
    activated: Array


@dataclass(slots=True)
class _Saved:
    tokens: Tokens
    layers: list[_LayerSaved]
    lnf: tuple[Array, Array]
    final: Array


def _check_tokens(tokens: Tokens, shape: LmShape) -> None:
    if tokens.ndim != 2 or not 1 <= tokens.shape[1] <= shape.context:
        raise ShapeError(f"tokens must be [batch, 1..{shape.context}], got {tokens.shape}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= shape.vocab):
        raise ShapeError(f"tokens must lie in 0..{shape.vocab - 1}")


def _forward(params: Params, shape: LmShape, tokens: Tokens) -> tuple[Array, _Saved]:
    """The logits [B, T, vocab] of `tokens` [B, T], and what the backward pass needs."""
    _check_tokens(tokens, shape)
    t = tokens.shape[1]
    x = params["tok_emb"][tokens] + params["pos_emb"][:t]
    scale = 1.0 / math.sqrt(shape.head_dim)
    future = np.triu(np.ones((t, t), dtype=bool), k=1)
    saved_layers = []
    for i in range(shape.layers):
        p = f"layers.{i}."
        h1, ln1 = _layer_norm(x, params[p + "ln1_g"], params[p + "ln1_b"])
        q, k, v = (
            _split_heads(_linear(h1, params[p + w], params[p + b]), shape.heads)
            for w, b in (("wq", "bq"), ("wk", "bk"), ("wv", "bv"))
        )
        scores = (q @ k.transpose(0, 1, 3, 2)) * scale
        scores[..., future] = -np.inf
        scores -= scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        attended = _merge_heads(probs @ v)
        x = x + _linear(attended, params[p + "wo"], params[p + "bo"])
        h2, ln2 = _layer_norm(x, params[p + "ln2_g"], params[p + "ln2_b"])
        pre_gelu = _linear(h2, params[p + "w1"], params[p + "b1"])
        activated = _gelu(pre_gelu)
        x = x + _linear(activated, params[p + "w2"], params[p + "b2"])
        saved_layers.append(
            _LayerSaved(ln1, h1, q, k, v, probs, attended, ln2, h2, pre_gelu, activated)
        )
    final, lnf = _layer_norm(x, params["lnf_g"], params["lnf_b"])
    return _linear(final, params["w_out"]), _Saved(tokens, saved_layers, lnf, final)


def _backward(params: Params, shape: LmShape, saved: _Saved, dlogits: Array) -> Params:
    """The gradient of every parameter, given the loss's gradient with respect to the logits."""
    grads: Params = {"w_out": _weight_grad(saved.final, dlogits)}
    dx, grads["lnf_g"], grads["lnf_b"] = _layer_norm_backward(
        _linear(dlogits, params["w_out"].T), params["lnf_g"], saved.lnf
    )
    scale = 1.0 / math.sqrt(shape.head_dim)
    for i in reversed(range(shape.layers)):
        p, s = f"layers.{i}.", saved.layers[i]
        # x = x + GELU(h2 @ w1 + b1) @ w2 + b2
        grads[p + "w2"] = _weight_grad(s.activated, dx)
        grads[p + "b2"] = dx.reshape(-1, dx.shape[-1]).sum(axis=0)
        dpre = _linear(dx, params[p + "w2"].T) * _gelu_derivative(s.pre_gelu)
        grads[p + "w1"] = _weight_grad(s.h2, dpre)
        grads[p + "b1"] = dpre.reshape(-1, dpre.shape[-1]).sum(axis=0)
        dln, grads[p + "ln2_g"], grads[p + "ln2_b"] = _layer_norm_backward(
            _linear(dpre, params[p + "w1"].T), params[p + "ln2_g"], s.ln2
        )
        dx = dx + dln
        # x = x + concat(softmax(q kᵀ·scale + mask) v) @ wo + bo
        grads[p + "wo"] = _weight_grad(s.attended, dx)
        grads[p + "bo"] = dx.reshape(-1, dx.shape[-1]).sum(axis=0)
        dattended = _split_heads(_linear(dx, params[p + "wo"].T), shape.heads)
        dprobs = dattended @ s.v.transpose(0, 1, 3, 2)
        dv = s.probs.transpose(0, 1, 3, 2) @ dattended
        dscores = s.probs * (dprobs - (dprobs * s.probs).sum(axis=-1, keepdims=True)) * scale
        dq = dscores @ s.k
        dk = dscores.transpose(0, 1, 3, 2) @ s.q
        dh1 = np.zeros_like(dx)
        for w, b, d in (("wq", "bq", dq), ("wk", "bk", dk), ("wv", "bv", dv)):
            merged = _merge_heads(d)
            grads[p + w] = _weight_grad(s.h1, merged)
            grads[p + b] = merged.reshape(-1, merged.shape[-1]).sum(axis=0)
            dh1 += _linear(merged, params[p + w].T)
        dln, grads[p + "ln1_g"], grads[p + "ln1_b"] = _layer_norm_backward(
            dh1, params[p + "ln1_g"], s.ln1
        )
        dx = dx + dln
    t = saved.tokens.shape[1]
    grads["pos_emb"] = np.zeros_like(params["pos_emb"])
    grads["pos_emb"][:t] = dx.sum(axis=0)
    grads["tok_emb"] = np.zeros_like(params["tok_emb"])
    np.add.at(grads["tok_emb"], saved.tokens.reshape(-1), dx.reshape(-1, dx.shape[-1]))
    return grads


def logits(params: Params, shape: LmShape, tokens: Tokens) -> Array:
    """The model's next-token logits [B, T, vocab] for `tokens` [B, T] (T ≤ context)."""
    scores, _ = _forward(params, shape, np.asarray(tokens))
    return scores


def cross_entropy(scores: Array, targets: Tokens) -> tuple[float, Array]:
    """The mean next-token cross-entropy (nats) and its gradient with respect to `scores`."""
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exps = np.exp(shifted)
    sums = exps.sum(axis=-1, keepdims=True)
    picked = np.take_along_axis(shifted, targets[..., None], axis=-1)
    loss = float((np.log(sums) - picked).mean())
    dscores = exps / sums
    np.put_along_axis(
        dscores, targets[..., None], np.take_along_axis(dscores, targets[..., None], -1) - 1, -1
    )
    dscores /= targets.size
    return loss, dscores


def loss_and_grads(
    params: Params, shape: LmShape, inputs: Tokens, targets: Tokens
) -> tuple[float, Params]:
    """The mean cross-entropy of predicting `targets` from `inputs` (both [B, T]) and its
    gradient with respect to every parameter."""
    inputs, targets = np.asarray(inputs), np.asarray(targets)
    if targets.shape != inputs.shape:
        raise ShapeError(f"targets {targets.shape} do not match inputs {inputs.shape}")
    scores, saved = _forward(params, shape, inputs)
    loss, dscores = cross_entropy(scores, targets)
    return loss, _backward(params, shape, saved, dscores)
