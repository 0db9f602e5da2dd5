"""`xpl sim run SCENARIO.toml`: one scenario run, its resolved scenario and seed printed first,
a progress line as it goes, its digest and final state root at the end."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Final

from rich.console import Console

from sim.invariants import Violation
from sim.results import SimResult
from sim.scenario import Scenario, ScenarioError, load_scenario, resolved_toml
from sim.world.run import Progress, Simulation

PROGRESS_EVERY_S: Final = 0.5
"""Wall seconds between two updates of the progress line."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl sim run`."""
    r = sub.add_parser(
        "run",
        help="run one scenario: tables, summary and plots into --out",
        description="Runs SCENARIO.toml with every validator's real node core and runtime on a "
        "simulated network and clock, its agents and faults, checking the invariants after "
        "every block. Prints the resolved scenario and the seed first (enough to repeat the run "
        "exactly), then the run's digest and final state root. Exits 1 on a violated "
        "invariant (with the command that replays it) or a failed determinism check, 2 on a "
        "bad scenario.",
    )
    r.add_argument("scenario", type=Path, metavar="SCENARIO.toml")
    r.add_argument("--seed", type=int, default=None, help="the run's seed (default: the file's)")
    r.add_argument("--out", type=Path, default=None, help="directory for the tables and plots")
    r.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario field, e.g. --set validators.count=8 (repeatable)",
    )
    r.add_argument(
        "--until-ms",
        type=int,
        default=None,
        metavar="T",
        help="stop at simulated time T ms (a replay to a violation)",
    )
    r.add_argument(
        "--check-determinism",
        action="store_true",
        help="run twice and compare the digests and state roots",
    )
    r.set_defaults(run=run_command)


def run_command(args: argparse.Namespace) -> int:
    """`xpl sim run`: 0 if the run finished, 1 on a violation or nondeterminism, 2 on bad input."""
    # The cores log every equivocation and refused message; the run's own report is printed.
    logging.disable(logging.ERROR)
    try:
        scenario = load_scenario(args.scenario, args.overrides)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.until_ms is not None and args.until_ms < 0:
        print("error: --until-ms must not be negative", file=sys.stderr)
        return 2
    seed = scenario.seed if args.seed is None else args.seed
    print(resolved_toml(scenario), end="")
    print(f"# seed = {seed}", flush=True)
    console = Console(stderr=True)
    try:
        result = _run(scenario, seed, args, args.out, console)
    except KeyboardInterrupt:
        where = f"; the tables in {args.out} are complete" if args.out else ""
        print(f"interrupted{where}", file=sys.stderr)
        return 130
    _print_result(result)
    if result.violation is not None:
        return 1
    if args.check_determinism:
        again = _run(scenario, seed, args, None, console)
        same = (again.digest, again.state_root) == (result.digest, result.state_root)
        print(f"second run digest:     {again.digest}")
        print(f"second run state root: 0x{again.state_root}")
        print("deterministic: " + ("yes" if same else "NO: the two runs differ"))
        if not same:
            return 1
    return 0


def _run(
    scenario: Scenario, seed: int, args: argparse.Namespace, out: Path | None, console: Console
) -> SimResult:
    line = _ProgressLine(console)
    simulation = Simulation(
        scenario,
        seed=seed,
        out=out,
        stop_at_ms=args.until_ms,
        source=str(args.scenario),
        overrides=args.overrides,
        on_progress=line,
    )
    try:
        return simulation.run()
    finally:
        line.done()


class _ProgressLine:
    """One status line on stderr: simulated time, heights and speed, redrawn now and then."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.status = console.status("starting", spinner="dots")
        self.status.start()
        self.started = time.perf_counter()
        self.shown = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.perf_counter()
        if now - self.shown < PROGRESS_EVERY_S and p.t_ms < p.end_ms:
            return
        self.shown = now
        speed = p.t_ms / 1000 / max(now - self.started, 1e-9)
        self.status.update(
            f"{p.t_ms / 1000:.0f}/{p.end_ms / 1000:.0f} s simulated, "
            f"best #{p.best}, finalized #{p.finalized}, {p.blocks} blocks, {speed:.1f}x real time"
        )

    def done(self) -> None:
        self.status.stop()


def _print_result(result: SimResult) -> None:
    s = result.summary
    violation: Violation | None = result.violation
    if violation is not None:
        print(violation.describe(), file=sys.stderr)
    print(f"simulated:  {s.get('simulated_s', 0):.1f} s in {s.get('wall_s', 0):.1f} s wall")
    print(f"digest:     {result.digest}")
    print(f"state root: 0x{result.state_root}")
    if result.out is not None:
        print(f"results:    {result.out}")


__all__ = ["register", "run_command"]
