"""Random fault schedules over a scenario, one per seed, judged for safety or for liveness.

Each seed draws a schedule into the scenario's `faults.schedule` (replacing the one it has):
crashes and restarts, partitions into two or three groups and heals, clock skews, windows of
message loss, duplication and reordering, and, in safety mode, an equivocating validator.

- safety: the faults fall anywhere in the run; the world's invariants (checked after every
  block on every node) must hold.
- liveness: every fault ends by the heal time (half the run, in whole slots), except crashes of
  validators that stay down, fewer than a third of them and only where every validator bonds
  the same stake (so that more than 2/3 of the stake is healthy and connected after the heal);
  the scenario's random faults are turned off. Every validator still up must finalize a block
  above the highest finalized at the heal within `bound_slots` slots of it; the run is made
  long enough for that.

The runs go through the sweep's machinery (`sim.sweep.run_all`): one directory per seed under
OUT/runs/ holding the drawn scenario, a row per seed in OUT/runs.parquet, resumable, and each
violation with the command that replays it: `xpl sim run OUT/runs/<seed>/scenario.toml --seed N
--until-ms T`. The schedule is a function of the seed and the scenario alone.
"""

from __future__ import annotations

import math
import random
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Final

import pandas as pd

from sim.scenario import Scenario, resolved_toml, scenario_from_dict
from sim.sweep import PlannedRun, SweepError, claim_output, replay_command, run_all

MIN_EVENTS: Final = 2
MAX_EVENTS: Final = 8
"""The most faults a schedule draws (validators kept down in liveness mode come on top)."""
HEAL_AT: Final = 0.5
"""Where the heal falls in liveness mode, as a fraction of the scenario's duration."""
LIVENESS_BOUND_SLOTS: Final = 30
"""Slots after the heal within which finality must advance (liveness mode's default)."""
MAX_SKEW_MS: Final = 2_000
"""The largest clock skew drawn, either way."""
MAX_LOSS: Final = 0.4
MAX_DUPLICATE: Final = 0.2
MAX_REORDER_MS: Final = 1_500
"""The widest extra delay spread of a reordering window."""
LATEST_START: Final = 0.9
"""Liveness: the latest a fault starts, as a fraction of the time to the heal (it must end by
the heal, a millisecond at least after it starts)."""
EQUIVOCATOR_CHANCE: Final = 0.5
"""The chance that a safety schedule has one validator equivocate from a drawn time."""


class FuzzMode(Enum):
    """What a fuzz run requires."""

    SAFETY = "safety"
    LIVENESS = "liveness"


class FuzzError(ValueError):
    """A scenario that cannot be fuzzed in the mode asked for."""


@dataclass(frozen=True)
class DrawnFaults:
    """The fault schedule one seed draws, and what liveness mode requires of the run."""

    seed: int
    mode: FuzzMode
    events: tuple[dict[str, Any], ...]
    """`faults.schedule` entries, as a scenario file writes them, in time order."""
    heal_s: float
    """Every fault ends by then (liveness); the end of the run in safety mode."""
    bound_s: float
    """Liveness: finality must advance within this long after `heal_s`."""
    duration_s: float
    validators: int
    down: tuple[int, ...]
    """Validators crashed for good (liveness: fewer than a third, by stake)."""

    @property
    def required_nodes(self) -> int:
        """Liveness: how many validators must finalize past the heal mark."""
        return self.validators - len(self.down)


def _seconds(value: float) -> float:
    return round(value, 3)


def _groups(rng: random.Random, count: int) -> list[list[int]]:
    """A split of the validators into two or three non-empty groups."""
    order = list(range(count))
    rng.shuffle(order)
    parts = rng.randint(2, min(3, count))
    cuts = sorted(rng.sample(range(1, count), parts - 1))
    return [sorted(order[a:b]) for a, b in zip([0, *cuts], [*cuts, count], strict=True)]


def _until(rng: random.Random, at: float, end: float, *, always: bool) -> dict[str, float]:
    """An end for a fault drawn at `at`, by `end`: always (liveness), else half the time."""
    if not always and (rng.random() < 0.5 or end - at < 0.002):
        return {}
    return {"until_s": _seconds(rng.uniform(at + 0.001, end))}


def _event(
    rng: random.Random,
    kind: str,
    at: float,
    end: float,
    nodes: Sequence[int],
    count: int,
    liveness: bool,
) -> dict[str, Any]:
    """One fault of `kind` at `at`, hitting validators drawn from `nodes`."""
    event: dict[str, Any] = {"at_s": at, "kind": kind}
    if kind in ("crash", "restart", "skew", "equivocate"):
        event["nodes"] = [rng.choice(nodes)]
    if kind == "partition":
        event["groups"] = _groups(rng, count)
    if kind == "skew":
        event["skew_ms"] = rng.choice((-1, 1)) * rng.randint(1, MAX_SKEW_MS)
    if kind == "loss":
        event["loss"] = round(rng.uniform(0.0, MAX_LOSS), 3)
        event["duplicate"] = round(rng.uniform(0.0, MAX_DUPLICATE), 3)
        event["reorder_ms"] = float(rng.randint(0, MAX_REORDER_MS))
    if kind in ("crash", "partition", "skew", "loss"):
        event.update(_until(rng, at, end, always=liveness))
    return event


def max_down(scenario: Scenario) -> int:
    """The validators liveness mode may keep down: with the equivocators, fewer than a third
    of them, where every validator bonds the same stake (else none may stay down)."""
    count, equivocating = scenario.validators.count, scenario.validators.equivocating
    if 3 * equivocating >= count:
        raise FuzzError(
            f"validators.equivocating: {equivocating} of {count} validators equivocate; "
            "liveness needs more than 2/3 of the stake honest"
        )
    if scenario.validators.stake.kind != "fixed":
        if equivocating:
            raise FuzzError(
                "validators.equivocating: with stakes drawn from a distribution, liveness "
                "cannot tell whether the honest validators hold 2/3 of the stake"
            )
        return 0
    return (count - 1) // 3 - equivocating


def draw_faults(
    scenario: Scenario, seed: int, mode: FuzzMode, *, bound_slots: int = LIVENESS_BOUND_SLOTS
) -> DrawnFaults:
    """The schedule that `seed` draws over `scenario` in `mode`."""
    rng = random.Random(f"xpl-sim-fuzz/{mode.value}/{seed}")
    count = scenario.validators.count
    slot_s = scenario.slot_ms / 1000
    liveness = mode is FuzzMode.LIVENESS
    if liveness:
        heal_s = _seconds(max(1, math.floor(scenario.duration_s * HEAL_AT / slot_s)) * slot_s)
        bound_s = _seconds(bound_slots * slot_s)
        duration_s = max(scenario.duration_s, _seconds(heal_s + bound_s + slot_s))
        kinds: tuple[str, ...] = ("crash", "partition", "skew", "loss")
        down = tuple(
            sorted(
                rng.sample(
                    range(scenario.validators.equivocating, count),
                    rng.randint(0, max_down(scenario)),
                )
            )
        )
    else:
        heal_s = bound_s = 0.0
        duration_s = scenario.duration_s
        kinds = ("crash", "restart", "partition", "heal", "skew", "loss")
        down = ()
    window = heal_s if liveness else duration_s
    nodes = [i for i in range(count) if i not in down]
    if count < 2:
        kinds = tuple(k for k in kinds if k not in ("partition", "heal"))
    events = []
    for _ in range(rng.randint(MIN_EVENTS, MAX_EVENTS)):
        # In liveness mode a fault starts early enough to end before the heal.
        at = _seconds(rng.uniform(0.0, window * (LATEST_START if liveness else 1.0)))
        events.append(_event(rng, rng.choice(kinds), at, window, nodes, count, liveness))
    for node in down:
        events.append(
            {"at_s": _seconds(rng.uniform(0.0, window)), "kind": "crash", "nodes": [node]}
        )
    if not liveness and rng.random() < EQUIVOCATOR_CHANCE:
        at = _seconds(rng.uniform(0.0, window))
        events.append({"at_s": at, "kind": "equivocate", "nodes": [rng.randrange(count)]})
    events.sort(key=lambda e: e["at_s"])
    return DrawnFaults(seed, mode, tuple(events), heal_s, bound_s, duration_s, count, down)


def fuzzed(scenario: Scenario, drawn: DrawnFaults) -> Scenario:
    """`scenario` with the drawn schedule (and, in liveness mode, no random faults, the
    finality table kept, and the run long enough to judge)."""
    data = tomllib.loads(resolved_toml(scenario))
    data["duration_s"] = drawn.duration_s
    faults = data.setdefault("faults", {})
    faults["schedule"] = [dict(e) for e in drawn.events]
    if drawn.mode is FuzzMode.LIVENESS:
        faults["random"] = {
            **faults.get("random", {}),
            **{
                rate: 0.0
                for rate in (
                    "crash_per_hour",
                    "partition_per_hour",
                    "skew_per_hour",
                    "loss_per_hour",
                )
            },
        }
        outputs = data.setdefault("outputs", {})
        tables = outputs.get("tables")
        if tables is not None and "finality" not in tables:
            outputs["tables"] = [*tables, "finality"]
    return scenario_from_dict(
        data, source=f"{scenario.name} (fuzz {drawn.mode.value}, seed {drawn.seed})"
    )


# Judging liveness


def liveness_problem(finality: pd.DataFrame, drawn: DrawnFaults) -> str | None:
    """What is wrong with finality after the heal (None if it advanced in time): fewer than
    `required_nodes` nodes finalized a block above the highest finalized at the heal within
    the bound. `finality` is the run's finality table (t_ms, node, finalized)."""
    heal_ms = round(drawn.heal_s * 1000)
    deadline_ms = heal_ms + round(drawn.bound_s * 1000)
    before = finality[finality["t_ms"] <= heal_ms]
    mark = int(before["finalized"].max()) if len(before) else 0
    after = finality[
        (finality["t_ms"] > heal_ms)
        & (finality["t_ms"] <= deadline_ms)
        & (finality["finalized"] > mark)
    ]
    advanced = after["node"].nunique()
    if advanced >= drawn.required_nodes:
        return None
    return (
        f"{advanced} of the {drawn.required_nodes} validators up finalized above "
        f"#{mark} within {drawn.bound_s:g} s of the heal at {drawn.heal_s:g} s"
    )


@dataclass(frozen=True)
class FuzzRunner:
    """Runs a fuzzed scenario with the simulator and, in liveness mode, judges its finality
    (a `sim.sweep.Runner`)."""

    base: Scenario
    """The scenario before its schedule was drawn (each seed's is drawn again here: a task
    carries one scenario, not every seed's schedule)."""
    mode: FuzzMode
    bound_slots: int = LIVENESS_BOUND_SLOTS

    def __call__(self, scenario: Scenario, seed: int, out: Path) -> Mapping[str, Any]:
        # Imported where a run needs it: drawing schedules never loads the world.
        from sim import api

        result = api.run(scenario, seed=seed, out=out)
        summary = dict(result.summary)
        drawn = draw_faults(self.base, seed, self.mode, bound_slots=self.bound_slots)
        if result.violation is not None:
            summary["violation"] = result.violation
        elif drawn.mode is FuzzMode.LIVENESS:
            problem = liveness_problem(result.finality, drawn)
            if problem is not None:
                summary["violation"] = {
                    "name": "finality stalled",
                    "node": "-",
                    "block": 0,
                    "t_ms": round((drawn.heal_s + drawn.bound_s) * 1000),
                    "detail": problem,
                }
        return summary


def plan_fuzz(
    scenario: Scenario,
    seeds: Sequence[int],
    mode: FuzzMode,
    out: Path,
    *,
    bound_slots: int = LIVENESS_BOUND_SLOTS,
) -> list[PlannedRun]:
    """A run per seed over its drawn schedule; FuzzError if the scenario cannot be fuzzed."""
    if not seeds or len(set(seeds)) != len(seeds):
        raise FuzzError("the seeds must be distinct, and at least one")
    if bound_slots < 1:
        raise FuzzError("the liveness bound must be at least one slot")
    runs = []
    for seed in seeds:
        drawn = draw_faults(scenario, seed, mode, bound_slots=bound_slots)
        rid = f"{mode.value}-seed={seed}"
        params = {
            "mode": mode.value,
            "faults": len(drawn.events),
            "heal_s": drawn.heal_s,
            "down": len(drawn.down),
        }
        replay = replay_command(None, (), seed, out / "runs" / rid)
        runs.append(PlannedRun(rid, params, (), seed, fuzzed(scenario, drawn), replay))
    return runs


def fuzz_scenario(
    scenario: Scenario,
    seeds: Sequence[int],
    out: Path,
    *,
    mode: FuzzMode = FuzzMode.SAFETY,
    bound_slots: int = LIVENESS_BOUND_SLOTS,
    workers: int = 2,
    scheduler: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Fuzz `scenario` over `seeds` (see the module's docstring); the table of the runs, also
    written to OUT/runs.parquet. A row's status is `violation` for a broken invariant or, in
    liveness mode, finality that did not advance in time."""
    runs = plan_fuzz(scenario, seeds, mode, out, bound_slots=bound_slots)
    try:
        claim_output(out, scenario)
    except SweepError as exc:
        raise FuzzError(str(exc)) from exc
    return run_all(
        runs,
        out,
        workers=workers,
        scheduler=scheduler,
        runner=FuzzRunner(scenario, mode, bound_slots),
        progress=progress,
    )


__all__ = [
    "LIVENESS_BOUND_SLOTS",
    "DrawnFaults",
    "FuzzError",
    "FuzzMode",
    "FuzzRunner",
    "draw_faults",
    "fuzz_scenario",
    "fuzzed",
    "liveness_problem",
    "max_down",
    "plan_fuzz",
]
