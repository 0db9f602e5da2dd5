"""Training the language model: Adam on random windows of the text, perplexity, generation.

    config = TrainConfig()                                  # the shipped model's recipe
    run = train_lm(config, load_corpus(), progress=print_step)
    perplexity(run.params, config.shape, load_corpus().held_out)
    generate(run.params, config.shape, b"The ", 200)                  # greedy
    generate(run.params, config.shape, b"The ", 200, seed=1)          # seeded sampling
    save_params(path, config.shape, run.params); shape, params = load_params(path)

A run repeats exactly: the initial weights and the windows come from `config.seed`, and BLAS runs
on one thread (the float sums, and so every update, do not depend on the core count; one thread
is also this project's share of a busy machine). Adam with linear warm-up, cosine decay and the
gradient's global norm clipped at CLIP_NORM.

Perplexity is per byte: exp of the mean cross-entropy (nats) of each held-out byte given the
bytes before it in its window of `context` bytes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np

from gpu_worker.models.lm_data import VOCAB, Corpus, Tokens, evaluation_windows, sample_batch
from gpu_worker.models.lm_float import (
    LmShape,
    Params,
    ShapeError,
    check_params,
    check_shape,
    cross_entropy,
    init_params,
    logits,
    loss_and_grads,
)

CLIP_NORM: Final = 1.0
ADAM_BETAS: Final = (0.9, 0.99)
ADAM_EPSILON: Final = 1e-8
EVAL_BATCH: Final = 64
"""Windows per forward pass when measuring perplexity."""
_DESCRIPTOR_KEY: Final = "descriptor"
"""The saved file's entry for the shape (the parameters' names all differ from it)."""


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """A training run's recipe: the model's shape, the schedule and the seed."""

    shape: LmShape = field(default_factory=lambda: LmShape(VOCAB, 128, 128, 4, 2, 512))
    steps: int = 3_000
    batch: int = 16
    learning_rate: float = 3e-3
    warmup: int = 100
    final_fraction: float = 0.1
    """The learning rate decays (cosine) to this fraction of its peak by the last step."""
    seed: int = 0


@dataclass(frozen=True, slots=True)
class TrainedLm:
    """A finished run: its parameters, the training loss at every step, and its time."""

    params: Params
    losses: list[float]
    seconds: float


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the body with BLAS on one thread, so float sums repeat on any machine."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def learning_rate(config: TrainConfig, step: int) -> float:
    """The rate at `step` (0-based): linear warm-up, then cosine decay to final_fraction."""
    if step < config.warmup:
        return config.learning_rate * (step + 1) / config.warmup
    span = max(config.steps - config.warmup, 1)
    progress = min((step - config.warmup) / span, 1.0)
    floor = config.final_fraction
    return config.learning_rate * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


class Adam:
    """Adam's moments for a parameter set, updated in place."""

    def __init__(self, params: Params) -> None:
        self.m = {name: np.zeros_like(p) for name, p in params.items()}
        self.v = {name: np.zeros_like(p) for name, p in params.items()}
        self.steps = 0

    def update(self, params: Params, grads: Params, rate: float) -> None:
        """One step of size `rate` along the bias-corrected moments."""
        self.steps += 1
        b1, b2 = ADAM_BETAS
        step_size = rate * math.sqrt(1 - b2**self.steps) / (1 - b1**self.steps)
        for name, p in params.items():
            g = grads[name]
            m, v = self.m[name], self.v[name]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= step_size * m / (np.sqrt(v) + ADAM_EPSILON)


def clip_gradients(grads: Params, max_norm: float) -> float:
    """Scale `grads` in place so their global L2 norm is at most `max_norm`; the norm before."""
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    if norm > max_norm:
        for g in grads.values():
            g *= max_norm / norm
    return norm


def train_lm(
    config: TrainConfig,
    corpus: Corpus,
    progress: Callable[[int, float], None] | None = None,
) -> TrainedLm:
    """Train a fresh model on `corpus.train`; `progress(step, loss)` after every step."""
    check_shape(config.shape)
    if config.steps < 1 or config.batch < 1 or config.warmup < 1:
        raise ValueError("steps, batch and warmup must be positive")
    params = init_params(config.shape, config.seed)
    rng = np.random.default_rng(config.seed)
    adam = Adam(params)
    losses = []
    start = time.perf_counter()
    with one_blas_thread():
        for step in range(config.steps):
            x, y = sample_batch(
                corpus.train, batch=config.batch, context=config.shape.context, rng=rng
            )
            loss, grads = loss_and_grads(params, config.shape, x, y)
            clip_gradients(grads, CLIP_NORM)
            adam.update(params, grads, learning_rate(config, step))
            losses.append(loss)
            if progress is not None:
                progress(step, loss)
    return TrainedLm(params=params, losses=losses, seconds=time.perf_counter() - start)


def mean_loss(params: Params, shape: LmShape, tokens: Tokens) -> float:
    """The mean cross-entropy (nats per byte) of `tokens`, cut into windows of `context`."""
    inputs, targets = evaluation_windows(tokens, shape.context)
    total = 0.0
    with one_blas_thread():
        for first in range(0, inputs.shape[0], EVAL_BATCH):
            rows = slice(first, first + EVAL_BATCH)
            loss, _ = cross_entropy(logits(params, shape, inputs[rows]), targets[rows])
            total += loss * targets[rows].size
    return total / targets.size


def perplexity(params: Params, shape: LmShape, tokens: Tokens) -> float:
    """The per-byte perplexity of `tokens`: exp of their mean cross-entropy."""
    return math.exp(mean_loss(params, shape, tokens))


def generate(
    params: Params,
    shape: LmShape,
    prompt: bytes,
    count: int,
    *,
    seed: int | None = None,
    temperature: float = 1.0,
) -> bytes:
    """`count` bytes after `prompt`: the likeliest byte each time (greedy) when `seed` is None,
    else bytes drawn from the softmax at `temperature` with a generator seeded by `seed`. The
    model sees the last `context` bytes."""
    if not prompt:
        raise ValueError("the prompt must have at least one byte")
    if temperature <= 0:
        raise ValueError("the temperature must be positive")
    rng = None if seed is None else np.random.default_rng(seed)
    tokens = list(prompt)
    with one_blas_thread():
        for _ in range(count):
            window = np.asarray(tokens[-shape.context :], dtype=np.int64)[None, :]
            last = logits(params, shape, window)[0, -1].astype(np.float64)
            if rng is None:
                tokens.append(int(np.argmax(last)))
                continue
            weights = np.exp((last - last.max()) / temperature)
            tokens.append(int(rng.choice(shape.vocab, p=weights / weights.sum())))
    return bytes(tokens[len(prompt) :])


def save_params(path: Path, shape: LmShape, params: Params) -> None:
    """Write the shape and the float32 parameters to `path` as one .npz file."""
    check_params(params, shape)
    arrays = {name: np.asarray(p, dtype=np.float32) for name, p in params.items()}
    arrays[_DESCRIPTOR_KEY] = np.asarray(shape, dtype=np.int64)
    with path.open("wb") as out:
        np.savez(out, allow_pickle=False, **arrays)


def load_params(path: Path) -> tuple[LmShape, Params]:
    """The shape and float32 parameters `save_params` wrote; ShapeError if they do not fit."""
    with np.load(path, allow_pickle=False) as saved:
        arrays = {name: saved[name] for name in saved.files}
    if _DESCRIPTOR_KEY not in arrays or arrays[_DESCRIPTOR_KEY].shape != (6,):
        raise ShapeError(f"{path} holds no model descriptor")
    shape = LmShape(*(int(n) for n in arrays.pop(_DESCRIPTOR_KEY)))
    check_shape(shape)
    params = {name: np.asarray(a, dtype=np.float32) for name, a in arrays.items()}
    check_params(params, shape)
    return shape, params
