"""Every tfm_i8 operation gives the NumPy reference's bits on the CPU (Numba) and on CUDA.

Inputs are drawn over their whole ranges with the extremes over-represented (int32 and int8
limits, 0, ±1, the residual clamp), and requantizations over every int32 pair (shifts outside
1..62 included, which the scheme clamps). The CUDA cases run where a GPU or Numba's simulator is
(`test_cuda_simulator.py` runs this module with NUMBA_ENABLE_CUDASIM=1); the simulator runs
every GPU thread as a Python thread, so the shapes are tiny.
"""

from __future__ import annotations

from types import ModuleType

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker.devices import cuda_available
from gpu_worker.tfm import reference
from gpu_worker.tfm.forward import forward, forward_layer, ops_for
from gpu_worker.tfm.spec import RES_LIMIT, Requant
from tests.gpu_worker.tfm.models import small_model, tiny_model

I32 = (-(2**31), 2**31 - 1)
I8 = (-128, 127)
RES = (-RES_LIMIT, RES_LIMIT)

EXAMPLES = 15 if numba.config.ENABLE_CUDASIM else 30
"""Fewer examples where the simulator runs them (only the CUDA cases run there)."""
DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not cuda_available(), reason="no GPU or simulator")
    ),
]


def device_ops(device: str) -> ModuleType:
    module: ModuleType = ops_for(device)  # type: ignore[assignment]
    return module


def values(seed: int, shape: tuple[int, ...], bounds: tuple[int, int]) -> np.ndarray:
    """Uniform values within bounds, a quarter of them replaced by the extremes, 0 and ±1."""
    lo, hi = bounds
    rng = np.random.default_rng(seed)
    out = rng.integers(lo, hi, shape, dtype=np.int64, endpoint=True)
    special = np.array([lo, hi, 0, 1, -1, lo + 1, hi - 1], np.int64)
    pick = rng.random(shape) < 0.25
    out[pick] = rng.choice(special, int(pick.sum()))
    return out


requants = st.builds(
    Requant,
    st.one_of(st.integers(*I32), st.integers(2**30, 2**31 - 1), st.sampled_from(I32)),
    st.one_of(st.integers(1, 62), st.integers(-3, 70), st.sampled_from([0, 1, 62, 63, 2**31 - 1])),
)
"""Any (mult, shift) pair a blob can hold."""
scales = st.builds(Requant, st.integers(2**30, 2**31 - 1), st.integers(20, 40))
"""Pairs like `quantize` makes, where the outputs span their range rather than saturate."""
rows = st.integers(1, 5)
cols = st.integers(1, 7)
seeds = st.integers(0, 2**32 - 1)


def same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b)


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=EXAMPLES)
@given(r=rows, c=cols, seed=seeds, step=st.one_of(requants, scales))
def test_requantize(device: str, r: int, c: int, seed: int, step: Requant) -> None:
    ops = device_ops(device)
    acc = values(seed, (r, c), I32).astype(np.int32)
    same(ops.requantize(acc, step), reference.requantize(acc, step))


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=EXAMPLES)
@given(r=rows, c=cols, seed=seeds, step=st.one_of(requants, scales))
def test_residual(device: str, r: int, c: int, seed: int, step: Requant) -> None:
    ops = device_ops(device)
    x = values(seed, (r, c), RES).astype(np.int32)
    acc = values(seed + 1, (r, c), I32).astype(np.int32)
    same(ops.residual(x, acc, step), reference.residual(x, acc, step))


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=EXAMPLES)
@given(
    r=rows, c=cols, seed=seeds, eps=st.integers(*I32), step=st.one_of(requants, scales),
    spread=st.sampled_from([1, 8, 2**12, RES_LIMIT]),
)  # fmt: skip
def test_layernorm(
    device: str, r: int, c: int, seed: int, eps: int, step: Requant, spread: int
) -> None:
    ops = device_ops(device)
    x = values(seed, (r, c), (-spread, spread)).astype(np.int32)
    g = values(seed + 1, (c,), I8).astype(np.int8)
    b = values(seed + 2, (c,), I32).astype(np.int32)
    same(ops.layernorm(x, g, b, eps, step), reference.layernorm(x, g, b, eps, step))


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=EXAMPLES)
@given(
    r=rows, start=st.integers(0, 4), seed=seeds, step=st.one_of(requants, scales),
    spread=st.sampled_from([2**10, 2**16, 2**31 - 1]),
)  # fmt: skip
def test_softmax(device: str, r: int, start: int, seed: int, step: Requant, spread: int) -> None:
    ops = device_ops(device)
    scores = values(seed, (r, start + r), (-spread, spread - 1)).astype(np.int32)
    got = ops.softmax(scores, step, start)
    same(got, reference.softmax(scores, step, start))
    assert got.min() >= 0 and got.max() <= 127


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=EXAMPLES)
@given(r=rows, c=cols, seed=seeds, w1=st.one_of(requants, scales), step=st.one_of(requants, scales))
def test_gelu(device: str, r: int, c: int, seed: int, w1: Requant, step: Requant) -> None:
    ops = device_ops(device)
    acc = values(seed, (r, c), I32).astype(np.int32)
    same(ops.gelu(acc, w1, step), reference.gelu(acc, w1, step))


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=EXAMPLES)
@given(
    t=rows, c=cols, start=st.integers(0, 3), seed=seeds, tok=st.one_of(requants, scales),
    pos=st.one_of(requants, scales),
)  # fmt: skip
def test_embed(
    device: str, t: int, c: int, start: int, seed: int, tok: Requant, pos: Requant
) -> None:
    ops = device_ops(device)
    tok_emb = values(seed, (9, c), I8).astype(np.int8)
    pos_emb = values(seed + 1, (start + t, c), I8).astype(np.int8)
    tokens = np.random.default_rng(seed).integers(0, 9, t)
    same(
        ops.embed(tok_emb, pos_emb, tokens, start, tok, pos),
        reference.embed(tok_emb, pos_emb, tokens, start, tok, pos),
    )


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=EXAMPLES)
@given(r=rows, k=cols, n=cols, seed=seeds)
def test_linear_and_gemm(device: str, r: int, k: int, n: int, seed: int) -> None:
    ops = device_ops(device)
    h = values(seed, (r, k), I8).astype(np.int8)
    w = values(seed + 1, (k, n), I8).astype(np.int8)
    b = values(seed + 2, (n,), I32).astype(np.int32)
    same(ops.linear(h, w, b), reference.linear(h, w, b))
    same(ops.gemm(h, w), reference.gemm(h, w))


@pytest.mark.parametrize("device", DEVICES)
def test_the_whole_forward_pass(device: str) -> None:
    ops = device_ops(device)
    weights = tiny_model().weights
    tokens = np.array([3, 0, 7, 7, 1])
    want, got = forward(weights, tokens), forward(weights, tokens, device)
    same(got.logits, want.logits)
    for a, b in zip(got.layers, want.layers, strict=True):
        same(a, b)
    # An audit's recomputation of the last rows of a layer from the committed layer before.
    tail = forward_layer(ops, weights, 1, want.layers[0], start=3)  # type: ignore[arg-type]
    same(tail, want.layers[1][3:])


def test_a_small_model_on_the_cpu() -> None:
    weights = small_model()[1].weights
    tokens = np.random.default_rng(3).integers(0, weights.descriptor.vocab, 12)
    want, got = forward(weights, tokens), forward(weights, tokens, "cpu")
    same(got.logits, want.logits)
