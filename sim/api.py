"""The notebook API: `sim.run(scenario, seed=...)` runs a scenario and returns its result, its
tables as pandas DataFrames (`result.blocks`, `result.jobs`, ...), as cadCAD and radCAD users
work."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sim.results import SCENARIO_FILE, SimResult
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
    simulated time if given. A violated invariant ends the run: see `result.violation`; its
    replay command names the file, or for a Scenario given as an object the resolved scenario
    the run wrote to `out` (with no `out`, SCENARIO.toml stands for `resolved_toml` of it)."""
    directory = None if out is None else Path(out)
    if isinstance(scenario, Scenario):
        resolved = with_overrides(scenario, overrides) if overrides else scenario
        # The file the run writes holds the overrides already.
        source = "SCENARIO.toml" if directory is None else str(directory / SCENARIO_FILE)
        replayed: Sequence[str] = ()
    else:
        source = str(scenario)
        resolved = load_scenario(Path(scenario), overrides)
        replayed = overrides
    return Simulation(
        resolved,
        seed=resolved.seed if seed is None else seed,
        out=directory,
        stop_at_ms=until_ms,
        source=source,
        overrides=replayed,
    ).run()


__all__ = ["run"]
