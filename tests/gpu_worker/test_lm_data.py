"""The language model's text: what ships with Python, split the same way every time."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker.models.lm_data import (
    CHUNK,
    HELD_OUT_EVERY,
    corpus_text,
    evaluation_windows,
    load_corpus,
    sample_batch,
    split_corpus,
)


def test_the_corpus_is_pythons_reference_manual() -> None:
    text = corpus_text()
    assert len(text) > 300_000  # 466 KB on Python 3.11
    assert b'The "if" statement' in text
    text.decode("utf-8")  # whole UTF-8 text: the bytes are the tokens
    corpus = load_corpus()
    assert corpus.train.size + corpus.held_out.size == len(text)
    assert 0.08 < corpus.held_out.size / len(text) < 0.12
    assert corpus.train.dtype == np.uint8 and not corpus.train.flags.writeable


def test_the_split_is_fixed_by_the_text() -> None:
    assert load_corpus().digest == split_corpus(corpus_text()).digest
    text = bytes(range(256)) * 200  # 51,200 bytes: 12 whole chunks and a remainder
    corpus = split_corpus(text)
    data = np.frombuffer(text, dtype=np.uint8)
    held = [data[i * CHUNK : (i + 1) * CHUNK] for i in range(len(text) // CHUNK + 1)]
    expected = [c for i, c in enumerate(held) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
    np.testing.assert_array_equal(corpus.held_out, np.concatenate(expected))
    rest = [c for i, c in enumerate(held) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
    np.testing.assert_array_equal(corpus.train, np.concatenate(rest))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.integers(1, 16), st.integers(0, 2**32))
def test_a_batchs_targets_are_its_inputs_shifted(batch: int, context: int, seed: int) -> None:
    tokens = np.arange(40, dtype=np.uint8)
    x, y = sample_batch(tokens, batch=batch, context=context, rng=np.random.default_rng(seed))
    assert x.shape == y.shape == (batch, context)
    np.testing.assert_array_equal(y, x + 1)  # consecutive bytes, and never past the end
    again, _ = sample_batch(tokens, batch=batch, context=context, rng=np.random.default_rng(seed))
    np.testing.assert_array_equal(x, again)


def test_evaluation_covers_the_text_in_order() -> None:
    tokens = np.arange(23, dtype=np.uint8)
    inputs, targets = evaluation_windows(tokens, context=5)
    assert inputs.shape == (4, 5)
    np.testing.assert_array_equal(inputs.reshape(-1), np.arange(20))
    np.testing.assert_array_equal(targets.reshape(-1), np.arange(1, 21))


def test_text_too_short_for_a_window_is_refused() -> None:
    with pytest.raises(ValueError, match="window of 8"):
        sample_batch(np.zeros(8, np.uint8), batch=1, context=8, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="window of 8"):
        evaluation_windows(np.zeros(8, np.uint8), context=8)
