"""Float transformer parameters to a tfm_i8 model, with activation scales calibrated on sample text.

    weights = quantize(float_params, calibration_tokens, heads=4)

`float_params` is the float architecture's dict (`tok_emb`, `pos_emb`, `layers.{i}.wq`, ...,
`w_out`; shapes as runtime.tfm_layout lists them, float32 or float64). The float forward pass
(`float_forward`) runs over the calibration sequences and records the largest magnitude of each
activation the integer model requantizes; then:

- every matrix: symmetric int8, one scale per tensor, s_w = max|W| / 127, W_q = round(W / s_w);
- every activation quantized to int8 (LayerNorm outputs, q, k, v, the attention output, the
  GELU output): s = max|a| / 127 over the calibration, larger values saturating;
- the residual stream: one scale for the model, s_r = max|x| / RES_TARGET over every residual
  state of the calibration (embeddings and each add);
- biases: int32 in their accumulator's scale (s_in·s_w); LayerNorm's gamma int8 (s_g = max|g| /
  127) and beta int32 in the scale 2^−12·s_g;
- each requantization ratio r (from an accumulator's scale to its output's) becomes mult / 2^shift
  with mult in [2^30, 2^31), as for qmlp_i8; ln_eps = max(1, round(1e-5 / s_r²)).

ValueError where a ratio cannot be a (mult, shift) pair (a scale 2^30 times another), or the
calibration has no tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from gpu_worker.tfm.spec import FIXED_BITS, NORM_BITS, Requant, TfmLayer, TfmWeights
from runtime.tfm_layout import REQUANT_STEPS, TfmDescriptor, check_descriptor

F64 = npt.NDArray[np.float64]
RES_TARGET: Final = float(1 << 16)
"""The residual stream's largest calibrated magnitude, in integer units (the clamp is 2^22)."""
LN_EPS: Final = 1e-5
CALIBRATION_BATCH: Final = 32
"""Calibration sequences of one length run through the float model this many at a time."""
_TINY: Final = 1e-12


def layer_norm(x: F64, g: F64, b: F64) -> F64:
    """LN(x) = g·(x − mean)/sqrt(var + 1e-5) + b over the last axis."""
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: F64 = g * (x - mean) / np.sqrt(var + LN_EPS) + b
    return out


def erf(x: F64) -> F64:
    """erf, by Abramowitz and Stegun 7.1.26 (absolute error under 1.5·10^-7), vectorized."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                + t * 1.061405429))))  # fmt: skip
    out: F64 = np.sign(x) * (1.0 - poly * np.exp(-x * x))
    return out


def gelu(x: F64) -> F64:
    """GELU, the erf form."""
    out: F64 = 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))
    return out


@dataclass
class _Ranges:
    """The largest magnitude of each activation seen, by name."""

    top: dict[str, float] = field(default_factory=dict)
    percentile: float = 100.0
    """Each batch's magnitude at this percentile (100: its largest); the largest over batches."""

    def see(self, name: str, a: F64) -> None:
        if not a.size:
            return
        # The residual stream has 64 times headroom under its clamp: its scale is from its largest.
        pct = 100.0 if name == "res" else self.percentile
        magnitudes = np.abs(a)
        seen = float(magnitudes.max() if pct >= 100.0 else np.percentile(magnitudes, pct))
        self.top[name] = max(self.top.get(name, 0.0), seen)


def float_forward(
    params: dict[str, np.ndarray],
    tokens: Sequence[int] | np.ndarray,
    heads: int,
    ranges: _Ranges | None = None,
) -> F64:
    """The float architecture's logits [..., T, vocab] (float64) for a token sequence [T] or a
    batch of sequences of one length [N, T]."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    seen = ranges or _Ranges()
    t = np.asarray(tokens, np.int64)
    length = t.shape[-1]
    x = p["tok_emb"][t] + p["pos_emb"][:length]
    seen.see("res", x)
    n_layers = sum(1 for k in p if k.endswith(".wq"))
    d = x.shape[-1]
    dh = d // heads
    mask = np.triu(np.full((length, length), -np.inf), 1)

    def split(a: F64) -> F64:  # [..., T, D] -> [..., heads, T, dh]
        out: F64 = np.swapaxes(a.reshape(*a.shape[:-1], heads, dh), -2, -3)
        return out

    for i in range(n_layers):
        q_ = f"layers.{i}."
        h = layer_norm(x, p[q_ + "ln1_g"], p[q_ + "ln1_b"])
        seen.see(q_ + "ln1", h)
        q, k, v = (h @ p[q_ + w] + p[q_ + b] for w, b in (("wq", "bq"), ("wk", "bk"), ("wv", "bv")))
        for name, a in (("q", q), ("k", k), ("v", v)):
            seen.see(q_ + name, a)
        s = split(q) @ np.swapaxes(split(k), -1, -2) / math.sqrt(dh) + mask
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        heads_out = (e / e.sum(axis=-1, keepdims=True)) @ split(v)
        a = np.swapaxes(heads_out, -2, -3).reshape(x.shape)
        seen.see(q_ + "attn", a)
        x = x + a @ p[q_ + "wo"] + p[q_ + "bo"]
        seen.see("res", x)
        h = layer_norm(x, p[q_ + "ln2_g"], p[q_ + "ln2_b"])
        seen.see(q_ + "ln2", h)
        g = gelu(h @ p[q_ + "w1"] + p[q_ + "b1"])
        seen.see(q_ + "gelu", g)
        x = x + g @ p[q_ + "w2"] + p[q_ + "b2"]
        seen.see("res", x)
    h = layer_norm(x, p["lnf_g"], p["lnf_b"])
    seen.see("lnf", h)
    logits: F64 = h @ p["w_out"]
    return logits


def requant_of(ratio: float) -> Requant:
    """mult / 2^shift ≈ ratio with mult in [2^30, 2^31), or ValueError if shift leaves 1..62."""
    frac, exp = math.frexp(ratio)
    mult, shift = round(frac * (1 << 31)), 31 - exp
    if mult == 1 << 31:
        mult, shift = mult >> 1, shift - 1
    if not 1 <= shift <= 62:
        raise ValueError(f"a requantization ratio of {ratio:g} is outside 2^-32..2^30")
    return Requant(mult, shift)


def _matrix(w: np.ndarray) -> tuple[npt.NDArray[np.int8], float]:
    scale = max(float(np.abs(w).max(initial=0.0)), _TINY) / 127
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale


def _bias(b: np.ndarray, scale: float) -> npt.NDArray[np.int32]:
    limit = (1 << 30) - 1
    return np.clip(np.round(np.asarray(b, np.float64) / scale), -limit, limit).astype(np.int32)


def _act(ranges: _Ranges, name: str) -> float:
    return max(ranges.top[name], _TINY) / 127


def _layernorm_q(
    g: np.ndarray, b: np.ndarray, out_scale: float
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int32], Requant]:
    gq, sg = _matrix(np.asarray(g, np.float64))
    acc_scale = sg / (1 << NORM_BITS)
    return gq, _bias(b, acc_scale), requant_of(acc_scale / out_scale)


@dataclass(frozen=True, slots=True)
class Quantized:
    """A quantized model and the float value of one unit of its logits (s_lnf·s_w_out)."""

    weights: TfmWeights
    logit_scale: float


def quantize(
    float_params: dict[str, np.ndarray],
    calibration_tokens: Sequence[Sequence[int]] | np.ndarray,
    *,
    heads: int,
) -> TfmWeights:
    """The tfm_i8 model of `float_params`, activation scales from `calibration_tokens` (each a
    token sequence no longer than the context)."""
    return quantize_model(float_params, calibration_tokens, heads=heads).weights


def quantize_model(
    float_params: dict[str, np.ndarray],
    calibration_tokens: Sequence[Sequence[int]] | np.ndarray,
    *,
    heads: int,
    percentile: float = 100.0,
) -> Quantized:
    """`quantize`, with the float value of a unit of the logits (for perplexity and sampling
    temperatures: logits_int · logit_scale ≈ the float model's logits).

    `percentile` below 100 sets each int8 activation's scale from that percentile of its
    magnitudes in each calibration batch rather than the largest, saturating rare outliers for
    finer steps elsewhere (the residual stream's scale is always from its largest value)."""
    if not 50.0 <= percentile <= 100.0:
        raise ValueError(f"percentile must be from 50 to 100, not {percentile}")
    p = {k: np.asarray(v, np.float64) for k, v in float_params.items()}
    vocab, d = p["tok_emb"].shape
    n_layers = sum(1 for k in p if k.endswith(".wq"))
    descriptor: TfmDescriptor = check_descriptor(
        (vocab, p["pos_emb"].shape[0], d, heads, n_layers, p["layers.0.w1"].shape[1])
    )
    ranges = _Ranges(percentile=percentile)
    by_length: dict[int, list[np.ndarray]] = {}
    for sequence in calibration_tokens:
        seq = np.asarray(sequence, np.int64).reshape(-1)
        if len(seq) > descriptor.context:
            raise ValueError(
                f"a calibration sequence of {len(seq)} tokens is longer than the context "
                f"of {descriptor.context}"
            )
        if len(seq) and (seq.min() < 0 or seq.max() >= vocab):
            raise ValueError(f"a calibration token is outside the vocabulary 0..{vocab - 1}")
        if len(seq):
            by_length.setdefault(len(seq), []).append(seq)
    if not by_length:
        raise ValueError("quantize needs calibration tokens")
    for batch in by_length.values():
        for start in range(0, len(batch), CALIBRATION_BATCH):
            float_forward(p, np.stack(batch[start : start + CALIBRATION_BATCH]), heads, ranges)
    s_r = max(ranges.top["res"], _TINY) / RES_TARGET
    tok, s_tok = _matrix(p["tok_emb"])
    pos, s_pos = _matrix(p["pos_emb"])
    layers = []
    for i in range(n_layers):
        q_ = f"layers.{i}."
        s_ln1, s_ln2 = _act(ranges, q_ + "ln1"), _act(ranges, q_ + "ln2")
        s_q, s_k, s_v = (_act(ranges, q_ + n) for n in ("q", "k", "v"))
        s_att, s_gelu = _act(ranges, q_ + "attn"), _act(ranges, q_ + "gelu")
        ln1_g, ln1_b, rq_ln1 = _layernorm_q(p[q_ + "ln1_g"], p[q_ + "ln1_b"], s_ln1)
        ln2_g, ln2_b, rq_ln2 = _layernorm_q(p[q_ + "ln2_g"], p[q_ + "ln2_b"], s_ln2)
        m = {name: _matrix(p[q_ + name]) for name in ("wq", "wk", "wv", "wo", "w1", "w2")}
        fixed = float(1 << FIXED_BITS)
        ratios = {
            "q": s_ln1 * m["wq"][1] / s_q,
            "k": s_ln1 * m["wk"][1] / s_k,
            "v": s_ln1 * m["wv"][1] / s_v,
            "scores": s_q * s_k / math.sqrt(descriptor.head_dim) * fixed,
            "attn": s_v / 127 / s_att,
            "wo": s_att * m["wo"][1] / s_r,
            "w1": s_ln2 * m["w1"][1] * fixed,
            "gelu": 1 / fixed / s_gelu,
            "w2": s_gelu * m["w2"][1] / s_r,
        }
        rq = {name: requant_of(r) for name, r in ratios.items()}
        rq["ln1"], rq["ln2"] = rq_ln1, rq_ln2
        layers.append(
            TfmLayer(
                ln1_g=ln1_g,
                ln1_b=ln1_b,
                wq=m["wq"][0],
                bq=_bias(p[q_ + "bq"], s_ln1 * m["wq"][1]),
                wk=m["wk"][0],
                bk=_bias(p[q_ + "bk"], s_ln1 * m["wk"][1]),
                wv=m["wv"][0],
                bv=_bias(p[q_ + "bv"], s_ln1 * m["wv"][1]),
                wo=m["wo"][0],
                bo=_bias(p[q_ + "bo"], s_att * m["wo"][1]),
                ln2_g=ln2_g,
                ln2_b=ln2_b,
                w1=m["w1"][0],
                b1=_bias(p[q_ + "b1"], s_ln2 * m["w1"][1]),
                w2=m["w2"][0],
                b2=_bias(p[q_ + "b2"], s_gelu * m["w2"][1]),
                rq={name: rq[name] for name in REQUANT_STEPS},
            )
        )
    lnf_g, lnf_b, rq_lnf = _layernorm_q(p["lnf_g"], p["lnf_b"], _act(ranges, "lnf"))
    w_out, s_out = _matrix(p["w_out"])
    s_lnf = _act(ranges, "lnf")
    eps = min(max(1, round(LN_EPS / (s_r * s_r))), (1 << 31) - 1)
    weights = TfmWeights(
        descriptor=descriptor,
        ln_eps=eps,
        tok_emb=tok,
        pos_emb=pos,
        layers=tuple(layers),
        lnf_g=lnf_g,
        lnf_b=lnf_b,
        w_out=w_out,
        rq={"tok": requant_of(s_tok / s_r), "pos": requant_of(s_pos / s_r), "lnf": rq_lnf},
    )
    return Quantized(weights, s_lnf * s_out)
