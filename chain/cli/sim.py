"""`xpl sim`: runs of the deterministic network simulator (`sim`), one subcommand each."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time

from chain.cli import sim_run
from chain.cli.sim_study import register_study
from chain.cli.sim_sweep import (
    add_scenario_fuzz_arguments,
    refused_options,
    register_sweep,
    scenario_fuzz_command,
)
from sim.faults import (
    DEFAULT_SLOTS_AFTER_HEAL,
    NAMES,
    NodeState,
    Outcome,
    Schedule,
    StepReport,
    generate_schedule,
    run_schedule,
)
from sim.fuzz import PERCENTILES, EquivocatorMode, FuzzSummary, fuzz
from sim.network import LinkModel

PROGRESS_EVERY_S = 5.0
"""Seconds between two progress lines of a fuzz run."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `xpl sim` and its subcommands."""
    s = sub.add_parser("sim", help="run the deterministic network simulator")
    s_sub = s.add_subparsers(dest="sim", metavar="WHAT", required=True)
    f = s_sub.add_parser(
        "fuzz",
        help="random fault schedules: over a scenario, or over 4 validators: safety at every "
        "slot, finality resuming after the last fault heals",
        description="With a SCENARIO.toml, each seed draws a fault schedule into the scenario "
        "and runs it with the whole simulator (see --mode); every violation is printed with "
        "its replay command. Without one, each seed draws 4 validators of the local spec (one "
        "equivocating, if asked), "
        "lossy, duplicating and reordering links with long delays, and 4 to 12 steps of crashes, "
        "restarts, partitions of every shape and heals, each followed by 1 to 20 slots; then "
        "everything heals and the run goes on. Safety is checked after every slot; a schedule "
        "whose finality does not resume after the heal has stalled. Exits 1 if any failed.",
    )
    add_scenario_fuzz_arguments(f)
    f.add_argument("--schedules", type=int, default=None, help="schedules to run (default 100)")
    f.add_argument("--seed-start", type=int, default=0, help="seed of the first schedule")
    f.add_argument(
        "--equivocator",
        choices=[m.value for m in EquivocatorMode],
        default=None,
        help="schedules with one equivocating validator: none, one (all), or both (odd seeds)",
    )
    f.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes running schedules (default: the CPU count)",
    )
    f.add_argument(
        "--slots-after-heal",
        type=int,
        default=None,
        help="slots run after the last fault heals; finality not resumed by then has stalled "
        f"(default {DEFAULT_SLOTS_AFTER_HEAL})",
    )
    f.add_argument(
        "--replay",
        type=int,
        metavar="SEED",
        default=None,
        help="run one seed's schedule, printing best/finalized per node after each step (with "
        "SCENARIO: print the scenario that seed runs)",
    )
    f.set_defaults(run=fuzz_command)
    sim_run.register(s_sub)
    register_study(s_sub)
    register_sweep(s_sub)


def fuzz_command(args: argparse.Namespace) -> int:
    """`xpl sim fuzz`: many schedules, or one replayed step by step; 1 if any failed."""
    refused = refused_options(args)
    if refused is not None:
        print(f"error: {refused}", file=sys.stderr)
        return 2
    if args.scenario is not None:
        return scenario_fuzz_command(args)
    args.schedules = 100 if args.schedules is None else args.schedules
    if args.slots_after_heal is None:
        args.slots_after_heal = DEFAULT_SLOTS_AFTER_HEAL
    # The cores log every equivocation and refused message; thousands of runs would bury the
    # figures.
    logging.disable(logging.ERROR)
    mode = EquivocatorMode(args.equivocator or EquivocatorMode.NONE.value)
    if args.replay is not None:
        return replay(args.replay, mode, args.slots_after_heal)
    if args.schedules < 1 or args.workers < 1 or args.slots_after_heal < 1:
        print(
            "error: --schedules, --workers and --slots-after-heal must be positive", file=sys.stderr
        )
        return 2
    seeds = range(args.seed_start, args.seed_start + args.schedules)
    print(
        f"{args.schedules} schedules from seed {args.seed_start}, equivocator: {mode.value}, "
        f"{args.slots_after_heal} slots after the heal, {args.workers} workers",
        file=sys.stderr,
    )
    summary = fuzz(
        seeds,
        mode=mode,
        slots_after_heal=args.slots_after_heal,
        workers=args.workers,
        on_outcome=_Progress(args.schedules),
    )
    print_summary(summary, mode)
    return 1 if summary.failures else 0


class _Progress:
    """Prints a line now and then while schedules finish, and each failure as it comes."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.started = time.perf_counter()
        self.printed = self.started

    def __call__(self, outcome: Outcome) -> None:
        self.done += 1
        if outcome.failed:
            self.failed += 1
            print(f"  seed {outcome.seed}: {outcome.verdict()}", file=sys.stderr)
        now = time.perf_counter()
        if now - self.printed >= PROGRESS_EVERY_S or self.done == self.total:
            self.printed = now
            rate = self.done / (now - self.started)
            print(
                f"  {self.done}/{self.total} schedules, {self.failed} failed, {rate:.2f}/s",
                file=sys.stderr,
            )


def _slots(value: float) -> str:
    return "stall" if math.isinf(value) else "-" if math.isnan(value) else f"{value:.0f}"


def print_summary(summary: FuzzSummary, mode: EquivocatorMode) -> None:
    """The figures of a fuzz run, and a replay command for each failed schedule."""
    outcomes = summary.outcomes
    slots_after_heal = outcomes[0].slots_after_heal if outcomes else DEFAULT_SLOTS_AFTER_HEAL
    with_equivocator = sum(o.equivocator for o in outcomes)
    print(f"schedules run:      {len(outcomes)} ({with_equivocator} with an equivocator)")
    print(f"safety violations:  {len(summary.violations)}")
    print(f"stalls:             {len(summary.stalls)} (within {slots_after_heal} slots)")
    print(f"errors raised:      {len(summary.errors)}")
    resumed = [o.resumed_after for o in outcomes if o.resumed_after is not None]
    figures = ", ".join(f"p{p} {_slots(summary.slots_to_resume(p))}" for p in PERCENTILES)
    print(
        f"slots to resume:    {figures}, max {max(resumed) if resumed else '-'}"
        " (a stall counts as never; goal: p99 ≤ 10)"
    )
    print(
        f"wall time:          {summary.wall_s:.1f} s "
        f"({summary.per_core_per_s:.2f} schedules/s per worker, {summary.workers} workers)"
    )
    if summary.failures:
        print("failed seeds:       " + ",".join(str(o.seed) for o in summary.failures))
        print("failed schedules:")
        for o in summary.failures:
            print(f"  seed {o.seed}: {o.verdict()}")
            print(
                f"    xpl sim fuzz --replay {o.seed} --equivocator {mode.value} "
                f"--slots-after-heal {o.slots_after_heal}"
            )


def describe_link(link: LinkModel) -> str:
    """A link model in one phrase."""
    lo, hi = link.latency_ms
    text = f"latency {lo}–{hi} ms, loss {link.loss:g}, duplicates {link.duplicate:g}"
    if link.long_delay:
        d_lo, d_hi = link.long_delay_ms
        text += f", long delays {link.long_delay:g} of {d_lo / 1000:g}–{d_hi / 1000:g} s"
    return text


def print_schedule(schedule: Schedule) -> None:
    """A schedule's network: its equivocator and its links."""
    print(f"schedule of seed {schedule.seed} (network seed {schedule.network_seed})")
    print(f"  equivocator: {schedule.equivocator or 'none'}")
    print(f"  links: {describe_link(schedule.link)}")
    for a, b, model in schedule.links:
        print(f"    {a}–{b}: {describe_link(model)}")


def _state(state: NodeState | None) -> str:
    return "down" if state is None else f"{state.best}/{state.finalized}"


def print_step(step: StepReport) -> None:
    """One row of the replay table."""
    index = "end" if step.index is None else str(step.index)
    nodes = "  ".join(f"{_state(step.nodes[name]):>8}" for name in NAMES)
    print(f"{index:>4}  {step.fault:<52} {step.slots:>4}  {nodes}", flush=True)


def replay(seed: int, mode: EquivocatorMode, slots_after_heal: int) -> int:
    """`xpl sim fuzz --replay SEED`: one schedule, step by step; 1 if it failed."""
    schedule = generate_schedule(seed, equivocator=mode.has_equivocator(seed))
    print_schedule(schedule)
    header = "  ".join(f"{name:>8}" for name in NAMES)
    print(f"\nstep  {'fault':<52} {'slots':>4}  {header}    (best/finalized)")
    outcome = run_schedule(schedule, slots_after_heal=slots_after_heal, on_step=print_step)
    print(outcome.verdict())
    return 1 if outcome.failed else 0
