"""The leaf hasher's bounds check (`blake3_tiles._inside`) must hold for any geometry, however
large: a stride whose last row's start overflows int64 must not wrap to a small offset that
passes, or the kernel reads wherever the wrapped address points (a segmentation fault, found
with a stride of 2^61 + 1 over 5 rows of a 64-word result)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker.kernels.blake3_tiles import _inside


def plain_inside(size: int, start: int, height: int, width: int, stride: int) -> bool:
    """The definition, in Python's unbounded integers."""
    if start < 0 or height < 0 or width < 0 or (height > 1 and stride < width):
        return False
    return start + max(height - 1, 0) * stride + width <= size


def one(value: int) -> np.ndarray:
    return np.array([value], np.int64)


CASES = [
    (64, 0, 5, 1, 2**61 + 1),  # the last row at 2^63 + 4 words: wraps below 64
    (64, 0, 3, 1, 2**62),
    (64, 3, 2, 4, 2**63 - 1),
    (64, 0, 4, 16, 16),  # exactly the result: inside
    (64, 0, 4, 16, 17),
    (64, 60, 1, 4, 0),
    (64, 61, 1, 4, 0),
]


def test_the_bounds_check_is_the_plain_definition_for_any_stride() -> None:
    found = [_inside(size, one(a), one(h), one(w), one(s)) for size, a, h, w, s in CASES]
    assert found == [plain_inside(*case) for case in CASES]


_INT64 = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=100, deadline=None)
@given(
    size=st.integers(0, 2**40),
    start=st.one_of(st.integers(-4, 80), _INT64),
    height=st.one_of(st.integers(-1, 6), _INT64),
    width=st.one_of(st.integers(-1, 80), _INT64),
    stride=st.one_of(st.integers(-1, 80), _INT64),
)
def test_the_bounds_check_is_the_plain_definition_for_any_int64_geometry(
    size: int, start: int, height: int, width: int, stride: int
) -> None:
    found = _inside(size, one(start), one(height), one(width), one(stride))
    assert found == plain_inside(size, start, height, width, stride)
