"""The checks every device's kernels make on their arguments before launching, in one place.

The kernels trust their arrays (shapes, dtypes, ranges); these functions refuse, with a message
naming the argument, what would make a kernel read out of bounds or overflow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, TypeVar

import numpy as np

from gpu_worker.inputs import I8, I16, I32, I64, QmlpLayer

I32_MIN: Final = -(2**31)
I32_MAX: Final = 2**31 - 1
_A = TypeVar("_A", bound=np.ndarray)


def read_only(x: _A) -> _A:
    """A read-only view of `x` (no copy), as a job's inputs arrive: they are read from bytes.

    Numba compiles a kernel once for each set of argument types, and a writable array is
    another type than a read-only one: the wrappers hand the kernels every input array
    read-only, so each kernel is compiled once (seconds for a parallel kernel) whoever calls it.
    """
    if not x.flags.writeable:
        return x
    view = x.view()
    view.flags.writeable = False
    return view


def int8_matrix(x: np.ndarray, name: str) -> I8:
    """`x` as a read-only C-contiguous int8 matrix; ValueError for another shape or dtype."""
    if x.ndim != 2:
        raise ValueError(f"{name} must be a matrix, not an array of shape {x.shape}")
    if x.dtype != np.int8:
        raise ValueError(f"{name} must be int8, not {x.dtype}")
    matrix: I8 = read_only(np.ascontiguousarray(x))
    return matrix


def check_product(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    """ValueError unless an a_shape matrix can multiply a b_shape one."""
    if a_shape[1] != b_shape[0]:
        raise ValueError(f"cannot multiply {a_shape[0]}×{a_shape[1]} by {b_shape[0]}×{b_shape[1]}")


def layer_arrays(layer: QmlpLayer) -> tuple[I8, I32]:
    """A qmlp_i8 layer's weights and bias, checked to fit each other."""
    weights = int8_matrix(layer.weights, "layer weights")
    bias: I32 = read_only(np.ascontiguousarray(layer.bias, dtype=np.int32))
    if bias.shape != (weights.shape[1],):
        raise ValueError(f"bias of shape {bias.shape} does not fit weights {weights.shape}")
    return weights, bias


def check_requantization(layer: QmlpLayer) -> None:
    """ValueError for a multiplier or shift the int64 requantization cannot take."""
    if not 1 <= layer.shift <= 62:
        raise ValueError(f"shift must be from 1 to 62, not {layer.shift}")
    if not I32_MIN <= layer.mult <= I32_MAX:
        raise ValueError(f"mult must fit in int32, not {layer.mult}")


def run_layers(
    x: I8,
    layers: Sequence[QmlpLayer],
    layer: Callable[[I8, QmlpLayer], I32],
    requantize: Callable[[I32, QmlpLayer], I8],
) -> list[I32]:
    """Every layer's accumulators for a batch `x` (the last are the logits), by the given steps."""
    out: list[I32] = []
    h = x
    for j, current in enumerate(layers):
        acc = layer(h, current)
        out.append(acc)
        if j + 1 < len(layers):
            h = requantize(acc, current)
    return out


def sgd_arguments(
    x: I8, y: I16, order: I64, frac_bits: int, lr_shift: int, start: I32 | None
) -> tuple[I8, I32]:
    """sgd_fxp's samples as a contiguous int8 matrix and its starting weights, all checked."""
    x = int8_matrix(x, "x")
    if y.ndim != 2 or y.dtype != np.int16 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y must be int16 with {x.shape[0]} rows, not {y.dtype} {y.shape}")
    if order.ndim != 2:
        raise ValueError(f"order must be steps×batch, not an array of shape {order.shape}")
    if order.size and (int(order.min()) < 0 or int(order.max()) >= x.shape[0]):
        raise ValueError(f"order holds sample indices outside 0..{x.shape[0] - 1}")
    if not 0 <= frac_bits <= 48 or not 1 <= lr_shift <= 62:
        raise ValueError(f"frac_bits {frac_bits} or lr_shift {lr_shift} is out of range")
    features, outputs = x.shape[1], y.shape[1]
    w0: I32 = (
        np.zeros((features, outputs), np.int32)
        if start is None
        else np.ascontiguousarray(start, dtype=np.int32)
    )
    w0 = read_only(w0)
    if w0.shape != (features, outputs):
        raise ValueError(f"start must be {features}×{outputs}, not {w0.shape}")
    return x, w0
