"""Small random tfm_i8 models for the tests: float parameters of the shared architecture, and
their quantization calibrated on random tokens."""

from __future__ import annotations

import functools

import numpy as np

from gpu_worker.tfm.quantize import Quantized, quantize_model

VOCAB, CONTEXT, D_MODEL, HEADS, LAYERS, D_FF = 48, 12, 16, 2, 2, 32


def random_params(
    seed: int,
    vocab: int = VOCAB,
    context: int = CONTEXT,
    d: int = D_MODEL,
    layers: int = LAYERS,
    d_ff: int = D_FF,
) -> dict[str, np.ndarray]:
    """Float parameters drawn like an initialised model's (unit embeddings, 1/√fan-in weights)."""
    rng = np.random.default_rng(seed)
    p = {"tok_emb": rng.normal(0, 1, (vocab, d)), "pos_emb": rng.normal(0, 0.3, (context, d))}
    for i in range(layers):
        q = f"layers.{i}."
        for ln in ("ln1", "ln2"):
            p[q + ln + "_g"] = 1 + 0.1 * rng.normal(size=d)
            p[q + ln + "_b"] = 0.1 * rng.normal(size=d)
        for w in "qkvo":
            p[q + "w" + w] = rng.normal(0, 1 / np.sqrt(d), (d, d))
            p[q + "b" + w] = 0.05 * rng.normal(size=d)
        p[q + "w1"] = rng.normal(0, 1 / np.sqrt(d), (d, d_ff))
        p[q + "b1"] = 0.05 * rng.normal(size=d_ff)
        p[q + "w2"] = rng.normal(0, 1 / np.sqrt(d_ff), (d_ff, d))
        p[q + "b2"] = 0.05 * rng.normal(size=d)
    p["lnf_g"] = 1 + 0.1 * rng.normal(size=d)
    p["lnf_b"] = 0.1 * rng.normal(size=d)
    p["w_out"] = rng.normal(0, 1 / np.sqrt(d), (d, vocab))
    return {k: v.astype(np.float32) for k, v in p.items()}


@functools.cache
def small_model(seed: int = 0) -> tuple[dict[str, np.ndarray], Quantized]:
    """A random model of the module's sizes and its quantization on 8 random sequences."""
    params = random_params(seed)
    rng = np.random.default_rng(seed + 1)
    calibration = [rng.integers(0, VOCAB, CONTEXT) for _ in range(8)]
    return params, quantize_model(params, calibration, heads=HEADS)


@functools.cache
def tiny_model() -> Quantized:
    """A model small enough for the CUDA simulator: vocab 8, context 5, width 4, 2 heads, 2
    layers, d_ff 8."""
    params = random_params(7, vocab=8, context=5, d=4, layers=2, d_ff=8)
    rng = np.random.default_rng(8)
    return quantize_model(params, [rng.integers(0, 8, 5) for _ in range(4)], heads=2)
