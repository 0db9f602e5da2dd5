"""The digits MLP trained from scratch as an mlp_fxp job, and the same net trained in float.

    params, inputs = digits_training_job()            # 75% of scikit-learn's digits
    leaves = compute_leaves(JobSpec("mlp_fxp", params, SEED), inputs, device="cpu")
    fixed_point_accuracy(params, leaves[-1])           # on the held-out 25%
    float_accuracy()                                   # the same net, steps and batches in float

The job: 64 → 64 → 10, pixels as int8 0..112 (`digits.quantize_pixels`), targets the one-hot
class scaled to TARGET, STEPS steps of BATCH samples in checkpoints of EVERY steps, weights in
Q.FRAC_BITS and a learning rate of 2^−LR_SHIFT (`gpu_worker.mlp_fxp` gives the arithmetic). The
float net is the same function with no rounding and no clamps but the activations' 0..127: the
same initial weights (divided by 2^FRAC_BITS), the same batches in the same order, the same
learning rate on the same summed squared error. The class is the argmax of the logits.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from gpu_worker import mlp_fxp
from gpu_worker.inputs import I8, I16, batch_order_rows
from gpu_worker.models.digits import _split, quantize_pixels

F64 = npt.NDArray[np.float64]

DIMS: Final = (64, 64, 10)
BATCH: Final = 32
STEPS: Final = 1600
EVERY: Final = 100
"""16 checkpoints (the most an mlp_fxp job has), each 100 steps: 9.1·10^7 cost units to audit."""
FRAC_BITS: Final = 16
LR_SHIFT: Final = 20
TARGET: Final = 64
"""The one-hot target's value (logits are in the activations' units, 0..127)."""
SEED: Final = 0


def training_arrays() -> tuple[I8, I16]:
    """The training set as the job's x (int8 pixels ×7) and y (one-hot × TARGET, int16)."""
    split = _split()
    x = quantize_pixels(split.x_train)
    y: I16 = np.zeros((len(split.y_train), DIMS[-1]), np.int16)
    y[np.arange(len(split.y_train)), split.y_train] = TARGET
    return x, y


def digits_training_job(
    steps: int = STEPS, every: int = EVERY
) -> tuple[tuple[int, ...], dict[str, bytes]]:
    """The mlp_fxp params and inputs that train the digits MLP from scratch."""
    x, y = training_arrays()
    params = (len(x), BATCH, steps, every, FRAC_BITS, LR_SHIFT, *DIMS)
    return params, {"x": x.tobytes(), "y": y.astype("<i2").tobytes()}


def _test_set() -> tuple[I8, npt.NDArray[np.int64]]:
    split = _split()
    return quantize_pixels(split.x_test), np.asarray(split.y_test)


def fixed_point_accuracy(leaf: bytes) -> float:
    """Held-out accuracy of a checkpoint of the job."""
    flat = np.frombuffer(leaf, "<i4").astype(np.int32)
    x, labels = _test_set()
    predicted = mlp_fxp.logits(flat, DIMS, x, FRAC_BITS).argmax(axis=1)
    return float(np.mean(predicted == labels))


def float_accuracy(steps: int = STEPS) -> float:
    """Held-out accuracy of the same net trained in float64 on the same batches."""
    x, y = training_arrays()
    order = batch_order_rows(SEED, len(x), BATCH, steps, 0, steps, "mlp_fxp")
    start = mlp_fxp.initial_parameters(SEED, DIMS, FRAC_BITS)
    layers = [
        (w.astype(np.float64) / 2**FRAC_BITS, b.astype(np.float64) / 2**FRAC_BITS)
        for w, b in mlp_fxp.split_parameters(start, DIMS)
    ]
    lr = 2.0**-LR_SHIFT
    xf, yf = x.astype(np.float64), y.astype(np.float64)
    for rows in order:
        hs, masks = [xf[rows]], []
        for j, (w, b) in enumerate(layers):
            acc = hs[-1] @ w + b
            if j + 1 < len(layers):
                masks.append((acc > 0) & (acc < mlp_fxp.ACTIVATION_MAX))
                hs.append(np.clip(acc, 0, mlp_fxp.ACTIVATION_MAX))
        delta = acc - yf[rows]
        for j in range(len(layers) - 1, -1, -1):
            w, b = layers[j]
            grad_w, grad_b = hs[j].T @ delta, delta.sum(axis=0)
            if j > 0:
                delta = (delta @ w.T) * masks[j - 1]
            w -= lr * grad_w
            b -= lr * grad_b
    x_test, labels = _test_set()
    h: F64 = x_test.astype(np.float64)
    for j, (w, b) in enumerate(layers):
        h = h @ w + b
        if j + 1 < len(layers):
            h = np.clip(h, 0, mlp_fxp.ACTIVATION_MAX)
    return float(np.mean(h.argmax(axis=1) == labels))


__all__ = [
    "BATCH",
    "DIMS",
    "EVERY",
    "FRAC_BITS",
    "LR_SHIFT",
    "SEED",
    "STEPS",
    "TARGET",
    "digits_training_job",
    "fixed_point_accuracy",
    "float_accuracy",
    "training_arrays",
]
