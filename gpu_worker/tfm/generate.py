"""Text from a tfm_i8 model: greedy or seeded sampling, the same tokens on every device.

    tokens = generate(weights, prompt, 40)                                  # greedy
    tokens = generate(weights, prompt, 40, sampling=Sampling(seed=7, temperature=Requant(...)))

Greedy takes the highest logit (the lowest token on a tie). Seeded sampling is integer too: the
last position's logits l_j become weights w_j = i_exp(rq(l_j − max l; temperature; ±2^24)) (the
softmax's integer exp; `temperature` maps a logit unit to Q10, i.e. logit_scale / T · 2^10), and
step n draws u = BLAKE2b-64(seed ‖ n) mod Σw and takes the first j whose running sum of w
exceeds u. The draw depends only on the seed and the step, so anyone can replay a generation.

Each step runs only the new token through the layers, with every earlier position's keys and
values kept: the same bits as a whole forward pass over the tokens so far (tested).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gpu_worker.tfm import reference
from gpu_worker.tfm.forward import (
    KeyValues,
    TokensError,
    check_tokens,
    extend_layer,
    logits_of,
    ops_for,
)
from gpu_worker.tfm.spec import SCORE_LIMIT, Requant, TfmWeights


@dataclass(frozen=True, slots=True)
class Sampling:
    """Seeded sampling: the seed (u64) and the temperature as a logit-to-Q10 requantization."""

    seed: int
    temperature: Requant


def draw(seed: int, step: int) -> int:
    """The u64 that step `step` of a generation seeded with `seed` samples with."""
    digest = hashlib.blake2b(
        seed.to_bytes(8, "little") + step.to_bytes(8, "little"), digest_size=8
    ).digest()
    return int.from_bytes(digest, "little")


def next_token(logits: np.ndarray, sampling: Sampling | None, step: int) -> int:
    """The token chosen from one position's int32 logits."""
    if sampling is None:
        return int(np.argmax(logits))
    z = reference.rq(logits.astype(np.int64) - int(logits.max()), sampling.temperature,
                     -SCORE_LIMIT, SCORE_LIMIT)  # fmt: skip
    weights = reference.i_exp(np.minimum(z, 0))
    running = np.cumsum(weights)
    u = draw(sampling.seed, step) % int(running[-1])
    return int(np.searchsorted(running, u, side="right"))


def generate(
    weights: TfmWeights,
    prompt: Sequence[int] | np.ndarray,
    count: int,
    *,
    device: str = "reference",
    sampling: Sampling | None = None,
) -> list[int]:
    """`count` tokens following `prompt`; TokensError if prompt and continuation exceed the
    context or the prompt holds a token outside the vocabulary."""
    tokens = [int(t) for t in check_tokens(weights, prompt)]
    context = weights.descriptor.context
    if count < 0 or len(tokens) + count > context:
        raise TokensError(
            f"{len(tokens)} prompt tokens and {count} more exceed the model's context of {context}"
        )
    ops = ops_for(device)
    caches = [KeyValues.empty(weights.descriptor.d_model) for _ in weights.layers]
    out: list[int] = []
    new = tokens
    for step in range(count):
        # Only the new positions go through the layers: the earlier ones' keys and values are
        # kept, and a row's output depends on the rows before it only through them.
        x = ops.embed(weights.tok_emb, weights.pos_emb, np.array(new, np.int64),
                      len(tokens) - len(new), weights.rq["tok"], weights.rq["pos"])  # fmt: skip
        for i, kv in enumerate(caches):
            x = extend_layer(ops, weights, i, x, kv)
        token = next_token(logits_of(ops, weights, x[-1:])[0], sampling, step)
        tokens.append(token)
        out.append(token)
        new = [token]
    return out
