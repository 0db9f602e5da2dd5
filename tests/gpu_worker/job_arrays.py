"""Arrays as a job's inputs reach the kernels.

A job's inputs are read from bytes, so the kernels see read-only arrays; Numba compiles a kernel
once per argument type, and a writable array is another type. A test that hands a kernel writable
arrays pays a second compilation (seconds for a parallel kernel, on every fresh checkout) of the
same code. Tests that build their own arrays pass them through `as_job_input` to share the one
the jobs use.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

A = TypeVar("A", bound=np.ndarray)


def as_job_input(array: A) -> A:
    """A read-only view of `array`, as a job's input arrives (its bytes unchanged)."""
    view = array.view()
    view.flags.writeable = False
    return view  # type: ignore[return-value]
