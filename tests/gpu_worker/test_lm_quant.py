"""The language model as tfm_i8: it keeps the float model's perplexity and text, and the copy
that ships in the package decodes and generates what its card says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gpu_worker.models.lm_data import load_corpus
from gpu_worker.models.lm_float import LmShape
from gpu_worker.models.lm_quant import (
    SHIPPED_CARD,
    SHIPPED_WEIGHTS,
    IntegerLm,
    integer_generate,
    integer_perplexity,
    load_integer_lm,
    quantize_lm,
    sampling,
    shipped_lm,
    write_shipped,
)
from gpu_worker.models.lm_train import generate, perplexity
from gpu_worker.tfm.generate import generate as generate_tokens
from runtime.tfm_layout import weights_size
from tests.gpu_worker.lm_models import CONTINUATION, SMALL, cat_corpus, cat_model

SHIPPED_LIMIT = 600_000
"""The most bytes the shipped weights may take in the repository."""


@pytest.fixture(scope="module")
def model() -> IntegerLm:
    return quantize_lm(cat_model().params, SMALL, cat_corpus())


def test_the_integer_model_keeps_the_float_perplexity(model: IntegerLm) -> None:
    held_out = cat_corpus().held_out
    as_float = perplexity(cat_model().params, SMALL, held_out)
    as_int = integer_perplexity(model, held_out, windows=40)
    assert as_float < 1.5  # the text is nearly predictable
    assert as_int == pytest.approx(as_float, rel=0.05)


def test_the_integer_model_writes_the_float_models_text(model: IntegerLm) -> None:
    assert generate(cat_model().params, SMALL, b"the cat ", 40) == CONTINUATION
    assert integer_generate(model, b"the cat ", 40) == CONTINUATION


def test_seeded_sampling_repeats(model: IntegerLm) -> None:
    draws = [integer_generate(model, b"the ", 24, seed=s, temperature=4.0) for s in (5, 5, 6)]
    assert draws[0] == draws[1] != draws[2]
    # Within the context it is tfm_i8's own generation, which anyone replays from the seed.
    replayed = generate_tokens(model.weights, list(b"the "), 12, sampling=sampling(model, 5, 4.0))
    assert bytes(replayed) == draws[0][:12]
    with pytest.raises(ValueError, match="temperature"):
        integer_generate(model, b"the ", 1, seed=1, temperature=-1.0)
    with pytest.raises(ValueError, match="at least one byte"):
        integer_generate(model, b"", 1)


def test_a_card_must_describe_its_weights(model: IntegerLm, tmp_path: Path) -> None:
    weights, card = tmp_path / "lm.bin", tmp_path / "lm.json"
    write_shipped(model, {"note": "test"}, weights, card)
    loaded, fields = load_integer_lm(weights, card)
    assert loaded.weights == model.weights and loaded.logit_scale == model.logit_scale
    assert fields["note"] == "test"
    card.write_text(json.dumps({**fields, "descriptor": [256, 16, 16, 2, 2, 32]}))
    with pytest.raises(ValueError, match="does not hold the model"):
        load_integer_lm(weights, card)


@pytest.mark.skipif(not SHIPPED_WEIGHTS.exists(), reason="no model shipped in this checkout")
def test_the_shipped_model_decodes_and_generates_its_cards_text() -> None:
    size = SHIPPED_WEIGHTS.stat().st_size
    model, card = shipped_lm()
    descriptor = LmShape(*model.weights.descriptor)
    assert size == weights_size(descriptor) and size < SHIPPED_LIMIT
    assert descriptor.vocab == 256 and card["descriptor"] == list(descriptor)
    # It learned the text: far better than the 256 of a uniform guess, and close to float.
    perplexities = card["held_out_perplexity"]
    assert perplexities["tfm_i8"] < 8.0
    assert perplexities["tfm_i8"] == pytest.approx(perplexities["float"], rel=0.1)
    # ...which this checkout's integer forward pass still gives it (a scheme that changed
    # under the shipped weights would not), on the first two held-out windows.
    assert integer_perplexity(model, load_corpus().held_out, windows=2) < 6.0
    # A few greedy bytes here repeat what was measured when it was shipped.
    greedy = card["samples"]["tfm_i8, 'The ', greedy"].encode()
    assert b"The " + integer_generate(model, b"The ", 12) == greedy[:16]
    sampled = card["samples"]["tfm_i8, 'def ', sampled, seed 1"].encode()
    assert b"def " + integer_generate(model, b"def ", 8, seed=1) == sampled[:12]
    assert SHIPPED_CARD.exists() and np.isfinite(model.logit_scale)
