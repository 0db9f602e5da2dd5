"""Which compute devices this machine has."""

from __future__ import annotations

import functools


@functools.cache
def cuda_available() -> bool:
    """Whether a CUDA GPU is usable (the simulator, NUMBA_ENABLE_CUDASIM=1, counts as one)."""
    try:
        from numba import cuda
    except ImportError:
        return False
    try:
        return bool(cuda.is_available())  # type: ignore[no-untyped-call]
    except Exception:
        return False
