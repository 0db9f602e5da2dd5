"""The tfm_i8 forward pass, one composition of the integer operations for every device.

    result = forward(weights, tokens, device="cpu")      # "reference", "cpu" or "cuda"
    result.logits                                        # int32 [T, vocab]
    result.layers[i]                                     # int32 [T, d_model]: x after layer i

`result.layers` are what a job commits to (per layer, per block of token positions): layer i's
rows r0..r1 follow from layer i − 1's rows 0..r1 alone (`forward_layer(..., start=r0)`), since a
query sees only the positions before it, so an audit recomputes one (layer, block) leaf from the
committed leaves before it (`gpu_worker.tfm.leaves`). `extend_layer` runs new positions through
a layer given the earlier positions' keys and values (`KeyValues`), which generation uses. Every
device runs the same steps; only the operations differ, and each device's operations give the
reference's bits.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np

from gpu_worker.inputs import I8, I32, I64
from gpu_worker.tfm.spec import Requant, TfmLayer, TfmWeights

DEVICES = ("reference", "cpu", "cuda")


class TokensError(ValueError):
    """Tokens a model cannot take: out of its vocabulary, or more than its context."""


class Ops(Protocol):
    """The integer operations a device provides (gpu_worker.tfm.reference defines them)."""

    def embed(
        self, tok_emb: I8, pos_emb: I8, tokens: I64, start: int, tok: Requant, pos: Requant
    ) -> I32: ...
    def layernorm(self, x: I32, g: I8, b: I32, eps: int, step: Requant) -> I8: ...
    def linear(self, h: I8, w: I8, b: I32) -> I32: ...
    def gemm(self, a: I8, b: I8) -> I32: ...
    def requantize(self, acc: I32, step: Requant) -> I8: ...
    def softmax(self, scores: I32, step: Requant, start: int) -> I8: ...
    def gelu(self, acc: I32, w1: Requant, step: Requant) -> I8: ...
    def residual(self, x: I32, acc: I32, step: Requant) -> I32: ...


@dataclass(frozen=True, slots=True)
class TfmForward:
    """A forward pass's logits and each layer's output (the residual stream after it)."""

    logits: I32
    layers: tuple[I32, ...]


def ops_for(device: str) -> Ops:
    """The operations of `device` ("reference", "cpu" or "cuda")."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r} (known: {', '.join(DEVICES)})")
    return cast(Ops, importlib.import_module(f"gpu_worker.tfm.{device}"))


def check_tokens(weights: TfmWeights, tokens: Sequence[int] | np.ndarray) -> I64:
    """`tokens` as int64, or TokensError unless 1 ≤ count ≤ context and each is in the vocab."""
    array = np.asarray(tokens)
    if array.ndim != 1 or not array.size:
        raise TokensError(f"tokens must be a non-empty sequence, not shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise TokensError(f"tokens must be integers, not {array.dtype}")
    vocab, context = weights.descriptor.vocab, weights.descriptor.context
    if array.size > context:
        raise TokensError(f"{array.size} tokens, more than the model's context of {context}")
    if array.min() < 0 or array.max() >= vocab:
        raise TokensError(f"a token is outside the model's vocabulary 0..{vocab - 1}")
    out: I64 = array.astype(np.int64)
    return out


def attention(ops: Ops, q: I8, k: I8, v: I8, heads: int, step: Requant, start: int) -> I32:
    """Each head's P·V (int32) side by side, for the query rows q of positions start.. ."""
    dh = q.shape[1] // heads
    outs = []
    for h in range(heads):
        cols = slice(h * dh, (h + 1) * dh)
        kt: I8 = np.ascontiguousarray(k[:, cols].T)
        p = ops.softmax(ops.gemm(np.ascontiguousarray(q[:, cols]), kt), step, start)
        outs.append(ops.gemm(p, np.ascontiguousarray(v[:, cols])))
    out: I32 = np.ascontiguousarray(np.concatenate(outs, axis=1))
    return out


@dataclass(slots=True)
class KeyValues:
    """One layer's int8 keys and values of every position so far (a row's depend on it alone)."""

    k: I8
    v: I8

    @classmethod
    def empty(cls, d_model: int) -> KeyValues:
        """No positions yet."""
        return cls(np.zeros((0, d_model), np.int8), np.zeros((0, d_model), np.int8))


def _keys_values(ops: Ops, layer: TfmLayer, h: I8) -> tuple[I8, I8]:
    k = ops.requantize(ops.linear(h, layer.wk, layer.bk), layer.rq["k"])
    v = ops.requantize(ops.linear(h, layer.wv, layer.bv), layer.rq["v"])
    return k, v


def extend_layer(ops: Ops, weights: TfmWeights, i: int, x: I32, kv: KeyValues) -> I32:
    """Layer i's output for new rows x, the positions after those whose keys and values `kv`
    holds; their keys and values are appended to `kv`."""
    layer: TfmLayer = weights.layers[i]
    rq, eps = layer.rq, weights.ln_eps
    start = kv.k.shape[0]
    h = ops.layernorm(x, layer.ln1_g, layer.ln1_b, eps, rq["ln1"])
    q = ops.requantize(ops.linear(h, layer.wq, layer.bq), rq["q"])
    k, v = _keys_values(ops, layer, h)
    kv.k, kv.v = np.concatenate([kv.k, k]), np.concatenate([kv.v, v])
    heads = weights.descriptor.heads
    a = ops.requantize(attention(ops, q, kv.k, kv.v, heads, rq["scores"], start), rq["attn"])
    x1 = ops.residual(x, ops.linear(a, layer.wo, layer.bo), rq["wo"])
    h2 = ops.layernorm(x1, layer.ln2_g, layer.ln2_b, eps, rq["ln2"])
    g = ops.gelu(ops.linear(h2, layer.w1, layer.b1), rq["w1"], rq["gelu"])
    return ops.residual(x1, ops.linear(g, layer.w2, layer.b2), rq["w2"])


def forward_layer(ops: Ops, weights: TfmWeights, i: int, x: I32, start: int = 0) -> I32:
    """Layer i's output rows start.. from its input x (rows 0..: every position a row sees)."""
    kv = KeyValues.empty(weights.descriptor.d_model)
    if start:
        layer = weights.layers[i]
        h = ops.layernorm(x[:start], layer.ln1_g, layer.ln1_b, weights.ln_eps, layer.rq["ln1"])
        kv.k, kv.v = _keys_values(ops, layer, h)
    return extend_layer(ops, weights, i, x[start:], kv)


def logits_of(ops: Ops, weights: TfmWeights, x: I32) -> I32:
    """The logits of the last layer's output rows x: LNf(x)·w_out."""
    h = ops.layernorm(x, weights.lnf_g, weights.lnf_b, weights.ln_eps, weights.rq["lnf"])
    return ops.linear(h, weights.w_out, np.zeros(weights.descriptor.vocab, np.int32))


def forward(
    weights: TfmWeights, tokens: Sequence[int] | np.ndarray, device: str = "reference"
) -> TfmForward:
    """The logits of every position of `tokens` and each layer's output, on `device`."""
    ops = ops_for(device)
    t = check_tokens(weights, tokens)
    x = ops.embed(weights.tok_emb, weights.pos_emb, t, 0, weights.rq["tok"], weights.rq["pos"])
    layers = []
    for i in range(weights.descriptor.layers):
        x = forward_layer(ops, weights, i, x)
        layers.append(x)
    return TfmForward(logits_of(ops, weights, x), tuple(layers))
