"""The tfm_i8 integer transformer as consensus sees it: its descriptor and its weights layout.

A tfm_i8 model is a decoder-only, pre-LayerNorm transformer over byte tokens whose every operation
is integer (`gpu_worker.tfm` computes it; its module docstring specifies the arithmetic). This
module holds only what every node must agree on without NumPy: which descriptors are valid, their
canonical encoding, and the exact bytes a model's weights take.

Descriptor: the six integers `(vocab, context, d_model, heads, layers, d_ff)`, canonically encoded
as the msgpack array of them; 1 ≤ each, vocab ≤ 65,536, context ≤ 4,096, d_model and d_ff ≤
8,192, layers ≤ 64, d_model divisible by heads, and the weights at most MAX_INPUT_BYTES (what a
node stores as one blob).

Weights blob, all little-endian, matrices row-major, in this order (`tensor_layout`):

    header        b"XTF1", then the descriptor as six u32
    model.requant int32[7]: ln_eps, then (mult, shift) for tok, pos, lnf
    tok_emb       int8[V, D]          pos_emb     int8[C, D]
    per layer i:
      layers.i.requant int32[22]: (mult, shift) for REQUANT_STEPS in order
      ln1_g int8[D]  ln1_b int32[D]
      wq int8[D, D]  bq int32[D]   wk, bk   wv, bv   wo, bo   (the same shapes)
      ln2_g int8[D]  ln2_b int32[D]
      w1 int8[D, F]  b1 int32[F]   w2 int8[F, D]  b2 int32[D]
    lnf_g int8[D]  lnf_b int32[D]  w_out int8[D, V]

Every matrix is int8 (symmetric, one scale per tensor), every bias int32, every constant an int32;
`weights_size(descriptor)` is the blob's exact size, which the models pallet checks a published
version against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NamedTuple

import msgpack

from runtime.workloads import MAX_INPUT_BYTES, WorkloadError

MAX_VOCAB: Final = 65_536
MAX_CONTEXT: Final = 4_096
MAX_WIDTH: Final = 8_192
"""The most d_model and d_ff may be."""
MAX_LAYERS: Final = 64
MAX_DESCRIPTOR_BYTES: Final = 64
"""A canonical descriptor is at most 6·5 + 1 bytes; anything longer is refused unread."""
MAGIC: Final = b"XTF1"
HEADER_BYTES: Final = len(MAGIC) + 6 * 4
MODEL_REQUANT_STEPS: Final = ("tok", "pos", "lnf")
"""The model-wide requantizations, each a (mult, shift) pair after ln_eps in model.requant."""
REQUANT_STEPS: Final = ("ln1", "q", "k", "v", "scores", "attn", "wo", "ln2", "w1", "gelu", "w2")
"""A layer's requantizations, each a (mult, shift) pair in layers.i.requant, in this order."""


class TfmDescriptor(NamedTuple):
    """The architecture of a tfm_i8 model."""

    vocab: int
    context: int
    d_model: int
    heads: int
    layers: int
    d_ff: int

    @property
    def head_dim(self) -> int:
        """Each head's width, d_model / heads."""
        return self.d_model // self.heads


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One tensor of the weights blob: its name, element type ("i8" or "i32") and shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """Its bytes in the blob."""
        count = 1
        for n in self.shape:
            count *= n
        return count * (1 if self.dtype == "i8" else 4)


class DescriptorError(WorkloadError):
    """A tfm_i8 descriptor that is malformed, not canonical or out of bounds."""


_BOUNDS: Final = (
    ("vocab", MAX_VOCAB),
    ("context", MAX_CONTEXT),
    ("d_model", MAX_WIDTH),
    ("heads", MAX_WIDTH),
    ("layers", MAX_LAYERS),
    ("d_ff", MAX_WIDTH),
)


def check_descriptor(values: tuple[int, ...] | list[int]) -> TfmDescriptor:
    """The descriptor of six integers `values`, or DescriptorError naming what is wrong."""
    if len(values) != len(_BOUNDS):
        raise DescriptorError(
            f"a tfm_i8 descriptor is six integers (vocab, context, d_model, heads, layers, "
            f"d_ff), not {len(values)} values"
        )
    for value, (name, hi) in zip(values, _BOUNDS, strict=True):
        if type(value) is not int or not 1 <= value <= hi:
            raise DescriptorError(f"{name} must be an integer from 1 to {hi}, got {value!r}")
    descriptor = TfmDescriptor(*values)
    if descriptor.d_model % descriptor.heads:
        raise DescriptorError(
            f"d_model {descriptor.d_model} is not divisible by heads {descriptor.heads}"
        )
    size = weights_size(descriptor)
    if size > MAX_INPUT_BYTES:
        raise DescriptorError(
            f"the weights take {size} bytes, over the {MAX_INPUT_BYTES} a node stores as a blob"
        )
    return descriptor


def encode_descriptor(descriptor: TfmDescriptor) -> bytes:
    """The canonical bytes of a descriptor: the msgpack array of its six integers."""
    packed: bytes = msgpack.packb(list(descriptor), use_bin_type=True)
    return packed


def decode_descriptor(data: bytes) -> TfmDescriptor:
    """The descriptor `data` encodes canonically, or DescriptorError."""
    if len(data) > MAX_DESCRIPTOR_BYTES:
        raise DescriptorError(f"a descriptor of {len(data)} bytes is longer than any valid one")
    try:
        values = msgpack.unpackb(data, use_list=True, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise DescriptorError(f"the descriptor is not msgpack: {e}") from None
    if not isinstance(values, list):
        raise DescriptorError("the descriptor must be a msgpack array of six integers")
    descriptor = check_descriptor(values)
    if encode_descriptor(descriptor) != data:
        raise DescriptorError("the descriptor is not canonically encoded")
    return descriptor


def tensor_layout(descriptor: TfmDescriptor) -> tuple[TensorSpec, ...]:
    """Every tensor of the weights blob after the header, in blob order."""
    v, c, d, _, n_layers, f = descriptor
    specs = [
        TensorSpec("model.requant", "i32", (1 + 2 * len(MODEL_REQUANT_STEPS),)),
        TensorSpec("tok_emb", "i8", (v, d)),
        TensorSpec("pos_emb", "i8", (c, d)),
    ]
    for i in range(n_layers):
        p = f"layers.{i}."
        specs += [
            TensorSpec(p + "requant", "i32", (2 * len(REQUANT_STEPS),)),
            TensorSpec(p + "ln1_g", "i8", (d,)),
            TensorSpec(p + "ln1_b", "i32", (d,)),
        ]
        for w in ("q", "k", "v", "o"):
            specs += [TensorSpec(f"{p}w{w}", "i8", (d, d)), TensorSpec(f"{p}b{w}", "i32", (d,))]
        specs += [
            TensorSpec(p + "ln2_g", "i8", (d,)),
            TensorSpec(p + "ln2_b", "i32", (d,)),
            TensorSpec(p + "w1", "i8", (d, f)),
            TensorSpec(p + "b1", "i32", (f,)),
            TensorSpec(p + "w2", "i8", (f, d)),
            TensorSpec(p + "b2", "i32", (d,)),
        ]
    specs += [
        TensorSpec("lnf_g", "i8", (d,)),
        TensorSpec("lnf_b", "i32", (d,)),
        TensorSpec("w_out", "i8", (d, v)),
    ]
    return tuple(specs)


def weights_size(descriptor: TfmDescriptor) -> int:
    """The exact bytes of a tfm_i8 weights blob for `descriptor` (header included).

    Computed in closed form (a descriptor of 64 layers would list 1,200 tensors): it equals the
    header plus the sizes of `tensor_layout(descriptor)`, which the tests check.
    """
    v, c, d, _, n_layers, f = descriptor
    model = 4 * (1 + 2 * len(MODEL_REQUANT_STEPS)) + v * d + c * d + 5 * d + d * v
    layer = 4 * 2 * len(REQUANT_STEPS) + 2 * 5 * d + 4 * (d * d + 4 * d) + 2 * d * f + 4 * f + 4 * d
    return HEADER_BYTES + model + n_layers * layer
