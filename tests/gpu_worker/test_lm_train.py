"""Training the language model: it learns, it repeats, and it generates deterministically."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest

from chain.cli.errors import CliError
from chain.cli.model_train import FLOAT_FILE, register_train_lm
from gpu_worker.models import lm_quant
from gpu_worker.models.lm_data import Corpus
from gpu_worker.models.lm_float import LmShape, ShapeError, init_params
from gpu_worker.models.lm_quant import SHIPPED_CARD, SHIPPED_WEIGHTS, load_integer_lm
from gpu_worker.models.lm_train import (
    Adam,
    TrainConfig,
    TrainedLm,
    clip_gradients,
    generate,
    learning_rate,
    load_params,
    mean_loss,
    perplexity,
    save_params,
    train_lm,
)
from tests.gpu_worker.lm_models import CONFIG, CONTINUATION, SMALL, cat_corpus, cat_model


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return cat_corpus()


@pytest.fixture(scope="module")
def run() -> TrainedLm:
    return cat_model()


def test_training_lowers_the_held_out_loss(corpus: Corpus, run: TrainedLm) -> None:
    untrained = mean_loss(init_params(SMALL, CONFIG.seed), SMALL, corpus.held_out)
    assert untrained == pytest.approx(math.log(256), abs=0.1)
    trained = mean_loss(run.params, SMALL, corpus.held_out)
    assert trained < 0.5 * untrained
    assert np.mean(run.losses[-10:]) < 0.5 * np.mean(run.losses[:5])


def test_a_run_repeats_bit_for_bit(corpus: Corpus, run: TrainedLm) -> None:
    config = TrainConfig(**{**_fields(CONFIG), "steps": 12})
    first, second = train_lm(config, corpus), train_lm(config, corpus)
    assert first.losses == second.losses
    assert first.losses[: CONFIG.warmup + 1] == run.losses[: CONFIG.warmup + 1]  # same schedule
    for name, p in first.params.items():
        assert p.tobytes() == second.params[name].tobytes(), name
    other = train_lm(TrainConfig(**{**_fields(config), "seed": 4}), corpus)
    assert other.losses != first.losses


def _fields(config: TrainConfig) -> dict[str, object]:
    return {name: getattr(config, name) for name in TrainConfig.__slots__}


def test_a_uniform_model_has_the_vocabularys_perplexity() -> None:
    params = init_params(SMALL, seed=0)
    params["w_out"][:] = 0.0  # every byte equally likely
    assert perplexity(params, SMALL, np.arange(100, dtype=np.uint8)) == pytest.approx(256.0)


def test_generation_is_deterministic(run: TrainedLm) -> None:
    greedy = generate(run.params, SMALL, b"the cat ", 40)
    assert greedy == generate(run.params, SMALL, b"the cat ", 40)
    assert greedy == CONTINUATION  # the window slides past the 16-byte context
    sampled = [generate(run.params, SMALL, b"the ", 40, seed=s, temperature=3.0) for s in (1, 1, 2)]
    assert sampled[0] == sampled[1] != sampled[2]
    assert len(sampled[0]) == 40


def test_generation_refuses_bad_requests(run: TrainedLm) -> None:
    with pytest.raises(ValueError, match="at least one byte"):
        generate(run.params, SMALL, b"", 5)
    with pytest.raises(ValueError, match="temperature"):
        generate(run.params, SMALL, b"a", 5, seed=1, temperature=0.0)


def test_the_schedule_warms_up_and_decays() -> None:
    rates = [learning_rate(CONFIG, step) for step in range(CONFIG.steps)]
    assert rates[0] == pytest.approx(CONFIG.learning_rate / CONFIG.warmup)
    assert max(rates) == pytest.approx(CONFIG.learning_rate)
    assert rates[-1] == pytest.approx(CONFIG.learning_rate * CONFIG.final_fraction, rel=0.01)
    assert np.all(np.diff(rates[CONFIG.warmup - 1 :]) <= 0)


def test_adam_and_clipping() -> None:
    grads = {"a": np.array([3.0, 4.0]), "b": np.array([0.0])}
    assert clip_gradients(grads, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(grads["a"], [0.6, 0.8])
    # Adam's first step moves each parameter by the rate, against its gradient's sign.
    params = {"a": np.array([1.0, 1.0]), "b": np.array([1.0])}
    Adam(params).update(params, {"a": np.array([2.0, -1e-3]), "b": np.array([0.0])}, 0.1)
    np.testing.assert_allclose(params["a"], [0.9, 1.1], rtol=1e-4)
    assert params["b"][0] == 1.0


def test_parameters_survive_a_save(tmp_path: Path, run: TrainedLm) -> None:
    path = tmp_path / "lm.npz"
    save_params(path, SMALL, run.params)
    shape, params = load_params(path)
    assert shape == SMALL
    assert {n: p.tobytes() for n, p in params.items()} == {
        n: p.tobytes() for n, p in run.params.items()
    }
    np.savez(tmp_path / "bad.npz", tok_emb=np.zeros((3, 3), np.float32))
    with pytest.raises(ShapeError, match="no model descriptor"):
        load_params(tmp_path / "bad.npz")


def _cli(*words: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register_train_lm(parser.add_subparsers())
    return parser.parse_args(["train-lm", *words])


def test_the_command_trains_saves_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    small = ("--context", "8", "--d-model", "8", "--layers", "1", "--d-ff", "16")
    brief = ("--quiet", "--sample-bytes", "3", "--eval-windows", "4")
    args = _cli("--out", str(tmp_path), "--steps", "3", *small, *brief)
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "held-out perplexity, float" in out and "held-out perplexity, tfm_i8" in out
    assert "tfm_i8, 'The ', sampled, seed 1" in out
    shape, _ = load_params(tmp_path / FLOAT_FILE)
    assert shape == LmShape(256, 8, 8, 4, 1, 16)
    model, card = load_integer_lm(tmp_path / SHIPPED_WEIGHTS.name, tmp_path / SHIPPED_CARD.name)
    assert card["descriptor"] == list(shape) and card["recipe"]["steps"] == 3
    assert set(card["held_out_perplexity"]) == {"float", "tfm_i8"}
    # --from quantizes the saved parameters again; --ship writes into the package's place.
    shipped = tmp_path / "package"
    shipped.mkdir()
    monkeypatch.setattr(lm_quant, "SHIPPED_WEIGHTS", shipped / SHIPPED_WEIGHTS.name)
    monkeypatch.setattr(lm_quant, "SHIPPED_CARD", shipped / SHIPPED_CARD.name)
    again = _cli("--out", str(tmp_path), "--from", str(tmp_path / FLOAT_FILE), "--ship", *brief)
    assert again.run(again) == 0
    requantized, _ = load_integer_lm(shipped / SHIPPED_WEIGHTS.name, shipped / SHIPPED_CARD.name)
    assert requantized.weights == model.weights


def test_the_command_names_a_bad_shape(tmp_path: Path) -> None:
    args = _cli("--out", str(tmp_path), "--steps", "1", "--d-model", "10", "--heads", "4")
    with pytest.raises(CliError, match="not a multiple of heads"):
        args.run(args)


def test_the_command_names_a_file_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "notes.npz").write_bytes(b"not a model")
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04" + bytes(40))  # a zip's start, cut short
    for name in ("missing.npz", "notes.npz", "cut.npz"):
        args = _cli("--out", str(tmp_path), "--from", str(tmp_path / name))
        with pytest.raises(CliError, match=f"cannot read a model from .*{name}"):
            args.run(args)


def test_the_commands_defaults_are_the_shipped_recipe() -> None:
    args, recipe = _cli("--out", "lm"), TrainConfig()
    shape = (256, args.context, args.d_model, args.heads, args.layers, args.d_ff)
    assert shape == recipe.shape
    assert (args.steps, args.batch, args.lr, args.seed) == (
        recipe.steps,
        recipe.batch,
        recipe.learning_rate,
        recipe.seed,
    )
    assert json.loads(SHIPPED_CARD.read_text())["recipe"]["steps"] == recipe.steps
