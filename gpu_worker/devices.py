"""Which compute device runs the kernels: every choice of device is made here.

"numpy" is the reference (gpu_worker.reference), "cpu" the Numba @njit kernels, "cuda" the Numba
@cuda.jit kernels, and "auto" the GPU where one is usable, else the CPU. The worker, the
validators' verification service, the node's command line and the benchmarks all choose through
`select_device`; every device gives the same bytes.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Final

from gpu_worker import reference

log = logging.getLogger("xpl.devices")

DEVICES: Final = ("auto", "cpu", "cuda", "numpy")
MAX_DEVICE_CHARS: Final = 32
"""The longest device name a worker publishes."""


class DeviceError(RuntimeError):
    """A device that was asked for and is not there (no GPU, CUDA toolkit missing)."""


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


def resolve_device(device: str) -> str:
    """ "auto" becomes "cuda" where a GPU is usable, else "cpu"; others are checked."""
    if device not in DEVICES:
        raise DeviceError(f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cuda" and not cuda_available():
        raise DeviceError("device cuda asked for, but no usable CUDA GPU was found")
    return device


def backend(device: str) -> ModuleType:
    """The module with the kernels of `device` (same functions as gpu_worker.reference)."""
    device = resolve_device(device)
    if device == "numpy":
        return reference
    return importlib.import_module(f"gpu_worker.kernels.{device}")


class DeviceUnusable(DeviceError):
    """No candidate device for a request loaded its kernels (and passed its self-test)."""

    def __init__(self, problems: Sequence[tuple[str, Exception]]) -> None:
        self.problems = tuple(problems)
        """(device, what went wrong) for each device tried, in order."""
        device, problem = self.problems[0]
        super().__init__(f"device {device} is not usable here: {problem}")


def select_device(
    requested: str,
    *,
    self_test: Callable[[str], None] | None = None,
    fall_back: Callable[[str], None] | None = None,
) -> str:
    """The concrete device to run on for `requested`: "auto" resolved, its kernels loaded and,
    with `self_test`, checked; DeviceError if it is unknown, DeviceUnusable if it fails.

    With `fall_back`, "auto" and "cpu" fall back to the CPU and then to the NumPy reference
    instead, telling `fall_back` what failed; "cuda" never falls back.
    """
    if requested not in DEVICES:
        raise DeviceError(f"unknown device {requested!r} (choose from {', '.join(DEVICES)})")
    if requested == "numpy":
        return "numpy"
    first = resolve_device(requested)  # DeviceError for "cuda" where there is no GPU
    candidates = [first]
    if fall_back is not None and requested != "cuda":
        candidates = list(dict.fromkeys((first, "cpu")))
    problems: list[tuple[str, Exception]] = []
    for device in candidates:
        try:
            backend(device)
            if self_test is not None:
                self_test(device)
        except Exception as exc:  # missing kernels or a kernel that fails: not to be trusted
            problems.append((device, exc))
            continue
        return device
    if fall_back is None or requested == "cuda":
        raise DeviceUnusable(problems)
    fall_back("; ".join(f"{device}: {problem}" for device, problem in problems))
    return "numpy"


def device_info(device: str) -> tuple[str, int]:
    """(name to publish, memory in MiB) of a resolved device."""
    if device == "cuda":
        try:
            from numba import cuda

            gpu = cuda.get_current_device()  # type: ignore[no-untyped-call]
            name = gpu.name.decode() if isinstance(gpu.name, bytes) else str(gpu.name)
            _, total = cuda.current_context().get_memory_info()  # type: ignore[no-untyped-call]
            return f"cuda:{name}"[:MAX_DEVICE_CHARS], int(total) // 2**20
        except Exception:  # numba raises several driver error types; the name is only a label
            return "cuda", 0
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = 0
    return device, min(memory // 2**20, 2**32 - 1)
