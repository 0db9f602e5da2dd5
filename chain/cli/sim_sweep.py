"""`xpl sim sweep` and `xpl sim fuzz SCENARIO.toml`: many runs of one scenario on Dask.

The simulator's libraries (pandas, dask) load only when one of these commands runs.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_SWEEP_WORKERS = 2
"""Processes of the LocalCluster a sweep starts when given no scheduler."""
DEFAULT_FUZZ_SEEDS = 10
"""Seeds a scenario fuzz runs when not told."""


def register_sweep(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl sim sweep`."""
    w = sub.add_parser(
        "sweep",
        help="a scenario over a parameter grid times seeds, on a Dask cluster",
        description="Runs every point of the grid with every seed as an independent run, on a "
        "LocalCluster of --workers processes or on the cluster at --scheduler. Each run writes "
        "OUT/runs/<run id>/; OUT/runs.parquet holds a row per run: its parameters and seed, "
        "status (ok, failed, violation), error, replay command and the summary's figures. A "
        "rerun over the same OUT skips the runs already finished. A grid key that is no "
        "scenario field, or a value that makes no valid scenario, is refused before anything "
        "runs. Exits 1 if any run failed or broke an invariant.",
    )
    w.add_argument("scenario", type=Path, metavar="SCENARIO.toml")
    w.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="a scenario key and its values (repeatable: the grid is their product)",
    )
    w.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="override a scenario key for every run, before the grid (repeatable)",
    )
    w.add_argument("--seeds", type=int, default=1, help="seeds per grid point (default 1)")
    w.add_argument("--seed-start", type=int, default=0, help="the first seed (default 0)")
    add_cluster_arguments(w, default_workers=DEFAULT_SWEEP_WORKERS)
    w.add_argument("--out", type=Path, required=True, help="the sweep's directory")
    w.add_argument(
        "--retry-failed", action="store_true", help="run again the runs recorded as failed"
    )
    w.set_defaults(run=sweep_command)


def add_cluster_arguments(parser: argparse.ArgumentParser, *, default_workers: int) -> None:
    """--workers and --scheduler, one or the other."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        default=default_workers,
        help=f"processes of a LocalCluster (default {default_workers}; 0 runs here, no Dask)",
    )
    where.add_argument(
        "--scheduler", metavar="tcp://HOST:8786", help="the scheduler of an existing Dask cluster"
    )


def add_scenario_fuzz_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `xpl sim fuzz SCENARIO.toml` (the fuzz parser has --workers)."""
    parser.add_argument(
        "scenario",
        nargs="?",
        type=Path,
        metavar="SCENARIO.toml",
        help="fuzz this scenario: a fault schedule drawn per seed into faults.schedule, run "
        "with the whole simulator on Dask (without it: the four-validator fuzz below)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help=f"with SCENARIO: seeds to run (default {DEFAULT_FUZZ_SEEDS})",
    )
    parser.add_argument(
        "--mode",
        choices=("safety", "liveness"),
        default=None,
        help="with SCENARIO: safety (any faults, the invariants must hold) or liveness "
        "(more than 2/3 of the stake healthy after the heal, finality must advance within "
        "--bound-slots); default safety",
    )
    parser.add_argument(
        "--bound-slots",
        type=int,
        default=None,
        help="with SCENARIO, liveness: slots after the heal within which finality must advance",
    )
    parser.add_argument(
        "--scheduler", default=None, help="with SCENARIO: an existing Dask cluster's scheduler"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=None,
        dest="overrides",
        metavar="KEY=VALUE",
        help="with SCENARIO: override a scenario key before the schedules are drawn",
    )
    parser.add_argument("--out", type=Path, default=None, help="with SCENARIO: the runs' directory")


SCENARIO_ONLY = ("seeds", "mode", "bound_slots", "scheduler", "out", "overrides")
"""Options of `xpl sim fuzz` that only a scenario fuzz takes."""
FOUR_VALIDATOR_ONLY = ("schedules", "equivocator", "slots_after_heal")
"""Options of `xpl sim fuzz` that only the four-validator fuzz takes."""


FLAGS = {"overrides": "set"}
"""Options whose flag is not their name."""


def refused_options(args: argparse.Namespace) -> str | None:
    """The options given that do not apply to the fuzz asked for, as a message."""
    wrong = FOUR_VALIDATOR_ONLY if args.scenario is not None else SCENARIO_ONLY
    given = [name for name in wrong if getattr(args, name) is not None]
    if not given:
        return None
    flags = ", ".join("--" + FLAGS.get(name, name.replace("_", "-")) for name in given)
    if args.scenario is not None:
        return f"{flags}: not for a scenario fuzz (use --seeds, --mode)"
    return f"{flags}: only with a SCENARIO.toml"


def _report(frame: pd.DataFrame, out: Path, *, label: str) -> int:
    """The counts of a batch of runs and each one that did not pass; 1 if any did not."""
    counts = frame["status"].value_counts().to_dict() if len(frame) else {}
    figures = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "failed", "violation"))
    print(f"{len(frame)} runs: {figures}; table: {out / 'runs.parquet'}")
    bad = frame[frame["status"] != "ok"] if len(frame) else frame
    for run, status, error, replay in zip(
        bad["run"], bad["status"], bad["error"], bad["replay"], strict=True
    ):
        print(f"  {label} {run}: {status}: {error}")
        print(f"    replay: {replay}")
    return 1 if len(bad) else 0


def _seeds(count: int, start: int) -> Sequence[int]:
    from sim.sweep import SweepError

    if count < 1 or start < 0:
        raise SweepError("--seeds must be positive and --seed-start not negative")
    return range(start, start + count)


def sweep_command(args: argparse.Namespace) -> int:
    """`xpl sim sweep`: the grid times the seeds; 1 if any run failed, 2 on bad input."""
    from sim.sweep import SweepError, parse_grid, sweep

    try:
        frame = sweep(
            args.scenario,
            parse_grid(args.grid),
            _seeds(args.seeds, args.seed_start),
            args.out,
            workers=args.workers,
            scheduler=args.scheduler,
            retry_failed=args.retry_failed,
            overrides=args.overrides,
        )
    except SweepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _report(frame, args.out, label="run")


def scenario_fuzz_command(args: argparse.Namespace) -> int:
    """`xpl sim fuzz SCENARIO.toml`: a drawn fault schedule per seed; 1 if any run broke
    safety, stalled (liveness) or failed, 2 on bad input. With --replay N: the scenario seed
    N runs."""
    try:
        return _scenario_fuzz(args)
    except ValueError as exc:  # ScenarioError, FuzzError: raised before anything runs
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _scenario_fuzz(args: argparse.Namespace) -> int:
    from sim.scenario import load_scenario, resolved_toml
    from sim.scenario_fuzz import (
        LIVENESS_BOUND_SLOTS,
        FuzzMode,
        draw_faults,
        fuzz_scenario,
        fuzzed,
    )

    logging.disable(logging.ERROR)
    mode = FuzzMode(args.mode or FuzzMode.SAFETY.value)
    bound = LIVENESS_BOUND_SLOTS if args.bound_slots is None else args.bound_slots
    scenario = load_scenario(args.scenario, args.overrides or ())
    if args.replay is not None:
        drawn = draw_faults(scenario, args.replay, mode, bound_slots=bound)
        sys.stdout.write(resolved_toml(fuzzed(scenario, drawn)))
        sets = "".join(f" --set {shlex.quote(o)}" for o in args.overrides or ())
        print(
            f"# xpl sim fuzz {args.scenario}{sets} --mode {mode.value} --replay {args.replay} "
            f"> F.toml && xpl sim run F.toml --seed {args.replay}",
            file=sys.stderr,
        )
        return 0
    out = args.out or Path("sim-out") / f"fuzz-{args.scenario.stem}-{mode.value}"
    frame = fuzz_scenario(
        scenario,
        _seeds(DEFAULT_FUZZ_SEEDS if args.seeds is None else args.seeds, args.seed_start),
        out,
        mode=mode,
        bound_slots=bound,
        workers=args.workers,
        scheduler=args.scheduler,
    )
    return _report(frame, out, label="seed")
