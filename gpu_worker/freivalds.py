"""Checking a whole result cheaply: Freivalds' algorithm for gemm_i8 and each qmlp_i8 layer.

To check C = A·B + b without multiplying again, draw a random matrix R (N×rounds) and compare
C·R with A·(B·R) + b·R: O(n²) work instead of O(n³). All of it runs in exact int64: entries of R
are drawn from [0, 2^bits) with bits small enough that no product or sum can overflow, even for
adversarial int32 outputs, so a correct result always passes, and a wrong row escapes one round
with probability at most 2^−bits. The rows whose checks differ are the wrong rows, so the check
also names the first wrong leaf: the one a fraud proof names.

sgd_fxp steps are not linear maps of the inputs; `check_result` spot-checks them by recomputing
a few random steps from the committed weights before them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from gpu_worker import reference
from gpu_worker.inputs import I8, I32, I64, QmlpLayer
from gpu_worker.jobs import (
    JobSpec,
    _arrays,
    _blocks,
    leaf_dependencies,
    recompute_leaf,
    result_arrays,
)

SECURITY_BITS = 40
"""Rounds are drawn until a wrong row escapes with probability at most 2^−SECURITY_BITS."""
SGD_SPOT_CHECKS = 8


def random_bits(inner: int, cols: int) -> int:
    """Bits per entry of R that keep A·(B·R) and C·R exact in int64 (|A|, |B| ≤ 128, |C| < 2^31,
    |bias| < 2^31, inner dimension `inner`, `cols` columns)."""
    log_n = max(1, math.ceil(math.log2(max(cols, 2))))
    log_k = max(1, math.ceil(math.log2(max(inner, 2))))
    return max(1, min(30 - log_n, 47 - log_k - log_n))


def _draw(rng: np.random.Generator, cols: int, inner: int) -> I64:
    bits = random_bits(inner, cols)
    rounds = -(-SECURITY_BITS // bits)
    return rng.integers(0, 1 << bits, size=(cols, rounds), dtype=np.int64)


def bad_rows(
    lhs: I8, rhs: I8, claimed: I32, rng: np.random.Generator, bias: I32 | None = None
) -> I64:
    """Indices of the rows where `claimed` differs from lhs·rhs (+ bias), found in O(n²)."""
    r = _draw(rng, rhs.shape[1], rhs.shape[0])
    expected = lhs.astype(np.int64) @ (rhs.astype(np.int64) @ r)
    if bias is not None:
        expected += bias.astype(np.int64) @ r
    got = claimed.astype(np.int64) @ r
    return np.flatnonzero(np.any(expected != got, axis=1)).astype(np.int64)


def check_result(
    spec: JobSpec,
    inputs: Mapping[str, bytes],
    leaves: Sequence[bytes],
    *,
    rng: np.random.Generator | None = None,
) -> int | None:
    """The first wrong leaf of a result, or None when it passes.

    gemm_i8 and qmlp_i8 are checked whole with Freivalds; sgd_fxp by recomputing
    SGD_SPOT_CHECKS random steps. The leaves must already match the committed root.
    """
    rng = rng if rng is not None else np.random.default_rng()
    arrays = _arrays(spec, inputs)
    results = result_arrays(spec, leaves)
    p = spec.params
    if spec.workload == "gemm_i8":
        rows = bad_rows(arrays["a"], arrays["b"], results[0], rng)
        return None if rows.size == 0 else int(rows[0]) // p[3]
    if spec.workload == "qmlp_i8":
        layers: list[QmlpLayer] = arrays["layers"]
        per_layer = len(_blocks(p[0], p[1]))
        h: I8 = arrays["x"]
        for j, (layer, acc) in enumerate(zip(layers, results, strict=True)):
            rows = bad_rows(h, layer.weights, acc, rng, bias=layer.bias[None, :])
            if rows.size:
                return j * per_layer + int(rows[0]) // p[1]
            h = reference.requantize(acc, layer)
        return None
    steps = len(leaves)
    picks = sorted(set(rng.integers(0, steps, size=min(SGD_SPOT_CHECKS, steps)).tolist()))
    for t in picks:
        deps = {d: leaves[d] for d in leaf_dependencies(spec, t)}
        if recompute_leaf(spec, inputs, t, deps, device="numpy") != leaves[t]:
            return int(t)
    return None


__all__ = ["SECURITY_BITS", "bad_rows", "check_result", "random_bits"]
