"""The recomputation witness: what a committee member attests besides a leaf's hash, so that only a
member that recomputed the leaf can attest it.

A worker publishes its whole result, so the Merkle leaf hashes of the leaves a check names can be
read off it by anyone; a member revealing them proves nothing. The witness is made of values that
only the recomputation yields. Each check carries a `mask` (0 ≤ mask < 2^32, drawn from chain
randomness after the worker's commitment). The rule, which every member must follow bit for bit:

For every product term p = a·b that recomputing the leaf forms (exact, in int64), t = p XOR mask
(int64 two's complement XOR), and each output element's witness accumulator is W = Σ t over the
same terms that output element's sum runs over, wrapping modulo 2^64 (int64). Per workload:

- gemm_i8 leaf (a tile of C, `gpu_worker.jobs.leaf_tile`): C_tile = A_rows·B_cols; W has the
  tile's shape (rows, cols): only the tile's own terms.
- qmlp_i8 leaf (layer j, a row block): for l = 0..j, acc_l = h_l·W_l + b_l with h_0 = the x rows
  and h_{l+1} = requantize(acc_l) (exactly as `gpu_worker.reference`); one W array per layer, of
  shape (rows, width_l); the bias is not a term.
- mlp_fxp checkpoint t: for each of its `every` steps in order, layer 0's forward terms
  x[r_b, i]·W_0[i, o] at that step (`gpu_worker.mlp_fxp`), one W array of shape (batch, d1) a
  step.
- sgd_fxp step t: pred = xb·w (terms xb[i, f]·w[f, o]) gives W1 of shape (batch, outputs), rows in
  the batch's order; grad = xbᵀ·err (terms xb[i, f]·err[i, o], summed over i) gives W2 of shape
  (features, outputs).

The witness bytes of a leaf are its W arrays as little-endian int64, concatenated in that order;
the leaf's witness digest is blake2b_256(WITNESS_TAG + witness bytes).

Why XOR: a sum of some other function of the terms, Σ p² or Σ |p|, factors into a product of
transformed matrices ((A∘A)·(B∘B), |A|·|B|), which a lazy member computes with one fast separate
GEMM without forming any term. Σ (p ^ mask) does not factor: as a function of (a, b) over the int8
values, the 256×256 table of bit k of a·b has rank 11, 20, 37, 70, 135, 134, 131, 126, 117, 93, 57
for k = 3..13, and the table of p ^ mask has rank 94 to 136 for random masks. Getting the witness
through matrix products of transformed inputs therefore takes that many products as large as the
recomputation, less the two that the published leaf (Σ p) and a constant give away. The fewest
are for masks with few low bits set: mask 1 needs one (Σ [a odd]·[b odd]), which still costs a
recomputation. Mask 0 makes W the plain sum Σ p, readable from the result: the chain must never
draw mask 0 (draw it from 1..2^32 − 1).

What a lazy member can still do: compute the witness in the same loop as the leaf, which is the
recomputation (the fused kernels here do exactly that, and the leaf costs one more add per term);
or copy another member's witness, which the salted commit-then-reveal of the attestation
prevents. The witness does not stop a member who recomputes and then votes against the outcome;
the majority rule and its penalty do.

Devices: "numpy" is the reference (`gpu_worker.kernels.witness_numpy`), "cpu" the Numba kernels
(`witness_cpu`), "cuda" the Numba CUDA kernels (`witness_cuda`), "auto" as
`gpu_worker.devices.resolve_device` resolves it. Every device gives the same bytes, and the leaf
is `gpu_worker.jobs.recompute_leaf`'s.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import ModuleType
from typing import Final

import numpy as np

from gpu_worker.devices import backend, resolve_device
from gpu_worker.inputs import I8, I16, I32, I64, InputError, batch_order_rows
from gpu_worker.jobs import (
    InputBytes,
    JobSpec,
    _leaf,
    _leaf_inputs,
    _qmlp_position,
    _sgd_start,
    checked_dependencies,
    gemm_audit_operands,
    gemm_tile_operands,
    mlp_leaf_arrays,
    qmlp_model,
    qmlp_x_rows,
)
from gpu_worker.mlp_checkpoints import checkpoint_from
from gpu_worker.tile_threads import spread_for

WITNESS_TAG: Final = b"xpl-witness"
"""Prefix of the hashed witness bytes: a witness digest is never another hash of the chain."""
MASK_LIMIT: Final = 1 << 32
"""A check's mask is an integer from 0 to MASK_LIMIT − 1 (32 bits)."""
WITNESS_COST: Final = 3
"""A term with its witness costs about three plain multiply-adds (three sums a term): the
weight `spread_for` gives a product's depth when deciding how many threads share it."""


def witness_kernels(device: str) -> ModuleType:
    """The module with `device`'s witness kernels (product_witness, sgd_step_witness)."""
    return importlib.import_module(f"gpu_worker.kernels.witness_{resolve_device(device)}")


def check_mask(mask: int) -> int:
    """`mask`, or InputError unless it is an integer from 0 to MASK_LIMIT − 1."""
    if isinstance(mask, bool) or not isinstance(mask, int | np.integer):
        raise InputError(f"the witness mask must be an integer, not {type(mask).__name__}")
    if not 0 <= int(mask) < MASK_LIMIT:
        raise InputError(f"the witness mask must be from 0 to 2^32 − 1, not {int(mask)}")
    return int(mask)


def witness_bytes(arrays: Iterable[I64]) -> bytes:
    """The witness bytes: the W arrays as little-endian int64, concatenated in order."""
    return b"".join(np.ascontiguousarray(w, dtype="<i8").tobytes() for w in arrays)


class _WitnessHash:
    """blake2b_256(WITNESS_TAG + witness bytes), fed one W array at a time (never joined)."""

    def __init__(self) -> None:
        self._hash = hashlib.blake2b(WITNESS_TAG, digest_size=32)

    def absorb(self, w: I64) -> None:
        self._hash.update(np.ascontiguousarray(w, dtype="<i8").data)

    def digest(self) -> bytes:
        return self._hash.digest()


def witness_digest(arrays: Iterable[I64]) -> bytes:
    """blake2b_256(WITNESS_TAG + witness_bytes(arrays)), hashed array by array."""
    hashed = _WitnessHash()
    for w in arrays:
        hashed.absorb(w)
    return hashed.digest()


def qmlp_rows(spec: JobSpec, indices: Sequence[int]) -> tuple[I64, int]:
    """The rows of x that qmlp_i8 leaves `indices` recompute (sorted, each once) and the
    deepest layer among them."""
    total, row_block = spec.params[0], spec.params[1]
    per_layer = -(-total // row_block)
    blocks = sorted({index % per_layer for index in indices})
    deepest = max(indices) // per_layer if len(indices) else 0
    if row_block == 1:
        return np.fromiter(blocks, np.int64, len(blocks)), deepest
    rows = [r for b in blocks for r in range(b * row_block, min(b * row_block + row_block, total))]
    return np.fromiter(rows, np.int64, len(rows)), deepest


def _recompute(
    spec: JobSpec,
    inputs: Mapping[str, InputBytes],
    index: int,
    deps: Mapping[int, bytes],
    mask: int,
    device: str,
    absorb: Callable[[I64], object],
) -> bytes:
    """Leaf `index` recomputed, handing each W array to `absorb` in the witness's order as soon
    as it is computed (a qmlp_i8 leaf's layers are not all kept)."""
    mask = check_mask(mask)
    checked_dependencies(spec, index, deps)
    kernels = witness_kernels(device)
    data = _leaf_inputs(spec, inputs, index)
    p = spec.params
    if spec.workload == "gemm_i8":
        a_rows, b_cols = gemm_tile_operands(spec, data, index)
        b_cols = np.ascontiguousarray(b_cols)
        c, w = kernels.product_witness(a_rows, b_cols, np.zeros(b_cols.shape[1], np.int32), mask)
        absorb(w)
        return _leaf(c)
    if spec.workload == "qmlp_i8":
        layer, rows, _ = _qmlp_position(spec, index)
        layers = qmlp_model(spec, inputs, layer + 1)
        requantize = backend(device).requantize
        h: I8 = data["x"].reshape(rows.stop - rows.start, p[2])
        acc: I32 = np.zeros((0, 0), np.int32)
        for j, current in enumerate(layers):
            acc, w = kernels.product_witness(h, current.weights, current.bias, mask)
            absorb(w)
            if j + 1 < len(layers):
                h = requantize(acc, current)
        return _leaf(acc)
    if spec.workload == "mlp_fxp":
        samples_x, targets = mlp_leaf_arrays(spec, inputs)
        before = deps.get(index - 1)
        leaf, arrays = checkpoint_from(
            p, spec.seed, samples_x, targets, index, before, device, mask
        )
        for array in arrays:
            absorb(array)
        return leaf
    samples, features, outputs, batch, steps, frac_bits, lr_shift = p
    (order,) = batch_order_rows(spec.seed, samples, batch, steps, index, index + 1)
    start = _sgd_start(spec, index, deps)
    x: I8 = data["x"].reshape(samples, features)
    y: I16 = data["y"].reshape(-1).view("<i2").astype(np.int16).reshape(samples, outputs)
    weights, w1, w2 = kernels.sgd_step_witness(x, y, order, start, frac_bits, lr_shift, mask)
    absorb(w1)
    absorb(w2)
    return _leaf(weights)


def leaf_witness_arrays(
    spec: JobSpec,
    inputs: Mapping[str, InputBytes],
    index: int,
    deps: Mapping[int, bytes],
    mask: int,
    *,
    device: str = "auto",
) -> tuple[bytes, list[I64]]:
    """Leaf `index` recomputed (as `recompute_leaf`) and its W arrays, in the witness's order."""
    arrays: list[I64] = []
    leaf = _recompute(spec, inputs, index, deps, mask, device, arrays.append)
    return leaf, arrays


def recompute_leaf_witness(
    spec: JobSpec,
    inputs: Mapping[str, InputBytes],
    index: int,
    deps: Mapping[int, bytes],
    mask: int,
    *,
    device: str = "auto",
) -> tuple[bytes, bytes]:
    """(leaf `index`, identical to `gpu_worker.jobs.recompute_leaf`'s, and its 32-byte witness
    digest under `mask`), recomputed in one pass from the slices of the inputs it reads and its
    dependencies (checked by the caller). The same kernels as `recompute_leaves_witness`, so a
    device's self-test checks the ones its checks use."""
    leaves, digests = recompute_leaves_witness(spec, inputs, [index], deps, mask, device=device)
    return leaves[0], digests[0]


def _leaf_witness_alone(
    spec: JobSpec,
    inputs: Mapping[str, InputBytes],
    index: int,
    deps: Mapping[int, bytes],
    mask: int,
    device: str,
) -> tuple[bytes, bytes]:
    """Leaf `index` and its witness digest by the device's witness kernels, on its own."""
    hashed = _WitnessHash()
    leaf = _recompute(spec, inputs, index, deps, mask, device, hashed.absorb)
    return leaf, hashed.digest()


def recompute_leaves_witness(
    spec: JobSpec,
    inputs: Mapping[str, InputBytes],
    indices: Sequence[int],
    deps: Mapping[int, bytes],
    mask: int,
    *,
    device: str = "auto",
) -> tuple[list[bytes], list[bytes]]:
    """`recompute_leaf_witness` of each of `indices`, in order: (the leaves, their witness
    digests). A gemm_i8 check on the CPU is done together: A and B read once, and the tiles with
    their witnesses one call a core of the audit kernel (`gpu_worker.kernels.audit_cpu`), which
    reads B as stored; a qmlp_i8 check carries the union of its leaves' rows through the layers
    once (rows are independent: each leaf's rows of every accumulator and W array come out as on
    their own); sgd_fxp checks leaf by leaf."""
    if spec.workload == "qmlp_i8" and indices:
        return _qmlp_leaves_witness(spec, inputs, indices, check_mask(mask), device)
    if spec.workload != "gemm_i8" or resolve_device(device) != "cpu" or not indices:
        pairs = [_leaf_witness_alone(spec, inputs, index, deps, mask, device) for index in indices]
        return [leaf for leaf, _ in pairs], [digest for _, digest in pairs]
    from gpu_worker.kernels import audit_cpu  # Numba and LLVM load only where a CPU audits

    mask = check_mask(mask)
    for index in indices:
        checked_dependencies(spec, index, deps)
    a, b, table = gemm_audit_operands(spec, inputs, indices)
    done = audit_cpu.gemm_tiles_witness(a, b, table, mask, spread_for(WITNESS_COST * a.shape[1]))
    return [_leaf(c) for c, _ in done], [witness_digest([w]) for _, w in done]


def _qmlp_leaves_witness(
    spec: JobSpec, inputs: Mapping[str, InputBytes], indices: Sequence[int], mask: int, device: str
) -> tuple[list[bytes], list[bytes]]:
    """qmlp_i8 leaves `indices` and their witness digests: their rows of x read once and carried
    through the layers together, each layer's product and W once for the rows whose leaves reach
    it (rows are independent, so each leaf's rows come out as on their own)."""
    for index in indices:
        checked_dependencies(spec, index, {})
    rows, deepest = qmlp_rows(spec, indices)
    position = {row: i for i, row in enumerate(rows.tolist())}
    reach = np.full(len(position), -1, np.int64)  # the deepest layer each row is needed in
    places = []
    for index in indices:
        layer, block, _ = _qmlp_position(spec, index)
        first = position[block.start]
        places.append((layer, first, first + block.stop - block.start))
        reach[first : places[-1][2]] = np.maximum(reach[first : places[-1][2]], layer)
    layers = qmlp_model(spec, inputs, deepest + 1)
    product = _layer_product(device)
    requantize = backend(device).requantize
    h: I8 = qmlp_x_rows(spec, inputs, rows)
    active = np.arange(len(position))
    done: list[tuple[I64, I32, I64]] = []
    for j, current in enumerate(layers):
        keep = reach[active] >= j
        if not keep.all():
            h, active = h[keep], active[keep]
        acc, w = product(h, current.weights, current.bias, mask)
        done.append((active, acc, w))
        if j + 1 < len(layers):
            h = requantize(acc, current)
    leaves: list[bytes] = []
    digests: list[bytes] = []
    for layer, first, stop in places:
        ws = []
        for active, _acc, w in done[: layer + 1]:
            at = int(np.searchsorted(active, first))
            mine = slice(at, at + stop - first)
            ws.append(w[mine])
        at = int(np.searchsorted(done[layer][0], first))
        leaves.append(_leaf(done[layer][1][at : at + stop - first]))
        digests.append(witness_digest(ws))
    return leaves, digests


def _layer_product(device: str) -> Callable[[I8, I8, I32, int], tuple[I32, I64]]:
    """`product_witness` of `device`; on the CPU the audit kernel's (B read as stored, 16 terms
    a step in int16 lanes), the columns shared among the tile threads."""
    if resolve_device(device) != "cpu":
        product: Callable[[I8, I8, I32, int], tuple[I32, I64]] = witness_kernels(
            device
        ).product_witness
        return product
    from gpu_worker.kernels import audit_cpu

    def on_the_cpu(h: I8, weights: I8, bias: I32, mask: int) -> tuple[I32, I64]:
        h, weights = np.ascontiguousarray(h), np.ascontiguousarray(weights)
        rows, width = h.shape[0], weights.shape[1]
        half = width // 2
        table = np.array([[0, rows, 0, half], [0, rows, half, width]], np.int64)
        if half == 0 or rows == 0:
            table = table[1:]
        parts = audit_cpu.gemm_tiles_witness(
            h, weights, table, mask, spread_for(WITNESS_COST * h.shape[1])
        )
        acc = np.concatenate([c for c, _ in parts], axis=1) + bias.astype(np.int32)
        return acc.astype(np.int32), np.concatenate([w for _, w in parts], axis=1)

    return on_the_cpu


__all__ = [
    "MASK_LIMIT",
    "WITNESS_TAG",
    "check_mask",
    "leaf_witness_arrays",
    "recompute_leaf_witness",
    "recompute_leaves_witness",
    "witness_bytes",
    "witness_digest",
    "witness_kernels",
]
