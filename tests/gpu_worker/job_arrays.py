"""Arrays as a job's inputs reach the kernels.

A job's inputs are read from bytes, so they reach the kernels' wrappers read-only; Numba compiles
a kernel once per argument type, and a writable array is another type. The wrappers hand every
kernel read-only inputs whatever they are given (`gpu_worker.kernels.arguments.read_only`), so a
test's writable arrays cost no second compilation; `as_job_input` gives a test the arrays exactly
as a job's inputs arrive, to check that both kinds give the same bits and one compilation.
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
