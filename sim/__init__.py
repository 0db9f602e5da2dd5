"""The deterministic network simulator: the real node core and runtime on a simulated network
(`sim.network`), random fault schedules played on it and judged for finality's safety and
liveness (`sim.faults`), and many of them run over worker processes (`sim.fuzz`).

Researchers' runs: a scenario (`sim.scenario`) is built into a world of validators and agents
(`sim.world.build`), run with its faults and invariants (`sim.world.run`, `sim.invariants`), and
recorded as tables, a summary and plots (`sim.tables`, `sim.summary`, `sim.plots`);
`sim.run(scenario, seed=...)` does it all and returns a `SimResult`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.api import run


def __getattr__(name: str) -> Any:
    # Imported on first use: the network simulator's users (tests, fault fuzzing) need not load
    # pandas and matplotlib.
    if name == "run":
        from sim.api import run

        return run
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


__all__ = ["run"]
