"""`xpl model train-lm`: train the small language model on Python's documentation, here.

    xpl model train-lm --out lm/                       # the shipped recipe, minutes on 2 cores
    xpl model train-lm --out lm/ --steps 200 --layers 1 --d-model 64

    xpl model train-lm --out lm/ --from lm/lm_float.npz --ship   # quantize again, into the package

Writes DIR/lm_float.npz (the float parameters and their descriptor), quantizes them to tfm_i8
and writes DIR/lm_tfm_i8.bin (the weights blob a model upload takes) and lm_tfm_i8.json (its
card: descriptor, logit scale, text, recipe, perplexities, samples), or with --ship writes those
two into the package as the shipped model. Prints the training time, the float and integer
models' held-out perplexity per byte and samples of each (greedy, and seeded sampling). The run
repeats: the same flags on the same Python give the same parameters.

`register_train_lm(model_actions)` adds the action to `xpl model`'s sub-parsers.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import zipfile
from pathlib import Path
from typing import Any

from chain.cli.errors import CliError

SAMPLE_PROMPTS = (b"The ", b"def ")
SAMPLE_BYTES = 160
PROGRESS_EVERY = 100
FLOAT_FILE = "lm_float.npz"


def register_train_lm(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `train-lm` to `xpl model`'s actions."""
    # Defaults are written here, not read from TrainConfig: `xpl --help` stays free of numpy.
    p = actions.add_parser(
        "train-lm", help="train the small language model on Python's documentation (minutes)"
    )
    p.add_argument("--out", type=Path, required=True, help="the folder to write the model to")
    p.add_argument("--steps", type=int, default=3_000, help="Adam steps (default: %(default)s)")
    p.add_argument("--batch", type=int, default=16, help="windows per step (default: %(default)s)")
    p.add_argument("--context", type=int, default=128, help="bytes the model sees (default: 128)")
    p.add_argument("--d-model", type=int, default=128, help="width (default: %(default)s)")
    p.add_argument("--heads", type=int, default=4, help="attention heads (default: %(default)s)")
    p.add_argument("--layers", type=int, default=2, help="layers (default: %(default)s)")
    p.add_argument("--d-ff", type=int, default=512, help="MLP width (default: %(default)s)")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default: 3e-3)")
    p.add_argument("--seed", type=int, default=0, help="initial weights and windows (default: 0)")
    p.add_argument(
        "--from",
        dest="from_file",
        type=Path,
        help="quantize the float parameters in this file (lm_float.npz) instead of training",
    )
    p.add_argument(
        "--sample-bytes",
        type=int,
        default=SAMPLE_BYTES,
        help="bytes each sample generates (default: %(default)s)",
    )
    p.add_argument(
        "--eval-windows",
        type=int,
        help="measure perplexity on this many windows of the held-out text (default: all)",
    )
    p.add_argument(
        "--device",
        default="reference",
        choices=("reference", "cpu", "cuda"),
        help="where the integer model runs for its perplexity and samples (default: reference)",
    )
    p.add_argument("--quiet", action="store_true", help="print only the results")
    p.add_argument(
        "--ship",
        action="store_true",
        help="write the tfm_i8 weights and card into the package (the shipped model)",
    )
    p.set_defaults(run=run_train_lm)


def run_train_lm(args: argparse.Namespace) -> int:
    """Train (or load) the float model, quantize it, and print and save what each one does."""
    from gpu_worker.models.lm_data import VOCAB, load_corpus
    from gpu_worker.models.lm_float import LmShape, ShapeError
    from gpu_worker.models.lm_quant import (
        SHIPPED_CARD,
        SHIPPED_WEIGHTS,
        integer_generate,
        integer_perplexity,
        quantize_lm,
        write_shipped,
    )
    from gpu_worker.models.lm_train import (
        TrainConfig,
        generate,
        load_params,
        perplexity,
        save_params,
        train_lm,
    )

    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {out}: {exc.strerror}") from exc
    corpus = load_corpus()
    print(
        f"text: Python's reference manual, {corpus.train.size:,} bytes to train on, "
        f"{corpus.held_out.size:,} held out (sha256 {corpus.digest[:16]}…)"
    )
    card: dict[str, Any] = {
        "text": f"pydoc_data.topics of Python {platform.python_version()}",
        "text_licence": "PSF License Agreement",
        "text_sha256": corpus.digest,
    }
    if args.from_file is not None:
        try:
            shape, params = load_params(args.from_file)
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise CliError(f"cannot read a model from {args.from_file}: {exc}") from exc
        print(f"model: descriptor {tuple(shape)}, float parameters from {args.from_file}")
    else:
        shape = LmShape(VOCAB, args.context, args.d_model, args.heads, args.layers, args.d_ff)
        config = TrainConfig(
            shape=shape,
            steps=args.steps,
            batch=args.batch,
            learning_rate=args.lr,
            warmup=max(1, min(100, args.steps // 10)),
            seed=args.seed,
        )
        print(f"model: descriptor {tuple(shape)}, {config.steps} steps of {config.batch} windows")

        def report(step: int, loss: float) -> None:
            if not args.quiet and (step + 1) % PROGRESS_EVERY == 0:
                print(f"  step {step + 1:>5}  loss {loss:.3f}", file=sys.stderr, flush=True)

        try:
            run = train_lm(config, corpus, progress=report)
        except (ShapeError, ValueError) as exc:
            raise CliError(str(exc)) from exc
        params = run.params
        save_params(out / FLOAT_FILE, shape, params)
        print(f"trained in {run.seconds:.0f} s; float parameters in {out / FLOAT_FILE}")
        card["recipe"] = {
            "steps": config.steps,
            "batch": config.batch,
            "learning_rate": config.learning_rate,
            "warmup": config.warmup,
            "seed": config.seed,
        }
        card["train_seconds"] = round(run.seconds, 1)

    held_out = corpus.held_out
    if args.eval_windows is not None:
        held_out = held_out[: args.eval_windows * shape.context + 1]
    float_perplexity = perplexity(params, shape, held_out)
    print(f"held-out perplexity, float:   {_per_byte(float_perplexity)}")
    model = quantize_lm(params, shape, corpus)
    integer = integer_perplexity(model, held_out, device=args.device)
    print(f"held-out perplexity, tfm_i8:  {_per_byte(integer)}")
    card["held_out_perplexity"] = {"float": float_perplexity, "tfm_i8": integer}
    card["held_out_bytes"] = int(held_out.size)
    samples = {}
    for prompt in SAMPLE_PROMPTS:
        for seed in (None, 1):
            as_float = generate(params, shape, prompt, args.sample_bytes, seed=seed)
            as_int = integer_generate(
                model, prompt, args.sample_bytes, seed=seed, device=args.device
            )
            samples[_sample_name("float", prompt, seed)] = (prompt + as_float).decode(
                errors="replace"
            )
            samples[_sample_name("tfm_i8", prompt, seed)] = (prompt + as_int).decode(
                errors="replace"
            )
    for name, text in samples.items():
        print(f"--- {name}:\n{text}")
    card["samples"] = samples
    folder = SHIPPED_WEIGHTS.parent if args.ship else out
    write_shipped(model, card, folder / SHIPPED_WEIGHTS.name, folder / SHIPPED_CARD.name)
    size = (folder / SHIPPED_WEIGHTS.name).stat().st_size
    print(f"tfm_i8 weights ({size:,} bytes) and their card in {folder}")
    return 0


def _per_byte(perplexity: float) -> str:
    return f"{perplexity:.3f} per byte ({math.log2(perplexity):.3f} bits per byte)"


def _sample_name(model: str, prompt: bytes, seed: int | None) -> str:
    how = "greedy" if seed is None else f"sampled, seed {seed}"
    return f"{model}, {prompt.decode()!r}, {how}"
