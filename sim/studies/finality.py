"""The network study (`xpl sim study network`): finality lag against validator count and
inter-region latency, and through a partition that heals.

A sweep (`sim.sweep.sweep`, on a LocalCluster) runs `sim/scenarios/network_finality.toml`,
shortened to `duration_s` with its partition moved to `partition_s`, over a grid of validator
counts times latency levels (the scenario's latency matrix scaled by each factor). Each run's
runner (`finality_run`, on the worker) measures from its tables:

- finality delay: for each block and each node, the seconds from the block's first appearance to
  the node finalizing it (p50/p95), over blocks authored outside the partition and the catch-up
  after it (the steady state);
- finality lag: each node's best − finalized height sampled every second (p50/p95, steady);
- through the partition: the largest lag, and the seconds from the heal until every node has
  finalized what the first validator had authored by then (the catch-up).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd

from sim.scenario import Scenario, load_scenario
from sim.studies.finality_measures import finality_figures, partition_window
from sim.studies.finality_plots import write_lag_over_time, write_lag_vs_validators
from sim.sweep import override_text, sweep

DEFAULT_SCENARIO: Final = (
    Path(__file__).resolve().parents[1] / "scenarios" / "network_finality.toml"
)
COUNTS: Final = (4, 8, 16, 32)
"""Validator counts of the default study (64 simulates at about a tenth of real time: --full)."""
FULL_COUNTS: Final = (4, 8, 16, 32, 64)
SCALES: Final = (1.0, 3.0)
"""Factors on the scenario's latency matrix (the default study's levels)."""
FULL_SCALES: Final = (0.5, 1.0, 3.0)
DURATION_S: Final = 40.0
"""Simulated seconds of each run of the default study."""
PARTITION_S: Final = (15.0, 25.0)
"""When the default study's partition starts and heals."""
RUNS_TABLE: Final = "network_runs.csv"
SUMMARY: Final = "network.json"


def scaled_matrix(scenario: Scenario, scale: float) -> list[list[float]]:
    """The scenario's latency matrix times `scale`."""
    return [[round(v * scale, 3) for v in row] for row in scenario.network.latency_ms]


def finality_run(scenario: Scenario, seed: int, out: Path) -> Mapping[str, Any]:
    """The sweep's runner: the simulator's run and its summary, with the study's figures under
    `study`."""
    from sim.api import run  # the world, loaded on the worker that runs it

    result = run(scenario, seed=seed, out=out)
    summary = dict(result.summary)
    if result.violation is not None:
        summary["violation"] = result.violation
    summary["study"] = finality_figures(result.blocks, result.finality, scenario)
    return summary


@dataclass
class NetworkStudy:
    """What the study measured and wrote."""

    runs: pd.DataFrame
    """One row per run: validators, scale, inter_region_ms, status and the study's figures."""
    files: list[Path] = field(default_factory=list)


def study_overrides(duration_s: float, partition_s: tuple[float, float]) -> list[str]:
    """The default study's shortening of the scenario."""
    start, heal = partition_s
    return [
        f"duration_s={duration_s!r}",
        f"faults.schedule[0].at_s={start!r}",
        f"faults.schedule[0].until_s={heal!r}",
    ]


def run_network_study(
    out: Path,
    *,
    scenario: Path = DEFAULT_SCENARIO,
    counts: Sequence[int] = COUNTS,
    scales: Sequence[float] = SCALES,
    duration_s: float | None = DURATION_S,
    partition_s: tuple[float, float] = PARTITION_S,
    overrides: Sequence[str] = (),
    seed: int | None = None,
    workers: int = 2,
    progress: bool = False,
) -> NetworkStudy:
    """Sweep validator counts × latency scales into OUT/sweep and write the plots,
    network_runs.csv and network.json under OUT. `duration_s` None runs the scenario's own
    duration and partition."""
    out.mkdir(parents=True, exist_ok=True)
    sets = [*(study_overrides(duration_s, partition_s) if duration_s else ()), *overrides]
    base = load_scenario(scenario, sets)
    grid: dict[str, list[Any]] = {
        "validators.count": list(counts),
        "network.latency_ms": [override_text(scaled_matrix(base, s)) for s in scales],
    }
    seeds = [base.seed if seed is None else seed]
    table = sweep(
        base, grid, seeds, out / "sweep", workers=workers, runner=finality_run, progress=progress
    )
    runs = _study_rows(table, base, scales)
    files = [
        write_lag_vs_validators(out / "finality_vs_validators.png", runs),
        write_lag_over_time(out / "finality_partition.png", runs, out / "sweep", base),
    ]
    runs.to_csv(out / RUNS_TABLE, index=False)
    files.append(out / RUNS_TABLE)
    summary = {
        "scenario": base.name,
        "seed": seeds[0],
        "duration_s": float(base.duration_s),
        "partition_s": list(partition_window(base) or ()),
        "runs": json.loads(runs.to_json(orient="records")),
    }
    (out / SUMMARY).write_text(json.dumps(summary, indent=1) + "\n")
    files.append(out / SUMMARY)
    return NetworkStudy(runs=runs, files=files)


def _study_rows(table: pd.DataFrame, base: Scenario, scales: Sequence[float]) -> pd.DataFrame:
    """The sweep's rows reduced to the study's columns, with each run's latency scale."""
    by_matrix = {override_text(scaled_matrix(base, s)): s for s in scales}
    rows = []
    for _, row in table.iterrows():
        matrix = row["network.latency_ms"]
        rows.append(
            {
                "run": row["run"],
                "validators": int(row["validators.count"]),
                "scale": by_matrix.get(override_text(_as_list(matrix))),
                "status": row["status"],
                "error": row.get("error"),
                **{
                    name.removeprefix("study."): row[name]
                    for name in table.columns
                    if name.startswith("study.") and name != "study.validators"
                },
            }
        )
    return pd.DataFrame(rows).sort_values(["scale", "validators"], kind="stable")


def _as_list(value: Any) -> Any:
    """A matrix column's cell (a string, or nested arrays from Parquet) as nested lists."""
    if isinstance(value, str):
        return tomllib.loads(f"v = {value}")["v"]
    return [[float(v) for v in row] for row in value]


__all__ = [
    "COUNTS",
    "DEFAULT_SCENARIO",
    "FULL_COUNTS",
    "FULL_SCALES",
    "NetworkStudy",
    "finality_run",
    "run_network_study",
    "scaled_matrix",
]
