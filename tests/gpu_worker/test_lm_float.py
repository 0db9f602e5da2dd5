"""The language model's float forward pass against the architecture, and its backward pass
against finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import erf  # type: ignore[import-untyped]

from gpu_worker.models import lm_float
from gpu_worker.models.lm_float import (
    LmShape,
    Params,
    ShapeError,
    check_params,
    init_params,
    logits,
    loss_and_grads,
    param_shapes,
)
from gpu_worker.tfm.quantize import float_forward

TINY = LmShape(vocab=7, context=5, d_model=8, heads=2, layers=2, d_ff=12)


def _random_params(shape: LmShape, seed: int) -> Params:
    """Parameters in float64 with every gain, bias and weight away from its initial value."""
    rng = np.random.default_rng(seed)
    return {
        name: p.astype(np.float64) + rng.normal(0.0, 0.3, p.shape)
        for name, p in init_params(shape, seed).items()
    }


def _plain_logits(params: Params, shape: LmShape, tokens: list[int]) -> np.ndarray:
    """The architecture's definition, one position and one head at a time."""

    def ln(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        return g * (x - x.mean()) / math.sqrt(x.var() + 1e-5) + b

    xs = [params["tok_emb"][t] + params["pos_emb"][p] for p, t in enumerate(tokens)]
    e = shape.head_dim
    for i in range(shape.layers):
        w = {k.split(".")[-1]: v for k, v in params.items() if k.startswith(f"layers.{i}.")}
        hs = [ln(x, w["ln1_g"], w["ln1_b"]) for x in xs]
        q = [h @ w["wq"] + w["bq"] for h in hs]
        k = [h @ w["wk"] + w["bk"] for h in hs]
        v = [h @ w["wv"] + w["bv"] for h in hs]
        new = []
        for t in range(len(xs)):
            heads = []
            for j in range(shape.heads):
                cols = slice(j * e, (j + 1) * e)
                s = np.array([q[t][cols] @ k[u][cols] / math.sqrt(e) for u in range(t + 1)])
                a = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
                heads.append(sum(a[u] * v[u][cols] for u in range(t + 1)))
            x = xs[t] + np.concatenate(heads) @ w["wo"] + w["bo"]
            u_ = ln(x, w["ln2_g"], w["ln2_b"]) @ w["w1"] + w["b1"]
            gelu = 0.5 * u_ * (1 + erf(u_ / math.sqrt(2)))
            new.append(x + gelu @ w["w2"] + w["b2"])
        xs = new
    return np.array([ln(x, params["lnf_g"], params["lnf_b"]) @ params["w_out"] for x in xs])


def test_parameters_have_the_architectures_names_and_shapes() -> None:
    shapes = param_shapes(LmShape(256, 64, 16, 4, 1, 48))
    assert list(shapes) == [
        "tok_emb", "pos_emb",
        "layers.0.ln1_g", "layers.0.ln1_b",
        "layers.0.wq", "layers.0.wk", "layers.0.wv", "layers.0.wo",
        "layers.0.bq", "layers.0.bk", "layers.0.bv", "layers.0.bo",
        "layers.0.ln2_g", "layers.0.ln2_b",
        "layers.0.w1", "layers.0.b1", "layers.0.w2", "layers.0.b2",
        "lnf_g", "lnf_b", "w_out",
    ]  # fmt: skip
    assert shapes["tok_emb"] == (256, 16) and shapes["pos_emb"] == (64, 16)
    assert shapes["layers.0.w1"] == (16, 48) and shapes["layers.0.w2"] == (48, 16)
    assert shapes["w_out"] == (16, 256)
    params = init_params(LmShape(256, 64, 16, 4, 1, 48), seed=0)
    check_params(params, LmShape(256, 64, 16, 4, 1, 48))
    assert all(p.dtype == np.float32 for p in params.values())


def test_forward_is_the_architectures_definition() -> None:
    params = _random_params(TINY, seed=3)
    tokens = [4, 0, 6, 6, 2]
    np.testing.assert_allclose(
        logits(params, TINY, np.array([tokens]))[0], _plain_logits(params, TINY, tokens), atol=1e-9
    )


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(0, TINY.vocab - 1), min_size=2, max_size=TINY.context),
    st.integers(0, TINY.vocab - 1),
    st.data(),
)
def test_a_position_sees_no_later_token(tokens: list[int], other: int, data: st.DataObject) -> None:
    params = _random_params(TINY, seed=1)
    cut = data.draw(st.integers(1, len(tokens) - 1))
    changed = [*tokens[:cut], other, *tokens[cut + 1 :]]
    before, after = (logits(params, TINY, np.array([t])) for t in (tokens, changed))
    np.testing.assert_array_equal(before[:, :cut], after[:, :cut])


def test_forward_is_the_one_quantization_calibrates_on() -> None:
    # gpu_worker.tfm.quantize runs its own float forward pass to set the activation scales: it
    # must be the model that was trained, or the integer model approximates another one.
    params = _random_params(TINY, seed=4)
    tokens = np.array([3, 1, 4, 1, 5])
    np.testing.assert_allclose(
        logits(params, TINY, tokens[None])[0],
        float_forward(params, tokens, heads=TINY.heads),
        atol=1e-6,  # its erf is Abramowitz and Stegun's, within 1.5e-7
    )


def test_float32_in_float32_out() -> None:
    params = init_params(TINY, seed=0)
    scores = logits(params, TINY, np.array([[1, 2, 3]]))
    assert scores.dtype == np.float32 and scores.shape == (1, 3, TINY.vocab)
    _, grads = loss_and_grads(params, TINY, np.array([[1, 2]]), np.array([[2, 3]]))
    assert all(g.dtype == np.float32 for g in grads.values())


def _gradient_mismatches(seed: int) -> list[str]:
    """The parameters whose backward-pass gradient differs from central differences, checked
    along a random direction (every entry at once) and along two single entries each."""
    # float64 and central differences: the error is O(h²) ≈ 1e-12 against gradients ≈ 1e-2.
    params = _random_params(TINY, seed)
    rng = np.random.default_rng(seed)
    inputs = rng.integers(0, TINY.vocab, (3, 4))
    targets = rng.integers(0, TINY.vocab, (3, 4))
    _, grads = loss_and_grads(params, TINY, inputs, targets)
    assert set(grads) == set(params)
    h = 1e-5

    def slope(name: str, direction: np.ndarray) -> float:
        original = params[name]
        params[name] = original + h * direction
        up, _ = loss_and_grads(params, TINY, inputs, targets)
        params[name] = original - h * direction
        down, _ = loss_and_grads(params, TINY, inputs, targets)
        params[name] = original
        return (up - down) / (2 * h)

    mismatches = []
    for name, p in params.items():
        assert grads[name].shape == p.shape
        directions = [rng.normal(size=p.shape)]
        for flat in rng.integers(0, p.size, 2):
            directions.append(np.zeros(p.shape))
            directions[-1].flat[flat] = 1.0
        for direction in directions:
            expected = float(np.vdot(grads[name], direction))
            if slope(name, direction) != pytest.approx(expected, abs=1e-8, rel=1e-5):
                mismatches.append(name)
                break
    return mismatches


def test_backward_matches_finite_differences() -> None:
    assert _gradient_mismatches(seed=7) == []


def test_the_gradient_check_catches_a_wrong_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    # A backward pass that forgets GELU's derivative gets every weight before it wrong.
    monkeypatch.setattr(lm_float, "_gelu_derivative", lambda u: np.ones_like(u))
    mismatches = _gradient_mismatches(seed=7)
    assert {"layers.1.w1", "layers.1.b1", "layers.0.wq", "tok_emb"} <= set(mismatches)
    assert "w_out" not in mismatches and "layers.1.w2" not in mismatches


@pytest.mark.parametrize(
    ("tokens", "problem"),
    [
        (np.array([[0, 7]]), "0..6"),
        (np.array([[-1]]), "0..6"),
        (np.zeros((1, 6), dtype=np.int64), "batch, 1..5"),
        (np.zeros(3, dtype=np.int64), "batch, 1..5"),
    ],
)
def test_bad_tokens_are_refused(tokens: np.ndarray, problem: str) -> None:
    with pytest.raises(ShapeError, match=problem):
        logits(init_params(TINY, 0), TINY, tokens)


def test_bad_shapes_and_parameters_are_refused() -> None:
    with pytest.raises(ShapeError, match="not a multiple of heads"):
        init_params(LmShape(7, 5, 9, 2, 1, 4), seed=0)
    params = init_params(TINY, 0)
    del params["layers.1.bo"]
    with pytest.raises(ShapeError, match="missing"):
        check_params(params, TINY)
    params = init_params(TINY, 0)
    params["w_out"] = params["w_out"].T
    with pytest.raises(ShapeError, match="w_out"):
        check_params(params, TINY)
