"""An mlp_fxp job's checkpoints from its arrays, on a device: the whole job (the worker) and one
checkpoint from the committed one before it (an audit). The arithmetic is `gpu_worker.mlp_fxp`.

    x, y = ...                                        # the job's inputs as arrays
    leaves = job_checkpoints(params, seed, x, y, "cpu")
    again = checkpoint_from(params, seed, x, y, 3, leaves[2], "cpu")   # leaf 3 from leaf 2
    assert again == leaves[3]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gpu_worker import mlp_fxp
from gpu_worker.devices import resolve_device
from gpu_worker.inputs import I8, I16, I32, I64, InputError, batch_order_rows
from runtime.workloads import mlp_layout

Trainer = Callable[..., tuple[I32, list[I64]]]


def trainer(device: str) -> Trainer:
    """The training function of `device`: the NumPy reference, the Numba CPU kernel or the
    CUDA kernels (all give the same bits)."""
    device = resolve_device(device)
    if device == "numpy":
        return mlp_fxp.train
    if device == "cuda":
        from gpu_worker.kernels import mlp_cuda  # Numba loads only where a kernel runs

        return mlp_cuda.train
    from gpu_worker.kernels import mlp_cpu

    return mlp_cpu.train


def _leaf(flat: I32) -> bytes:
    return np.ascontiguousarray(flat, dtype="<i4").tobytes()


def start_of(params: Sequence[int], seed: int, index: int, before: bytes | None) -> I32:
    """The parameters checkpoint `index` is trained from: the seed's initial ones for 0, else
    the committed checkpoint `before`, each word clamped to ±WEIGHT_LIMIT (InputError if it has
    the wrong size)."""
    _, _, _, _, frac_bits, _, dims = mlp_layout(params)
    if index == 0:
        return mlp_fxp.initial_parameters(seed, dims, frac_bits)
    size = 4 * mlp_fxp.parameter_count(dims)
    if before is None or len(before) != size:
        got = "none" if before is None else f"{len(before)} bytes"
        raise InputError(f"checkpoint {index - 1} must be {size} bytes, got {got}")
    words = np.frombuffer(before, "<i4").astype(np.int32)
    # An honest checkpoint is within the clamps; a cheater's may not be, and the bounds that
    # keep every sum exact in int64 need it to be.
    clamped: I32 = np.clip(words, -mlp_fxp.WEIGHT_LIMIT, mlp_fxp.WEIGHT_LIMIT)
    return clamped


def job_checkpoints(params: Sequence[int], seed: int, x: I8, y: I16, device: str) -> list[bytes]:
    """Every checkpoint of the job, in leaf order."""
    samples, batch, steps, every, frac_bits, lr_shift, dims = mlp_layout(params)
    order = batch_order_rows(seed, samples, batch, steps, 0, steps, "mlp_fxp")
    start = start_of(params, seed, 0, None)
    out, _ = trainer(device)(x, y, order, every, frac_bits, lr_shift, start, dims)
    return [_leaf(row) for row in out]


def checkpoint_from(
    params: Sequence[int],
    seed: int,
    x: I8,
    y: I16,
    index: int,
    before: bytes | None,
    device: str,
    witness_mask: int | None = None,
) -> tuple[bytes, list[I64]]:
    """Checkpoint `index` trained from `before` (checkpoint index − 1; ignored for 0): its
    `every` steps, their batches generated on their own; with `witness_mask`, each step's
    witness array too."""
    samples, batch, steps, every, frac_bits, lr_shift, dims = mlp_layout(params)
    first = index * every
    order = batch_order_rows(seed, samples, batch, steps, first, first + every, "mlp_fxp")
    start = start_of(params, seed, index, before)
    out: Any
    out, witnesses = trainer(device)(
        x, y, order, every, frac_bits, lr_shift, start, dims, witness_mask
    )
    return _leaf(out[0]), witnesses


__all__ = ["checkpoint_from", "job_checkpoints", "start_of", "trainer"]
