"""The digits classifier: a small MLP trained in floating point and run as a qmlp_i8 job.

    model = train_digits_model()                 # float accuracy: model.float_accuracy
    params, inputs = digits_job()                # the whole test set as one qmlp_i8 job
    leaves = compute_leaves(JobSpec("qmlp_i8", params), inputs, device="cpu")
    predicted = predictions_from_leaves(params, leaves)
    _, labels = digits_test_set()                # int8 accuracy: mean(predicted == labels)

Data: scikit-learn's digits (1,797 images of 8×8 pixels, each 0..16), shipped inside the package,
split 75/25 stratified with a fixed seed. A 64→64→10 ReLU MLP is trained on pixels/16 with a fixed
seed and BLAS on one thread, so the same machine image gives the same model bytes every time.

Quantization for qmlp_i8 (runtime.workloads gives the arithmetic):

- input: x_q = 7·pixel (0..112), so the float input pixel/16 is x_q·s_x with s_x = 1/112;
- weights: per layer, symmetric int8, W_q = round(W / s_w) with s_w = max|W| / 127;
- bias: int32 in the accumulator's scale s_acc = s_in·s_w, b_q = round(b / s_acc);
- a hidden layer's output scale s_a is the 99.9th percentile of its float activations over the
  training set, divided by 127 (the rare larger ones saturate at 127), and its requantization is
  mult / 2^shift ≈ s_acc / s_a with mult in [2^30, 2^31), which keeps acc·mult within int64;
- the last layer's accumulators are the logits (in scale s_acc); their argmax is the class.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from gpu_worker import reference
from gpu_worker.inputs import BIAS_LIMIT, I8, I32, encode_model, parse_model
from gpu_worker.jobs import JobSpec, result_arrays

F64 = npt.NDArray[np.float64]
Labels = npt.NDArray[np.int64]

PIXEL_MAX: Final = 16
"""Digits pixels are integers from 0 to PIXEL_MAX."""
INPUT_MULTIPLIER: Final = 7
"""A pixel p enters the quantized model as the int8 value INPUT_MULTIPLIER·p (0..112)."""
HIDDEN_LAYERS: Final = (64,)
TEST_FRACTION: Final = 0.25
SEED: Final = 0
"""Fixes the train/test split and the initial weights."""
L2_PENALTY: Final = 1e-3
MAX_EPOCHS: Final = 1_000
"""Enough for the optimizer to meet its own stopping rule (about 350 epochs here)."""
ACTIVATION_PERCENTILE: Final = 99.9
INT8_MAX: Final = 127


@dataclass(frozen=True, slots=True)
class DigitsModel:
    """A trained digits classifier as a qmlp_i8 model, with the float model's test accuracy."""

    dims: tuple[int, ...]
    model: bytes
    """The qmlp_i8 model bytes (gpu_worker.inputs.encode_model layout)."""
    float_accuracy: float
    """Accuracy on the test set of the floating-point model the int8 one was quantized from."""
    input_multiplier: int = INPUT_MULTIPLIER


@dataclass(frozen=True, slots=True)
class _Split:
    x_train: F64
    y_train: Labels
    x_test: F64
    y_test: Labels


@functools.cache
def _split() -> _Split:
    # scikit-learn is imported where it is used: it takes about a second to import.
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

    data = load_digits()
    pixels = np.asarray(data.data, dtype=np.float64)
    labels = np.asarray(data.target, dtype=np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        pixels, labels, test_size=TEST_FRACTION, stratify=labels, random_state=SEED
    )
    arrays = [np.asarray(a) for a in (x_train, y_train, x_test, y_test)]
    for array in arrays:
        array.setflags(write=False)  # shared through the cache
    return _Split(*arrays)


def quantize_pixels(pixels: npt.ArrayLike) -> I8:
    """Digits images (pixels 0..16, one image a row) as qmlp_i8 input: int8 values 0..112."""
    values = np.asarray(pixels)
    if values.size and (values.min() < 0 or values.max() > PIXEL_MAX):
        raise ValueError(f"pixels must lie in 0..{PIXEL_MAX}")
    quantized: I8 = (np.rint(values).astype(np.int64) * INPUT_MULTIPLIER).astype(np.int8)
    return quantized


def requantization(scale: float) -> tuple[int, int]:
    """(mult, shift) with mult / 2^shift ≈ `scale`, mult in [2^30, 2^31) and shift in 1..62."""
    if not scale > 0:
        raise ValueError(f"a requantization scale must be positive, got {scale}")
    fraction, exponent = math.frexp(scale)  # scale = fraction·2^exponent, fraction in [0.5, 1)
    mult, shift = round(fraction * 2**31), 31 - exponent
    if mult == 2**31:
        mult, shift = 2**30, shift - 1
    if not 1 <= shift <= 62:
        raise ValueError(f"scale {scale} needs a shift of {shift}, outside 1..62")
    return mult, shift


def _fit(split: _Split) -> tuple[list[F64], list[F64], float]:
    """The float MLP's weights, biases and test accuracy."""
    from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped]
    from sklearn.neural_network import MLPClassifier  # type: ignore[import-untyped]
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    classifier = MLPClassifier(
        hidden_layer_sizes=HIDDEN_LAYERS,
        activation="relu",
        alpha=L2_PENALTY,
        max_iter=MAX_EPOCHS,
        random_state=SEED,
    )
    # One BLAS thread: the float sums, and so the model bytes, do not depend on the core count.
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        # A model that stops at MAX_EPOCHS is still a good model; its accuracy is measured below.
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(split.x_train / PIXEL_MAX, split.y_train)
        accuracy = float(classifier.score(split.x_test / PIXEL_MAX, split.y_test))
    weights = [np.asarray(w, dtype=np.float64) for w in classifier.coefs_]
    biases = [np.asarray(b, dtype=np.float64) for b in classifier.intercepts_]
    return weights, biases, accuracy


def _quantize(
    weights: Sequence[F64], biases: Sequence[F64], x_train: F64
) -> list[tuple[I8, I32, int, int]]:
    """The qmlp_i8 layers of a float ReLU MLP whose input is x_train (pixels) / PIXEL_MAX."""
    layers: list[tuple[I8, I32, int, int]] = []
    input_scale = 1.0 / (PIXEL_MAX * INPUT_MULTIPLIER)
    activations = x_train / PIXEL_MAX
    for j, (w, b) in enumerate(zip(weights, biases, strict=True)):
        weight_scale = max(float(np.abs(w).max()), 1e-12) / INT8_MAX
        w_q: I8 = np.rint(w / weight_scale).astype(np.int8)
        acc_scale = input_scale * weight_scale
        b_q: I32 = np.clip(np.rint(b / acc_scale), -BIAS_LIMIT, BIAS_LIMIT).astype(np.int32)
        activations = activations @ w + b
        if j + 1 == len(weights):
            # The logits stay accumulators: mult and shift are unused, any valid pair will do.
            layers.append((w_q, b_q, 1, 1))
            break
        activations = np.maximum(activations, 0.0)
        top = float(np.percentile(activations, ACTIVATION_PERCENTILE))
        output_scale = max(top, 1e-12) / INT8_MAX
        mult, shift = requantization(acc_scale / output_scale)
        layers.append((w_q, b_q, mult, shift))
        input_scale = output_scale
    return layers


@functools.cache
def train_digits_model() -> DigitsModel:
    """Train the float MLP on the training split and quantize it for qmlp_i8 (cached)."""
    split = _split()
    weights, biases, accuracy = _fit(split)
    dims = (weights[0].shape[0], *(w.shape[1] for w in weights))
    model = encode_model(_quantize(weights, biases, split.x_train))
    return DigitsModel(dims=dims, model=model, float_accuracy=accuracy)


def digits_test_set() -> tuple[I8, Labels]:
    """The test split: images as qmlp_i8 input (batch×64 int8) and their labels (0..9)."""
    split = _split()
    return quantize_pixels(split.x_test), split.y_test.copy()


def digits_job(row_block: int = 64) -> tuple[tuple[int, ...], dict[str, bytes]]:
    """The qmlp_i8 params (batch, row_block, *dims) and inputs that classify the test set."""
    model = train_digits_model()
    x, _ = digits_test_set()
    params = (x.shape[0], row_block, *model.dims)
    return params, {"x": x.tobytes(), "model": model.model}


def accuracy_from_logits(logits: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """The fraction of rows whose largest logit is at their label."""
    scores, truth = np.asarray(logits), np.asarray(labels)
    if scores.ndim != 2 or scores.shape[0] != truth.shape[0]:
        raise ValueError(f"logits {scores.shape} do not match labels {truth.shape}")
    return float(np.mean(scores.argmax(axis=1) == truth))


def int8_accuracy(model: DigitsModel) -> float:
    """The quantized model's test accuracy, computed with the qmlp_i8 reference."""
    x, labels = digits_test_set()
    logits = reference.qmlp(x, parse_model(model.dims, model.model))[-1]
    return accuracy_from_logits(logits, labels)


def predictions_from_leaves(params: Sequence[int], leaves: Sequence[bytes]) -> Labels:
    """The predicted class of each row of a qmlp_i8 job's result: the argmax of its logits."""
    logits = result_arrays(JobSpec("qmlp_i8", tuple(params)), leaves)[-1]
    predictions: Labels = logits.argmax(axis=1).astype(np.int64)
    return predictions


__all__ = [
    "INPUT_MULTIPLIER",
    "DigitsModel",
    "accuracy_from_logits",
    "digits_job",
    "digits_test_set",
    "int8_accuracy",
    "predictions_from_leaves",
    "quantize_pixels",
    "requantization",
    "train_digits_model",
]
