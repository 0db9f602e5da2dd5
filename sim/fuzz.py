"""Many fault schedules, one per seed, run over worker processes and summed up.

Each schedule is independent and fully determined by its seed (`sim.faults`), so the seeds are
shared out among processes and the outcomes gathered in any order; the summary sorts them back.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from enum import Enum
from typing import Final

from sim.faults import DEFAULT_SLOTS_AFTER_HEAL, Outcome, generate_schedule, run_schedule


class EquivocatorMode(Enum):
    """Which schedules have an equivocating validator."""

    NONE = "none"
    ONE = "one"
    BOTH = "both"
    """Odd seeds have one, even seeds none: half the schedules each."""

    def has_equivocator(self, seed: int) -> bool:
        return self is EquivocatorMode.ONE or (self is EquivocatorMode.BOTH and seed % 2 == 1)


def run_seed(seed: int, mode: EquivocatorMode, slots_after_heal: int) -> Outcome:
    """The outcome of the schedule that `seed` draws."""
    schedule = generate_schedule(seed, equivocator=mode.has_equivocator(seed))
    return run_schedule(schedule, slots_after_heal=slots_after_heal)


def _quiet_worker() -> None:
    # Every equivocation and refused message is logged by the cores; thousands of runs would
    # bury the summary.
    logging.disable(logging.ERROR)


def run_seeds(
    seeds: Iterable[int],
    *,
    mode: EquivocatorMode = EquivocatorMode.NONE,
    slots_after_heal: int = DEFAULT_SLOTS_AFTER_HEAL,
    workers: int = 1,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run the schedule of every seed (over `workers` processes; 1 runs them here), in any
    order; `on_outcome` sees each outcome as it comes."""
    outcomes: list[Outcome] = []

    def done(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    if workers <= 1:
        for seed in seeds:
            done(run_seed(seed, mode, slots_after_heal))
        return outcomes
    with ProcessPoolExecutor(max_workers=workers, initializer=_quiet_worker) as pool:
        futures = [pool.submit(run_seed, seed, mode, slots_after_heal) for seed in seeds]
        for future in as_completed(futures):
            done(future.result())
    return outcomes


PERCENTILES: Final = (50, 95, 99)


@dataclass(frozen=True)
class FuzzSummary:
    """The figures of a fuzz run."""

    outcomes: tuple[Outcome, ...]
    """Sorted by seed."""
    wall_s: float
    workers: int

    @property
    def violations(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.violations]

    @property
    def stalls(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.stalled]

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is not None]

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failed]

    def slots_to_resume(self, percentile: float) -> float:
        """The nearest-rank percentile of the slots finality took to resume after the heal,
        over every schedule that ran to the end: one that never resumed counts as infinite."""
        values = sorted(
            math.inf if o.resumed_after is None else o.resumed_after
            for o in self.outcomes
            if not o.violations and o.error is None
        )
        if not values:
            return math.nan
        return values[max(0, math.ceil(percentile / 100 * len(values)) - 1)]

    @property
    def per_core_per_s(self) -> float:
        """Schedules per second per worker process."""
        return len(self.outcomes) / self.wall_s / self.workers if self.wall_s else math.nan


def fuzz(
    seeds: Iterable[int],
    *,
    mode: EquivocatorMode = EquivocatorMode.NONE,
    slots_after_heal: int = DEFAULT_SLOTS_AFTER_HEAL,
    workers: int = 1,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> FuzzSummary:
    """Run the schedules of `seeds` and sum them up."""
    started = time.perf_counter()
    outcomes = run_seeds(
        seeds,
        mode=mode,
        slots_after_heal=slots_after_heal,
        workers=workers,
        on_outcome=on_outcome,
    )
    return FuzzSummary(
        tuple(sorted(outcomes, key=lambda o: o.seed)),
        time.perf_counter() - started,
        max(1, workers),
    )


__all__ = ["PERCENTILES", "EquivocatorMode", "FuzzSummary", "fuzz", "run_seed", "run_seeds"]
