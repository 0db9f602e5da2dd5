"""The notebook API: `sim.run(scenario, seed=...)` runs a scenario and returns its result, its
tables as pandas DataFrames (`result.blocks`, `result.jobs`, ...), as cadCAD and radCAD users
work."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sim.results import SimResult
from sim.scenario import Scenario, load_scenario, with_overrides
from sim.world.run import Simulation


def run(
    scenario: Scenario | Path | str,
    *,
    seed: int | None = None,
    out: Path | str | None = None,
    overrides: Sequence[str] = (),
    until_ms: int | None = None,
) -> SimResult:
    """Run `scenario` (a Scenario, or the path of its TOML file) with `seed` (default: the
    scenario's own), `overrides` applied (`"key.path=value"`), writing its tables, summary and
    plots to `out` if given (else keeping them in memory); stopped early at `until_ms` of
    simulated time if given. A violated invariant ends the run: see `result.violation`."""
    if isinstance(scenario, Scenario):
        source = "SCENARIO.toml"
        resolved = with_overrides(scenario, overrides) if overrides else scenario
    else:
        source = str(scenario)
        resolved = load_scenario(Path(scenario), overrides)
    return Simulation(
        resolved,
        seed=resolved.seed if seed is None else seed,
        out=None if out is None else Path(out),
        stop_at_ms=until_ms,
        source=source,
        overrides=overrides,
    ).run()


__all__ = ["run"]
