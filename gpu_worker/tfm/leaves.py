"""A tfm_i8 forward pass cut into result leaves, and one leaf recomputed from those before it.

Leaves, in order: for each layer i, for each block of `row_block` token positions, that block's
rows of the layer's output (the residual stream after layer i, int32 [rows, d_model]); then, for
each block, its rows of the logits (int32 [rows, vocab]). Each leaf is its rows' bytes,
row-major, little-endian.

Recomputing a leaf reads only committed data: a layer-0 leaf follows from the tokens 0..r1; a
layer-i leaf from layer i − 1's rows 0..r1 (a query sees the positions before it, so the keys and
values of every earlier row enter); a logits leaf from the last layer's rows r0..r1 alone. So
an audit that recomputes leaf (i, block) from the committed leaves of layer i − 1 catches a
worker that faked that leaf whatever it committed elsewhere, and the worker's other leaves are
each checked the same way. Recomputing a block of layer i costs that block's rows of the layer,
plus the k and v projections of every row before it (up to one layer of k and v for the last
block).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gpu_worker.inputs import I32
from gpu_worker.tfm.forward import TfmForward, check_tokens, forward_layer, logits_of, ops_for
from gpu_worker.tfm.spec import RES_LIMIT, TfmWeights


@dataclass(frozen=True, slots=True)
class LeafAddress:
    """What a leaf holds: layer i's output rows r0..r1, or (layer None) the logits' rows."""

    layer: int | None
    r0: int
    r1: int


def leaf_addresses(weights: TfmWeights, tokens: int, row_block: int) -> list[LeafAddress]:
    """Every leaf of a forward pass over `tokens` positions, in commitment order."""
    if row_block < 1:
        raise ValueError(f"row_block must be at least 1, not {row_block}")
    blocks = [(r0, min(r0 + row_block, tokens)) for r0 in range(0, tokens, row_block)]
    layers: list[int | None] = [*range(weights.descriptor.layers), None]
    return [LeafAddress(layer, r0, r1) for layer in layers for r0, r1 in blocks]


def result_leaves(result: TfmForward, row_block: int) -> list[bytes]:
    """The leaves of a forward pass's result, in commitment order."""
    tokens = result.logits.shape[0]
    out = []
    for rows in (*result.layers, result.logits):
        for r0 in range(0, tokens, row_block):
            out.append(np.ascontiguousarray(rows[r0 : r0 + row_block], "<i4").tobytes())
    return out


def recompute_leaf(
    weights: TfmWeights,
    tokens: Sequence[int] | np.ndarray,
    leaf: LeafAddress,
    before: I32 | None,
    device: str = "reference",
) -> bytes:
    """The bytes leaf `leaf` must hold, from the committed rows it builds on.

    `before`: for a layer-i leaf (i ≥ 1), layer i − 1's rows 0..r1; for a logits leaf, the last
    layer's rows r0..r1; for a layer-0 leaf, None (it follows from the tokens)."""
    ops = ops_for(device)
    width = weights.descriptor.d_model
    if leaf.layer is None:
        rows = logits_of(ops, weights, _rows(before, leaf.r1 - leaf.r0, width, "the last layer's"))
    else:
        if leaf.layer == 0:
            t = check_tokens(weights, tokens)[: leaf.r1]
            x = ops.embed(
                weights.tok_emb, weights.pos_emb, t, 0, weights.rq["tok"], weights.rq["pos"]
            )
        else:
            x = _rows(before, leaf.r1, width, f"layer {leaf.layer - 1}'s")
        rows = forward_layer(ops, weights, leaf.layer, x, start=leaf.r0)
    return np.ascontiguousarray(rows, "<i4").tobytes()


def _rows(before: I32 | None, count: int, width: int, what: str) -> I32:
    """The committed rows a leaf builds on, clamped to the residual stream's range.

    Honest rows are always within ±RES_LIMIT; a worker may commit others, and LayerNorm's sums
    of squares would overflow on them. Clamping first keeps the recomputation defined, and the
    same on every device, whatever was committed (the faked leaf fails its own audit)."""
    if before is None or before.shape != (count, width):
        got = "none" if before is None else f"shape {before.shape}"
        raise ValueError(
            f"recomputing this leaf needs {count} rows of {width} of {what} output, not {got}"
        )
    rows: I32 = np.clip(before, -RES_LIMIT, RES_LIMIT).astype(np.int32)
    return rows
