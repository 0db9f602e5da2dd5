"""`xpl model train-lm`: train the small language model on Python's documentation, here.

    xpl model train-lm --out lm/                       # the shipped recipe, minutes on 2 cores
    xpl model train-lm --out lm/ --steps 200 --layers 1 --d-model 64

Writes DIR/lm_float.npz (the float parameters and their descriptor) and prints the training
time, the held-out perplexity per byte and samples (greedy, and seeded sampling). The run
repeats: the same flags on the same Python give the same parameters.

`register_train_lm(model_actions)` adds the action to `xpl model`'s sub-parsers.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

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
    p.add_argument("--steps", type=int, default=1_500, help="Adam steps (default: %(default)s)")
    p.add_argument("--batch", type=int, default=16, help="windows per step (default: %(default)s)")
    p.add_argument("--context", type=int, default=128, help="bytes the model sees (default: 128)")
    p.add_argument("--d-model", type=int, default=128, help="width (default: %(default)s)")
    p.add_argument("--heads", type=int, default=4, help="attention heads (default: %(default)s)")
    p.add_argument("--layers", type=int, default=2, help="layers (default: %(default)s)")
    p.add_argument("--d-ff", type=int, default=512, help="MLP width (default: %(default)s)")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default: 3e-3)")
    p.add_argument("--seed", type=int, default=0, help="initial weights and windows (default: 0)")
    p.add_argument("--quiet", action="store_true", help="print only the results")
    p.set_defaults(run=run_train_lm)


def run_train_lm(args: argparse.Namespace) -> int:
    """Train, save, and print the model's time, perplexity and samples."""
    from gpu_worker.models.lm_data import VOCAB, load_corpus
    from gpu_worker.models.lm_float import LmShape, ShapeError
    from gpu_worker.models.lm_train import TrainConfig, generate, perplexity, save_params, train_lm

    shape = LmShape(VOCAB, args.context, args.d_model, args.heads, args.layers, args.d_ff)
    config = TrainConfig(
        shape=shape,
        steps=args.steps,
        batch=args.batch,
        learning_rate=args.lr,
        warmup=max(1, min(100, args.steps // 10)),
        seed=args.seed,
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
    print(f"model: descriptor {tuple(shape)}, {config.steps} steps of {config.batch} windows")

    def report(step: int, loss: float) -> None:
        if not args.quiet and (step + 1) % PROGRESS_EVERY == 0:
            print(f"  step {step + 1:>5}  loss {loss:.3f}", file=sys.stderr, flush=True)

    try:
        run = train_lm(config, corpus, progress=report)
    except (ShapeError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    save_params(out / FLOAT_FILE, shape, run.params)
    held_out = perplexity(run.params, shape, corpus.held_out)
    print(f"trained in {run.seconds:.0f} s; parameters in {out / FLOAT_FILE}")
    print(f"held-out perplexity: {held_out:.3f} per byte ({math.log2(held_out):.3f} bits per byte)")
    for prompt in SAMPLE_PROMPTS:
        for seed in (None, 1):
            text = generate(run.params, shape, prompt, SAMPLE_BYTES, seed=seed)
            kind = "greedy" if seed is None else f"sampled, seed {seed}"
            print(f"--- {kind}: {(prompt + text).decode('utf-8', errors='replace')!r}")
    return 0
