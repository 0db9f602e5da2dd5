"""A tfm_i8 forward pass's leaves: each recomputes from the committed leaves before it, and a
worker that fakes one leaf is caught exactly when that leaf is audited."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_worker.tfm.forward import TfmForward, forward, forward_layer, logits_of, ops_for
from gpu_worker.tfm.leaves import LeafAddress, leaf_addresses, recompute_leaf, result_leaves
from gpu_worker.tfm.spec import TfmWeights
from tests.gpu_worker.tfm.models import small_model

ROW_BLOCK = 4


def _rows(leaves: list[bytes], addresses: list[LeafAddress], layer: int, r1: int) -> np.ndarray:
    """Rows 0..r1 of a layer, read back from its committed leaves."""
    parts = [
        np.frombuffer(leaves[n], "<i4")
        for n, a in enumerate(addresses)
        if a.layer == layer and a.r0 < r1
    ]
    return np.concatenate(parts).reshape(-1, small_model()[1].weights.descriptor.d_model)[:r1]


def audit(weights: TfmWeights, tokens: np.ndarray, leaves: list[bytes]) -> list[int]:
    """The leaves that do not recompute from the committed leaves before them."""
    addresses = leaf_addresses(weights, len(tokens), ROW_BLOCK)
    last = weights.descriptor.layers - 1
    bad = []
    for n, a in enumerate(addresses):
        if a.layer is None:
            before = _rows(leaves, addresses, last, a.r1)[a.r0 :]
        elif a.layer > 0:
            before = _rows(leaves, addresses, a.layer - 1, a.r1)
        else:
            before = None
        if recompute_leaf(weights, tokens, a, before) != leaves[n]:
            bad.append(n)
    return bad


def test_every_honest_leaf_recomputes_from_those_before_it() -> None:
    weights = small_model()[1].weights
    tokens = np.random.default_rng(9).integers(0, weights.descriptor.vocab, 11)
    leaves = result_leaves(forward(weights, tokens), ROW_BLOCK)
    assert len(leaves) == (weights.descriptor.layers + 1) * 3
    assert audit(weights, tokens, leaves) == []


@pytest.mark.parametrize("faked", [1, 4, 5, 8])
def test_a_worker_that_fakes_one_leaf_is_caught_by_auditing_that_leaf(faked: int) -> None:
    """The worker corrupts one leaf (an attention-and-MLP block of a layer, or the logits) and
    computes everything after it honestly from the corrupted rows: only that leaf fails, so an
    audit of k of n leaves catches it with probability k/n."""
    weights = small_model()[1].weights
    tokens = np.random.default_rng(10).integers(0, weights.descriptor.vocab, 11)
    honest = forward(weights, tokens)
    addresses = leaf_addresses(weights, len(tokens), ROW_BLOCK)
    a = addresses[faked]
    layers = [x.copy() for x in honest.layers]
    logits = honest.logits.copy()
    if a.layer is None:
        logits[a.r0, 0] += 1
    else:
        layers[a.layer][a.r0, 0] += 1
        # Every later layer from the corrupted one, as a worker hiding the change would.
        ops = ops_for("reference")
        for i in range(a.layer + 1, weights.descriptor.layers):
            layers[i] = forward_layer(ops, weights, i, layers[i - 1])  # type: ignore[arg-type]
        logits = logits_of(ops, weights, layers[-1])  # type: ignore[arg-type]
    leaves = result_leaves(TfmForward(logits, tuple(layers)), ROW_BLOCK)
    assert audit(weights, tokens, leaves) == [faked]


def test_a_leaf_without_the_rows_it_needs_is_refused() -> None:
    weights = small_model()[1].weights
    with pytest.raises(ValueError, match="needs 8 rows of 16 of layer 0's output"):
        recompute_leaf(weights, [1] * 8, LeafAddress(1, 4, 8), np.zeros((4, 16), np.int32))
    with pytest.raises(ValueError, match="row_block"):
        leaf_addresses(weights, 8, 0)


def test_committed_rows_out_of_the_residual_range_recompute_the_same_everywhere() -> None:
    """A worker commits int32 extremes as a layer's rows: recomputing the next leaf from them is
    defined (the rows are clamped to the residual range) and bit-equal on the CPU."""
    weights = small_model()[1].weights
    rng = np.random.default_rng(11)
    before = rng.choice(np.array([-(2**31), 2**31 - 1, 0, 5], np.int32), (8, 16))
    address = LeafAddress(1, 4, 8)
    want = recompute_leaf(weights, [1] * 8, address, before)
    assert recompute_leaf(weights, [1] * 8, address, before, device="cpu") == want
    logits = LeafAddress(None, 4, 8)
    assert recompute_leaf(weights, [1] * 8, logits, before[4:], device="cpu") == (
        recompute_leaf(weights, [1] * 8, logits, before[4:])
    )
