"""The tfm_i8 integer scheme: every constant, the weights as int tensors, and their blob codec.

A tfm_i8 model (`runtime.tfm_layout` gives its descriptor and blob layout) computes the float
architecture below with integers only; `gpu_worker.tfm.reference` writes each step in NumPy and
the Numba CPU and CUDA kernels give the same bits.

    x = tok_emb[t] + pos_emb[p]
    for each layer: x = x + Attn(LN1(x)); x = x + W2·GELU(W1·LN2(x) + b1) + b2
    logits = LNf(x)·w_out

Numbers and scales (the scales are float only in `quantize`, which turns them into the integer
constants below; the forward pass never sees a float):

- Matrices are int8, symmetric, one scale per tensor (a per-column scale would need a
  requantization per column, and an int8·int8 product with one scale is what Freivalds checks).
- A matrix product of int8 activations h [T, K] and int8 weights W [K, N] accumulates in int32,
  exactly (|h·w| ≤ 2^14, K ≤ 8,192): acc = h·W + b' with the int32 bias clamped to
  b' = clamp(b, −(2^30 − 1), 2^30 − 1), as qmlp_i8 does.
- Requantization by a (mult, shift) pair, both int32, as qmlp_i8 writes it, with bounds:
  rq(a; mult, shift; lo, hi) = clamp((a·mult + 2^(s−1)) >> s, lo, hi), s = clamp(shift, 1, 62),
  a an int32 value, in int64 (|a·mult| ≤ 2^62); >> is the arithmetic shift (floor), so the
  rounding is half up. Into int8: lo, hi = −128, 127.
- The residual stream x is int32 in one scale for the whole model, clamped to ±RES_LIMIT at every
  add (`quantize` puts the calibration's largest value at about 2^16, 64 times under the clamp).
  Embedding: x[p] = clamp(rq(tok_emb[t_p]; tok; ±RES) + rq(pos_emb[p]; pos; ±RES), ±RES).
  Residual add: x ← clamp(x + rq(acc; step; ±RES), ±RES). (So every layer's input is within
  ±RES; an audit clamps committed rows to it before recomputing from them.)
- LayerNorm (I-BERT's integer form), per row of D values of x, all in int64:
  mean = ⌊(2·Σx + D) / 2D⌋;  c = x − mean;  var = ⌊Σc² / D⌋;  σ = isqrt((var + ε)·2^16)
  (the standard deviation in units of 2^−SIGMA_BITS, so a row of small spread keeps its
  precision) with ε = max(ln_eps, 1) and isqrt the exact floor of the square root;
  n = ⌊(c·2^(NORM_BITS+SIGMA_BITS+1) + σ) / 2σ⌋ (c/σ in Q12, rounded half up);
  out = rq(clamp(n·g + b, int32); ln; −128, 127) with g the int8 gamma and b the int32 beta in
  the scale 2^−12·s_g.
- Attention, per head h of width dh: q, k, v = rq(acc; q|k|v; −128, 127) (int8); scores
  S = q_h·k_hᵀ (int32, exact); z = rq(S; scores; ±SCORE_LIMIT), the scores in Q10 fixed point
  (units of 2^−FIXED_BITS, the 1/√dh folded into the pair). Softmax (I-BERT's i-exp) over the
  positions j ≤ i a query i may see (causal mask), in int64: m = max_j z_j; d = z_j − m ≤ 0;
  k = ⌊−d / LN2_Q⌋; r = d + k·LN2_Q ∈ (−LN2_Q, 0]; e = ((r + EXP_B)² + EXP_C) >> k, or 0 when
  k > EXP_MAX_SHIFT (e approximates exp(d·2^−10) in units of 1 / (0.3585·2^20)); s = Σ_j e;
  p_j = ⌊(2·PROB_ONE·e_j + s) / 2s⌋ ∈ [0, 127] (int8, scale 1/127; masked positions 0).
  O_h = P_h·V_h (int32, exact for T ≤ 4,096); the heads' O side by side, rq(O; attn; −128, 127),
  then ·wo + bo and the residual add.
- GELU (I-BERT's i-GELU, the erf form): g = rq(acc₁; w1; ±GELU_LIMIT) in Q10; a = min(|g|,
  ERF_CLIP); t = a − ERF_CLIP; erf = sign(g)·(2^20 + ((ERF_A·t²) >> 16)) (erf(g/√2) in Q20:
  I-BERT's sign(x)·(−0.2888·(min(|x|, 1.769) − 1.769)² + 1) at x = g/√2); y = (g·(2^20 + erf))
  >> 21 (GELU in Q10); out = rq(y; gelu; −128, 127), then ·w2 + b2 and the residual add.
- Logits: LNf(x)·w_out, int32 [T, vocab], no bias.

Every (mult, shift) pair and ln_eps is carried in the weights (`TfmWeights`); the Q-formats and
the i-exp and i-GELU coefficients are the constants of this module. A blob of the right size
always decodes to a model whose arithmetic is defined (out-of-range biases and shifts are
clamped where they are used, as for qmlp_i8); the codec refuses only a wrong header or size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Final

import numpy as np

from gpu_worker.inputs import I8, I32
from runtime.tfm_layout import (
    HEADER_BYTES,
    MAGIC,
    MODEL_REQUANT_STEPS,
    REQUANT_STEPS,
    DescriptorError,
    TfmDescriptor,
    check_descriptor,
    tensor_layout,
    weights_size,
)

RES_LIMIT: Final = (1 << 22) - 1
"""The residual stream's clamp: keeps LayerNorm's Σc² within int64 for D ≤ 8,192."""
NORM_BITS: Final = 12
"""LayerNorm's normalised values c/σ are in Q12."""
SIGMA_BITS: Final = 8
"""LayerNorm's σ carries 8 fraction bits: (var + ε)·2^16 < 2^63 as var < 2^46 and ε < 2^31."""
FIXED_BITS: Final = 10
"""Softmax and GELU inputs are in Q10 (units of 2^−10)."""
SCORE_LIMIT: Final = 1 << 24
GELU_LIMIT: Final = 1 << 20
LN2_Q: Final = 710
"""ln 2 in Q10."""
EXP_B: Final = 1385
"""I-BERT's i-exp b = 1.353 in Q10."""
EXP_C: Final = 1_006_165
"""I-BERT's i-exp c / a = 0.344 / 0.3585 in Q20."""
EXP_MAX_SHIFT: Final = 30
"""Beyond this many halvings e is 0 (the polynomial is under 2^22)."""
PROB_ONE: Final = 127
"""A probability of 1 as an int8."""
ERF_CLIP: Final = 2562
"""I-BERT's i-erf clip 1.769, times √2 (the erf of x/√2), in Q10."""
ERF_A: Final = -9463
"""I-BERT's i-erf a = −0.2888, halved (the erf of x/√2), in Q16."""
BIAS_LIMIT: Final = (1 << 30) - 1
I32_MIN: Final = -(1 << 31)
I32_MAX: Final = (1 << 31) - 1


class WeightsError(ValueError):
    """A tfm_i8 weights blob that is not one: a wrong header, descriptor or size."""


@dataclass(frozen=True, slots=True)
class Requant:
    """A requantization rq(a) = (a·mult + 2^(shift−1)) >> shift, as two int32 constants."""

    mult: int
    shift: int


@dataclass(frozen=True, slots=True, eq=False)
class TfmLayer:
    """One transformer layer's int tensors and its requantizations (named as REQUANT_STEPS)."""

    ln1_g: I8
    ln1_b: I32
    wq: I8
    bq: I32
    wk: I8
    bk: I32
    wv: I8
    bv: I32
    wo: I8
    bo: I32
    ln2_g: I8
    ln2_b: I32
    w1: I8
    b1: I32
    w2: I8
    b2: I32
    rq: dict[str, Requant]


@dataclass(frozen=True, slots=True, eq=False)
class TfmWeights:
    """A whole tfm_i8 model: every int tensor and constant."""

    descriptor: TfmDescriptor
    ln_eps: int
    tok_emb: I8
    pos_emb: I8
    layers: tuple[TfmLayer, ...]
    lnf_g: I8
    lnf_b: I32
    w_out: I8
    rq: dict[str, Requant]
    """The model-wide requantizations, named as MODEL_REQUANT_STEPS."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TfmWeights) and encode_weights(self) == encode_weights(other)

    __hash__ = None  # type: ignore[assignment]


def _requants(values: np.ndarray, names: tuple[str, ...]) -> dict[str, Requant]:
    return {
        name: Requant(int(values[2 * i]), int(values[2 * i + 1])) for i, name in enumerate(names)
    }


def _requant_array(rq: dict[str, Requant], names: tuple[str, ...]) -> list[int]:
    return [v for name in names for v in (rq[name].mult, rq[name].shift)]


def _tensors(weights: TfmWeights) -> dict[str, np.ndarray]:
    """Every tensor of `weights` by its blob name."""
    out: dict[str, np.ndarray] = {
        "model.requant": np.array(
            [weights.ln_eps, *_requant_array(weights.rq, MODEL_REQUANT_STEPS)], np.int64
        ),
        "tok_emb": weights.tok_emb,
        "pos_emb": weights.pos_emb,
        "lnf_g": weights.lnf_g,
        "lnf_b": weights.lnf_b,
        "w_out": weights.w_out,
    }
    for i, layer in enumerate(weights.layers):
        for field in dataclasses.fields(TfmLayer):
            if field.name != "rq":
                out[f"layers.{i}.{field.name}"] = getattr(layer, field.name)
        out[f"layers.{i}.requant"] = np.array(_requant_array(layer.rq, REQUANT_STEPS), np.int64)
    return out


def encode_weights(weights: TfmWeights) -> bytes:
    """The blob of `weights` (runtime.tfm_layout's layout); ValueError for a tensor that does
    not fit its descriptor or a constant outside int32."""
    tensors = _tensors(weights)
    parts = [MAGIC, np.array(weights.descriptor, "<u4").tobytes()]
    for spec in tensor_layout(weights.descriptor):
        array = np.asarray(tensors[spec.name])
        if array.shape != spec.shape:
            raise ValueError(f"{spec.name} has shape {array.shape}, not {spec.shape}")
        dtype = np.int8 if spec.dtype == "i8" else np.int32
        info = np.iinfo(dtype)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise ValueError(f"{spec.name} holds values outside {np.dtype(dtype).name}")
        parts.append(array.astype("<i1" if spec.dtype == "i8" else "<i4").tobytes())
    return b"".join(parts)


def decode_weights(blob: bytes | memoryview, descriptor: TfmDescriptor | None = None) -> TfmWeights:
    """The model a blob holds; WeightsError for a wrong header, size or (if given) descriptor.

    The arrays are read-only views of `blob` (no copy)."""
    data = memoryview(blob).cast("B")
    if len(data) < HEADER_BYTES or bytes(data[: len(MAGIC)]) != MAGIC:
        raise WeightsError("not a tfm_i8 weights blob: it does not start with b'XTF1'")
    values = [int(v) for v in np.frombuffer(data, "<u4", 6, len(MAGIC))]
    try:
        found = check_descriptor(values)
    except DescriptorError as e:
        raise WeightsError(f"the blob's descriptor is invalid: {e}") from None
    if descriptor is not None and found != descriptor:
        raise WeightsError(f"the blob holds a model of {found}, not the {descriptor} named")
    if len(data) != weights_size(found):
        raise WeightsError(
            f"a tfm_i8 blob of {found} takes {weights_size(found)} bytes, not {len(data)}"
        )
    # Views of a bytes blob keep it as their base, so the CPU GEMM keeps each matrix's transpose
    # across calls (gpu_worker.kernels.cpu keeps those of immutable inputs).
    source: bytes | memoryview = blob if isinstance(blob, bytes) else data
    tensors: dict[str, np.ndarray] = {}
    offset = HEADER_BYTES
    for spec in tensor_layout(found):
        dtype = "<i1" if spec.dtype == "i8" else "<i4"
        count = spec.size // (1 if spec.dtype == "i8" else 4)
        tensors[spec.name] = np.frombuffer(source, dtype, count, offset).reshape(spec.shape)
        offset += spec.size
    layers = []
    for i in range(found.layers):
        p = f"layers.{i}."
        fields = {
            f.name: tensors[p + f.name] for f in dataclasses.fields(TfmLayer) if f.name != "rq"
        }
        layers.append(TfmLayer(**fields, rq=_requants(tensors[p + "requant"], REQUANT_STEPS)))
    model = tensors["model.requant"]
    return TfmWeights(
        descriptor=found,
        ln_eps=int(model[0]),
        tok_emb=tensors["tok_emb"],
        pos_emb=tensors["pos_emb"],
        layers=tuple(layers),
        lnf_g=tensors["lnf_g"],
        lnf_b=tensors["lnf_b"],
        w_out=tensors["w_out"],
        rq=_requants(model[1:], MODEL_REQUANT_STEPS),
    )
