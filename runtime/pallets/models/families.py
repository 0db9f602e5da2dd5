"""Workload families: what a model's architecture descriptor is, the size of the weights it
implies, and which jobs may run it. Pure rules, no state: the RPC and the CLI check with them
before anything is signed.

A descriptor is the canonical msgpack encoding of a list of integers (at most
MAX_DESCRIPTOR_BYTES): re-encoding the decoded list must give the same bytes, so one
architecture has exactly one descriptor.

qmlp_i8  [d0, d1, ..., dL]: the layer widths of `runtime.workloads`' quantized MLP. Its weights
         are `workloads.qmlp_model_bytes(dims)` bytes (per layer W int8, bias int32, mult and
         shift int32). Accepted only where some job could run it: `qmlp_shape([1, 1, *dims])`
         (the widths' bounds, the layer count, the skew rule, what verifying a leaf reads). A job
         runs it as workload qmlp_i8 with params [batch, row_block, d0, ..., dL]: the params'
         widths must be the descriptor's.
tfm_i8   [vocab, context, d_model, heads, layers, d_ff]: the decoder-only integer transformer of
         `runtime.tfm_layout` (its `check_descriptor`: 1 ≤ every value, d_model % heads == 0,
         vocab ≤ 65,536, context ≤ 4,096, d_model, d_ff ≤ 8,192, layers ≤ 64, weights within
         what a node stores as one blob). Its weights are `tfm_layout.weights_size` bytes. No job
         runs it yet (no tfm_i8 workload): `check_job_params` refuses it (FamilyNotReady).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from runtime import tfm_layout
from runtime.pallets.models.constants import MAX_DESCRIPTOR_BYTES
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError
from runtime.tfm_layout import TfmDescriptor
from runtime.workloads import WorkloadError, qmlp_model_bytes, qmlp_shape

QMLP: Final = "qmlp_i8"
TFM: Final = "tfm_i8"
FAMILIES: Final = (QMLP, TFM)

TFM_FIELDS: Final = TfmDescriptor._fields
"""The names of a tfm_i8 descriptor's six values, in order."""


class DescriptorError(ValueError):
    """A descriptor that breaks its family's rules; the message names what is wrong."""


class FamilyNotReady(DescriptorError):
    """A family that no job can run yet (the chain has no workload of it)."""


def check_family(family: str) -> None:
    """DescriptorError unless `family` is one the chain knows."""
    if family not in FAMILIES:
        raise DescriptorError(f"unknown family {family!r} (known: {', '.join(FAMILIES)})")


def encode_descriptor(values: Sequence[int]) -> bytes:
    """The canonical descriptor of a list of integers."""
    return codec.encode([int(v) for v in values])


def decode_descriptor(family: str, raw: bytes) -> tuple[int, ...]:
    """The integers a descriptor encodes, checked against its family's rules; DescriptorError
    naming the problem (not canonical, too long, a value out of bounds)."""
    check_family(family)
    if len(raw) > MAX_DESCRIPTOR_BYTES:
        raise DescriptorError(
            f"the descriptor is {len(raw)} bytes, over the limit of {MAX_DESCRIPTOR_BYTES}"
        )
    try:
        value = codec.decode(raw, max_size=MAX_DESCRIPTOR_BYTES)
    except DecodeError as exc:
        raise DescriptorError(f"the descriptor is not a canonical encoding: {exc}") from exc
    if type(value) is not list or not all(type(v) is int for v in value):
        raise DescriptorError("the descriptor must encode a list of integers")
    values = tuple(value)
    if family == QMLP:
        _check_qmlp(values)
    else:
        _check_tfm(values)
    return values


def _check_qmlp(dims: tuple[int, ...]) -> None:
    if len(dims) < 2:
        raise DescriptorError("a qmlp_i8 descriptor lists the layer widths [d0, d1, ..., dL]")
    try:
        qmlp_shape([1, 1, *dims])
    except WorkloadError as exc:
        raise DescriptorError(f"no qmlp_i8 job could run this model: {exc}") from exc


def _check_tfm(values: tuple[int, ...]) -> None:
    try:
        tfm_layout.check_descriptor(values)
    except WorkloadError as exc:
        raise DescriptorError(str(exc)) from exc


def weights_size(family: str, values: Sequence[int]) -> int:
    """The size in bytes of the weights blob a checked descriptor implies."""
    if family == QMLP:
        return qmlp_model_bytes(values)
    check_family(family)
    return tfm_layout.weights_size(TfmDescriptor(*values))


def job_workload(family: str) -> str:
    """The workload a job that runs a model of `family` is."""
    check_family(family)
    return family


def check_job_params(family: str, values: Sequence[int], params: Sequence[int]) -> None:
    """DescriptorError unless a job's `params` run the model the descriptor `values` describes
    (qmlp_i8: params [batch, row_block, *widths], the widths the descriptor's)."""
    if family == QMLP:
        if tuple(params[2:]) != tuple(values):
            raise DescriptorError(
                f"the job's layer widths {list(params[2:])} are not the model's {list(values)}: "
                "qmlp_i8 params are [batch, row_block, d0, ..., dL]"
            )
        return
    raise FamilyNotReady(f"no {family} job can run yet")
