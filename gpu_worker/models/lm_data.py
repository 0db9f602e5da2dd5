"""The language model's text: Python's own documentation, as bytes, split train/held-out.

    corpus = load_corpus()                 # corpus.train, corpus.held_out: uint8 arrays
    x, y = sample_batch(corpus.train, batch=32, context=64, rng=rng)

The text is `pydoc_data.topics`, the reference-manual pages that `help("if")` shows, which ships
with CPython itself (so nothing is downloaded): about 466 KB of English prose and code on
Python 3.11, under the PSF License Agreement as the rest of Python's documentation. The pages are
joined in the order of their names (a dict's order is not the text's), encoded as UTF-8, and the
bytes are the tokens (vocabulary 256). The split is by position: the bytes are cut into
CHUNK-byte chunks and every HELD_OUT_EVERY-th chunk (the last of each run) is held out, so both
parts sample every kind of page and the split does not depend on anything but the text.

The corpus differs between Python versions; `Corpus.digest` names the text a model was trained
on (the SHA-256 of the joined bytes).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

Tokens = npt.NDArray[np.uint8]
Batch = npt.NDArray[np.int64]

VOCAB: Final = 256
"""Tokens are the bytes of UTF-8 text."""
CHUNK: Final = 4_096
HELD_OUT_EVERY: Final = 10
"""One chunk in HELD_OUT_EVERY is held out (about 10% of the text)."""
PAGE_SEPARATOR: Final = "\n\n"


@dataclass(frozen=True, slots=True)
class Corpus:
    """The training and held-out bytes of the text, and the text's digest."""

    train: Tokens
    held_out: Tokens
    digest: str
    """SHA-256 (hex) of the whole text's bytes, before the split."""


def corpus_text() -> bytes:
    """The reference-manual pages of this Python, joined in name order, as UTF-8 bytes."""
    from pydoc_data.topics import topics

    return PAGE_SEPARATOR.join(topics[name] for name in sorted(topics)).encode("utf-8")


def split_corpus(text: bytes) -> Corpus:
    """`text` cut into CHUNK-byte chunks, every HELD_OUT_EVERY-th one held out."""
    data = np.frombuffer(text, dtype=np.uint8)
    chunk_index = np.arange(data.size) // CHUNK
    held = chunk_index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1
    train, held_out = data[~held].copy(), data[held].copy()
    for part in (train, held_out):
        part.setflags(write=False)  # shared through load_corpus's cache
    return Corpus(train=train, held_out=held_out, digest=hashlib.sha256(text).hexdigest())


@functools.cache
def load_corpus() -> Corpus:
    """Python's reference-manual text, split into training and held-out bytes (cached)."""
    return split_corpus(corpus_text())


def sample_batch(
    tokens: Tokens, *, batch: int, context: int, rng: np.random.Generator
) -> tuple[Batch, Batch]:
    """`batch` random windows of `context` tokens (inputs) and the same shifted by one (targets)."""
    if tokens.size < context + 1:
        raise ValueError(f"{tokens.size} tokens cannot fill a window of {context} + 1")
    starts = rng.integers(0, tokens.size - context, size=batch)
    windows = tokens[starts[:, None] + np.arange(context + 1)].astype(np.int64)
    return windows[:, :-1], windows[:, 1:]


def evaluation_windows(tokens: Tokens, context: int) -> tuple[Batch, Batch]:
    """`tokens` cut into consecutive windows of `context` inputs and their next-token targets
    (each window's last target starts the next window; a remainder too short is dropped)."""
    count = (tokens.size - 1) // context
    if count == 0:
        raise ValueError(f"{tokens.size} tokens cannot fill a window of {context} + 1")
    used = tokens[: count * context + 1].astype(np.int64)
    inputs = used[:-1].reshape(count, context)
    targets = used[1:].reshape(count, context)
    return inputs, targets
