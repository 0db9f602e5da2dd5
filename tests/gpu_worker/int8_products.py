"""Random int8 products and tiles of them, for the audit kernels' property tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

Tile = tuple[int, int, int, int]
"""Rows [r0, r1) and columns [c0, c1) of a product."""


@st.composite
def int8_products(
    draw: st.DrawFn, rows: int, depth: int, width: int, tiles: int
) -> tuple[np.ndarray, np.ndarray, list[Tile]]:
    """A (m × k) and B (k × n) with m ≤ `rows`, k ≤ `depth`, n ≤ `width`, of random bytes or of
    int8's extremes only, and 1 to `tiles` random tiles of A·B."""
    m, k, n = draw(st.integers(1, rows)), draw(st.integers(1, depth)), draw(st.integers(1, width))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        extremes = np.array([-128, 127], np.int8)
        a, b = rng.choice(extremes, (m, k)), rng.choice(extremes, (k, n))
    else:
        a = rng.integers(-128, 128, (m, k), dtype=np.int8)
        b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    chosen = []
    for _ in range(draw(st.integers(1, tiles))):
        r0, c0 = draw(st.integers(0, m - 1)), draw(st.integers(0, n - 1))
        chosen.append((r0, draw(st.integers(r0 + 1, m)), c0, draw(st.integers(c0 + 1, n))))
    return a, b, chosen
