"""Generation from a tfm_i8 model: greedy follows the logits, seeded sampling replays exactly."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_worker.tfm.forward import TokensError, forward
from gpu_worker.tfm.generate import Sampling, draw, generate, next_token
from gpu_worker.tfm.quantize import requant_of
from gpu_worker.tfm.spec import Requant
from tests.gpu_worker.tfm.models import small_model


def test_greedy_generation_takes_the_highest_logit_each_step() -> None:
    weights = small_model()[1].weights
    prompt = [5, 9, 2]
    out = generate(weights, prompt, 4)
    tokens = prompt + out
    for n in range(3, 7):
        assert tokens[n] == int(np.argmax(forward(weights, tokens[:n]).logits[-1]))
    assert generate(weights, prompt, 4, device="cpu") == out


def test_seeded_sampling_replays_and_depends_on_the_seed() -> None:
    q = small_model()[1]
    hot = Sampling(seed=7, temperature=requant_of(q.logit_scale / 2.0 * 1024))
    a = generate(q.weights, [1, 2], 10, sampling=hot)
    assert a == generate(q.weights, [1, 2], 10, sampling=hot)
    others = {
        tuple(generate(q.weights, [1, 2], 10, sampling=Sampling(s, hot.temperature)))
        for s in range(8, 12)
    }
    assert len(others | {tuple(a)}) > 1


def test_sampling_follows_the_integer_softmax() -> None:
    logits = np.array([0, 1024, 1024 - 710, -100_000], np.int32)  # Q10 at scale 1
    sampling = Sampling(3, Requant(1 << 30, 30))
    picks = np.bincount([next_token(logits, sampling, n) for n in range(3000)], minlength=4)
    # Weights about e^-1 : 1 : 1/2 : 0.
    assert picks[3] == 0
    assert abs(picks[1] / 3000 - 1 / (1 + 0.5 + np.exp(-1))) < 0.04
    assert draw(1, 2) != draw(2, 1)


def test_a_generation_past_the_context_is_refused() -> None:
    weights = small_model()[1].weights
    with pytest.raises(TokensError, match="exceed the model's context"):
        generate(weights, [1] * 10, 3)
    with pytest.raises(TokensError, match="vocabulary"):
        generate(weights, [1, 999], 1)
