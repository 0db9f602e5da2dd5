"""The tfm_i8 integer approximations stay within their stated bounds of the float operations, and
the forward pass within its bound of the float model it was quantized from.

Bounds (the README's table): i-exp within 0.0025 of exp on (−∞, 0]; softmax probabilities within
0.006 (half a unit of 1/127, plus i-exp's error); i-GELU within 0.02 of GELU (I-BERT's
polynomial); LayerNorm within half a unit of its int8 output plus 0.001 and 2/σ (σ the row's
spread in integer units: the integer mean's rounding); the whole forward pass's logits within 6%
of the float logits' largest magnitude and its next-token probabilities within 0.03, on random
small models.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker.tfm import reference
from gpu_worker.tfm.forward import TokensError, forward, forward_layer, ops_for
from gpu_worker.tfm.quantize import (
    float_forward,
    gelu,
    layer_norm,
    quantize,
    quantize_model,
    requant_of,
)
from gpu_worker.tfm.scalar import isqrt_value
from gpu_worker.tfm.spec import Requant
from tests.gpu_worker.tfm.models import HEADS, random_params, small_model

UNIT = Requant(1 << 30, 30)
"""rq by 1: the scores are given in Q10 already."""


def softmax_rows(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=1, keepdims=True))
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def test_i_exp_is_within_its_bound_of_exp() -> None:
    d = np.arange(-40 * 1024, 1)
    e = reference.i_exp(d) * (0.3585 / 2**20)
    assert np.abs(e - np.exp(d / 1024)).max() < 0.0025
    assert (np.diff(reference.i_exp(d)) >= 0).all()


def test_i_gelu_is_within_its_bound_of_gelu() -> None:
    g = np.arange(-20 * 1024, 20 * 1024 + 1)
    assert np.abs(reference.i_gelu(g) / 1024 - gelu(g / 1024)).max() < 0.02


@settings(max_examples=30)
@given(t=st.integers(1, 96), spread=st.floats(0.1, 12), seed=st.integers(0, 2**32 - 1))
def test_softmax_is_within_its_bound_of_float(t: int, spread: float, seed: int) -> None:
    s = np.random.default_rng(seed).normal(0, spread, (t, t))
    p = reference.softmax(np.round(s * 1024).astype(np.int32), UNIT, 0) / 127
    masked = s + np.triu(np.full((t, t), -np.inf), 1)
    assert np.abs(p - softmax_rows(masked)).max() < 0.006
    assert (np.triu(p, 1) == 0).all()


def test_softmax_from_a_later_start_sees_the_earlier_keys() -> None:
    scores = np.random.default_rng(1).integers(-5000, 5000, (7, 7)).astype(np.int32)
    whole = reference.softmax(scores, UNIT, 0)
    assert np.array_equal(reference.softmax(scores[4:], UNIT, 4), whole[4:])


@settings(max_examples=30)
@given(d=st.integers(2, 300), size=st.floats(1e-3, 1), seed=st.integers(0, 2**32 - 1))
def test_layernorm_is_within_its_bound_of_float(d: int, size: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (4, d)) * size
    xi = np.round(x * 2**16).astype(np.int32)
    g, b = np.full(d, 127, np.int8), np.zeros(d, np.int32)
    out = reference.layernorm(xi, g, b, 1, requant_of(32 / 127 / 4096)) / 32
    want = np.clip(layer_norm(xi.astype(np.float64), np.ones(d), np.zeros(d)), -4, 127 / 32)
    # The integer mean is off by up to half a unit: a relative error of 1/(2σ) in a row whose
    # spread is σ units, which the residual's scale (its largest value at 2^16) makes small.
    sigma = xi.astype(np.float64).std(axis=1, keepdims=True)
    bound = 0.5 / 32 + 0.001 + 4 / (2 * sigma)
    assert (np.abs(out - want) < bound).all()


def test_isqrt_is_the_floor_of_the_square_root() -> None:
    n = np.array([0, 1, 2, 3, 4, 15, 16, 17, 2**40 - 1, 2**40, 2**59 + 12345, 2**62], np.int64)
    got = reference.isqrt(n)
    assert [int(v) for v in got] == [math.isqrt(int(v)) for v in n]
    assert [isqrt_value(int(v)) for v in n] == [math.isqrt(int(v)) for v in n]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_forward_pass_is_within_its_bound_of_the_float_model(seed: int) -> None:
    params = random_params(seed, vocab=64, context=24, d=32, layers=2, d_ff=64)
    rng = np.random.default_rng(seed + 1)
    q = quantize_model(params, [rng.integers(0, 64, 24) for _ in range(6)], heads=4)
    tokens = rng.integers(0, 64, 24)
    want = float_forward(params, tokens, 4)
    got = forward(q.weights, tokens).logits * q.logit_scale
    assert np.abs(got - want).max() < 0.06 * np.abs(want).max()
    assert np.abs(softmax_rows(got) - softmax_rows(want)).max() < 0.03
    assert (got.argmax(axis=1) == want.argmax(axis=1)).mean() >= 0.85


def test_each_layer_block_follows_from_the_layer_before() -> None:
    """What an audit relies on: rows r0..r1 of layer i from rows 0..r1 of layer i − 1 alone."""
    weights = small_model()[1].weights
    tokens = np.random.default_rng(4).integers(0, weights.descriptor.vocab, 12)
    result = forward(weights, tokens)
    ops = ops_for("reference")
    for r0, r1 in ((0, 4), (4, 8), (8, 12), (11, 12)):
        got = forward_layer(ops, weights, 1, result.layers[0][:r1], start=r0)
        assert np.array_equal(got, result.layers[1][r0:r1])
    # A prefix gives the same rows: a later token never changes an earlier position's output.
    prefix = forward(weights, tokens[:5])
    assert np.array_equal(prefix.logits, result.logits[:5])


def test_a_corrupted_layer_output_changes_what_follows() -> None:
    weights = small_model()[1].weights
    tokens = np.random.default_rng(5).integers(0, weights.descriptor.vocab, 12)
    result = forward(weights, tokens)
    bad = result.layers[0].copy()
    bad[2, 3] += 1000
    recomputed = forward_layer(ops_for("reference"), weights, 1, bad)
    assert not np.array_equal(recomputed[2:], result.layers[1][2:])
    assert np.array_equal(recomputed[:2], result.layers[1][:2])


@pytest.mark.parametrize(
    ("tokens", "problem"),
    [
        ([], "non-empty"),
        ([0] * 13, "context"),
        ([0, 48], "vocabulary"),
        ([-1], "vocabulary"),
        ([0.5], "integers"),
        ([[1, 2]], "sequence"),
    ],
)
def test_tokens_the_model_cannot_take_are_refused(tokens: list[object], problem: str) -> None:
    with pytest.raises(TokensError, match=problem):
        forward(small_model()[1].weights, tokens)  # type: ignore[arg-type]


def test_quantize_refuses_empty_calibration_and_names_missing_heads() -> None:
    params = small_model()[0]
    with pytest.raises(ValueError, match="calibration"):
        quantize(params, [[]], heads=HEADS)
    with pytest.raises(ValueError, match="divisible"):
        quantize(params, [[1, 2]], heads=3)
    with pytest.raises(ValueError, match="longer than the context"):
        quantize(params, [[1] * 13], heads=HEADS)
    with pytest.raises(ValueError, match="vocabulary"):
        quantize(params, [[1, 48]], heads=HEADS)
    with pytest.raises(ValueError, match="percentile"):
        quantize_model(params, [[1, 2]], heads=HEADS, percentile=20)


def test_a_lower_percentile_gives_finer_activation_steps() -> None:
    params = small_model()[0]
    calibration = np.random.default_rng(2).integers(0, 48, (4, 12))
    whole = quantize_model(params, calibration, heads=HEADS)
    clipped = quantize_model(params, calibration, heads=HEADS, percentile=99.0)
    # A smaller LayerNorm output scale: a larger ratio from the accumulators to it.
    a, b = whole.weights.layers[0].rq["ln1"], clipped.weights.layers[0].rq["ln1"]
    assert b.mult / 2**b.shift > a.mult / 2**a.shift
    assert whole.weights.rq["tok"] == clipped.weights.rq["tok"]


def test_the_float_model_runs_a_batch_as_its_sequences() -> None:
    params = small_model()[0]
    batch = np.random.default_rng(6).integers(0, 48, (3, 7))
    together = float_forward(params, batch, HEADS)
    for row, tokens in zip(together, batch, strict=True):
        assert np.allclose(row, float_forward(params, tokens, HEADS), atol=1e-9)


def test_requantization_pairs_are_qmlp_s() -> None:
    for ratio in (1.0, 0.5, 3e-7, 1234.5, 2.0**-31):
        step = requant_of(ratio)
        assert 2**30 <= step.mult < 2**31 and 1 <= step.shift <= 62
        assert abs(step.mult / 2**step.shift - ratio) <= ratio * 2**-30
    with pytest.raises(ValueError, match="outside"):
        requant_of(2.0**40)
