"""The digits classifier: its accuracy before and after quantization, and its qmlp_i8 job."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpu_worker import reference
from gpu_worker.inputs import check_inputs, parse_model
from gpu_worker.jobs import JobSpec, compute_leaves
from gpu_worker.models.digits import (
    DigitsModel,
    accuracy_from_logits,
    digits_job,
    digits_test_set,
    int8_accuracy,
    predictions_from_leaves,
    quantize_pixels,
    requantization,
    train_digits_model,
)
from runtime.workloads import workload_shape

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model() -> DigitsModel:
    return train_digits_model()


# The model


def test_float_model_is_accurate(model: DigitsModel) -> None:
    assert model.dims == (64, 64, 10)
    assert model.float_accuracy >= 0.93


def test_int8_model_keeps_the_float_accuracy(model: DigitsModel) -> None:
    assert abs(int8_accuracy(model) - model.float_accuracy) <= 0.02


def test_model_bytes_parse_as_qmlp_i8(model: DigitsModel) -> None:
    layers = parse_model(model.dims, model.model)
    assert [layer.weights.shape for layer in layers] == [(64, 64), (64, 10)]
    hidden = layers[0]
    assert 2**30 <= hidden.mult < 2**31
    assert 1 <= hidden.shift <= 62


def test_training_is_deterministic(model: DigitsModel) -> None:
    script = (
        "import hashlib\n"
        "from gpu_worker.models.digits import train_digits_model\n"
        "print(hashlib.sha256(train_digits_model().model).hexdigest())\n"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert fresh.stdout.strip() == hashlib.sha256(model.model).hexdigest()


# The job


def test_job_params_and_inputs_fit_the_workload(model: DigitsModel) -> None:
    params, inputs = digits_job(row_block=64)
    x, labels = digits_test_set()
    assert params == (len(labels), 64, *model.dims)
    assert x.shape == (len(labels), 64) and x.dtype == np.int8
    assert x.min() >= 0 and x.max() <= 112
    shape = workload_shape("qmlp_i8", params)
    assert shape.leaves == 2 * math.ceil(len(labels) / 64)
    check_inputs("qmlp_i8", params, inputs)


def test_job_result_classifies_like_the_reference(model: DigitsModel) -> None:
    params, inputs = digits_job(row_block=100)
    leaves = compute_leaves(JobSpec("qmlp_i8", params), inputs, device="numpy")
    predicted = predictions_from_leaves(params, leaves)
    x, labels = digits_test_set()
    logits = reference.qmlp(x, parse_model(model.dims, model.model))[-1]
    assert np.array_equal(predicted, logits.argmax(axis=1))
    assert np.mean(predicted == labels) == int8_accuracy(model)


# The pieces


def test_accuracy_from_logits() -> None:
    logits = np.array([[1, 5, 2], [9, 0, 0], [0, 0, 3], [4, 4, 7]], dtype=np.int32)
    assert accuracy_from_logits(logits, np.array([1, 0, 2, 0])) == 0.75
    with pytest.raises(ValueError):
        accuracy_from_logits(logits, np.array([1, 0]))


def test_quantize_pixels() -> None:
    assert quantize_pixels(np.array([[0, 1, 16]])).tolist() == [[0, 7, 112]]
    with pytest.raises(ValueError):
        quantize_pixels(np.array([[17]]))


@given(st.floats(min_value=2.0**-30, max_value=2.0**29))
def test_requantization_approximates_its_scale(scale: float) -> None:
    mult, shift = requantization(scale)
    assert 2**30 <= mult < 2**31 and 1 <= shift <= 62
    assert abs(mult / 2**shift - scale) <= scale * 2.0**-30


def test_requantization_refuses_scales_out_of_range() -> None:
    for scale in (0.0, -1.0, 2.0**40, 2.0**-40):
        with pytest.raises(ValueError):
            requantization(scale)
