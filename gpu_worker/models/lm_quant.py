"""The language model as a tfm_i8 model: quantized, its perplexity, generation, the shipped copy.

    quantized = quantize_lm(params, shape, load_corpus())       # weights and logit scale
    integer_perplexity(quantized, load_corpus().held_out)      # the integer forward pass's
    integer_generate(quantized, b"The ", 40)                   # greedy; seed=... samples
    shipped = shipped_lm()                                      # the copy in the package

Quantization is `gpu_worker.tfm.quantize` (its docstring gives the scheme), calibrated on
CALIBRATION_WINDOWS windows of the training text. The integer model's logits are int32; one unit
is `logit_scale` in the float model's terms, which is all the perplexity and a sampling temperature
need of floats: the integer forward pass and the choice of each byte (greedy, or tfm_i8's
seeded integer draw) never see one, so every device gives the same bytes.

The package ships one trained model (`xpl model train-lm` writes it): SHIPPED_WEIGHTS, the
tfm_i8 weights blob as a model upload takes it, and SHIPPED_CARD, a JSON card with its descriptor,
logit scale, the text it was trained on and its measured perplexities.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from gpu_worker.models.lm_data import Corpus, Tokens, evaluation_windows, sample_batch
from gpu_worker.models.lm_float import LmShape, Params, check_params
from gpu_worker.tfm.forward import forward
from gpu_worker.tfm.generate import Sampling, generate, next_token
from gpu_worker.tfm.quantize import quantize_model, requant_of
from gpu_worker.tfm.spec import FIXED_BITS, TfmWeights, decode_weights, encode_weights

CALIBRATION_WINDOWS: Final = 32
CALIBRATION_SEED: Final = 1
SHIPPED_WEIGHTS: Final = Path(__file__).with_name("lm_tfm_i8.bin")
SHIPPED_CARD: Final = Path(__file__).with_name("lm_tfm_i8.json")


@dataclass(frozen=True, slots=True)
class IntegerLm:
    """A tfm_i8 language model and the float value of one unit of its logits."""

    weights: TfmWeights
    logit_scale: float


def quantize_lm(params: Params, shape: LmShape, corpus: Corpus) -> IntegerLm:
    """The tfm_i8 model of float `params`, calibrated on windows of the training text."""
    check_params(params, shape)
    windows, _ = sample_batch(
        corpus.train,
        batch=CALIBRATION_WINDOWS,
        context=shape.context,
        rng=np.random.default_rng(CALIBRATION_SEED),
    )
    quantized = quantize_model(dict(params), windows, heads=shape.heads)
    return IntegerLm(quantized.weights, quantized.logit_scale)


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=-1, keepdims=True)
    result: np.ndarray = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return result


def integer_mean_loss(
    model: IntegerLm, tokens: Tokens, *, device: str = "reference", windows: int | None = None
) -> float:
    """The mean cross-entropy (nats per byte) of `tokens` under the integer model, in windows of
    its context (the first `windows` of them when given)."""
    inputs, targets = evaluation_windows(tokens, model.weights.descriptor.context)
    if windows is not None:
        inputs, targets = inputs[:windows], targets[:windows]
    total = 0.0
    for window, target in zip(inputs, targets, strict=True):
        scores = forward(model.weights, window, device).logits.astype(np.float64)
        picked = np.take_along_axis(_log_softmax(scores * model.logit_scale), target[:, None], -1)
        total -= float(picked.sum())
    return total / targets.size


def integer_perplexity(
    model: IntegerLm, tokens: Tokens, *, device: str = "reference", windows: int | None = None
) -> float:
    """The integer model's per-byte perplexity of `tokens`."""
    return math.exp(integer_mean_loss(model, tokens, device=device, windows=windows))


def sampling(model: IntegerLm, seed: int, temperature: float = 1.0) -> Sampling:
    """Seeded sampling at `temperature` (in the float model's terms) as tfm_i8 draws it: the
    temperature becomes the requantization of a logit unit to Q10, logit_scale / T · 2^10."""
    if not temperature > 0:
        raise ValueError("the temperature must be positive")
    return Sampling(seed, requant_of(model.logit_scale / temperature * (1 << FIXED_BITS)))


def integer_generate(
    model: IntegerLm,
    prompt: bytes,
    count: int,
    *,
    seed: int | None = None,
    temperature: float = 1.0,
    device: str = "reference",
) -> bytes:
    """`count` bytes after `prompt` from the integer model, each chosen as tfm_i8 chooses
    (`gpu_worker.tfm.generate.next_token`): the largest logit (ties to the lowest byte) when
    `seed` is None, else the integer seeded draw. Within the context this is tfm_i8's
    `generate`; past it the model sees the last `context` bytes (a job's generation stays within
    the context; this is for longer samples here)."""
    if not prompt:
        raise ValueError("the prompt must have at least one byte")
    chooser = None if seed is None else sampling(model, seed, temperature)
    context = model.weights.descriptor.context
    within = max(0, min(count, context - len(prompt)))
    tokens = list(prompt[-context:])
    tokens += generate(model.weights, tokens, within, device=device, sampling=chooser)
    for step in range(within, count):
        last = forward(model.weights, np.asarray(tokens[-context:]), device).logits[-1]
        tokens.append(next_token(last, chooser, step))
    return bytes(tokens[len(prompt[-context:]) :])


def write_shipped(
    model: IntegerLm, card: dict[str, Any], weights_path: Path, card_path: Path
) -> None:
    """Write the weights blob and its JSON card (the descriptor and logit scale added)."""
    weights_path.write_bytes(encode_weights(model.weights))
    full = {
        "descriptor": list(model.weights.descriptor),
        "logit_scale": model.logit_scale,
        **card,
    }
    card_path.write_text(json.dumps(full, indent=2) + "\n")


def load_integer_lm(weights_path: Path, card_path: Path) -> tuple[IntegerLm, dict[str, Any]]:
    """The integer model a weights blob and its card hold, and the card."""
    card: dict[str, Any] = json.loads(card_path.read_text())
    weights = decode_weights(weights_path.read_bytes())
    if list(weights.descriptor) != card["descriptor"]:
        raise ValueError(f"{weights_path} does not hold the model {card_path} describes")
    return IntegerLm(weights, float(card["logit_scale"])), card


def shipped_lm() -> tuple[IntegerLm, dict[str, Any]]:
    """The language model that ships in the package, and its card."""
    return load_integer_lm(SHIPPED_WEIGHTS, SHIPPED_CARD)
