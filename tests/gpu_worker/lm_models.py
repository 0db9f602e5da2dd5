"""A small language model trained once per test process, on a text with an obvious rule."""

from __future__ import annotations

import functools

from gpu_worker.models.lm_data import Corpus, split_corpus
from gpu_worker.models.lm_float import LmShape
from gpu_worker.models.lm_train import TrainConfig, TrainedLm, train_lm

SMALL = LmShape(vocab=256, context=16, d_model=16, heads=2, layers=1, d_ff=32)
CONFIG = TrainConfig(shape=SMALL, steps=150, batch=8, learning_rate=2e-2, warmup=5, seed=3)
CAT_TEXT = b"the cat sat on the mat. "
CONTINUATION = b"sat on the mat. the cat sat on the mat. "
"""What a model that learned the text writes after b"the cat " (40 bytes)."""


@functools.cache
def cat_corpus() -> Corpus:
    """The text, long enough for a held-out part."""
    return split_corpus(CAT_TEXT * 2_000)


@functools.cache
def cat_model() -> TrainedLm:
    """SMALL trained by CONFIG on the text (about half a second)."""
    return train_lm(CONFIG, cat_corpus())
