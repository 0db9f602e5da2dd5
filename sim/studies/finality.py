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

import numpy as np
import pandas as pd

from sim.scenario import Scenario, load_scenario
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
SETTLE_S: Final = 10.0
"""Seconds after the heal left out of the steady figures (the catch-up)."""
RUNS_TABLE: Final = "network_runs.csv"
SUMMARY: Final = "network.json"


def scaled_matrix(scenario: Scenario, scale: float) -> list[list[float]]:
    """The scenario's latency matrix times `scale`."""
    return [[round(v * scale, 3) for v in row] for row in scenario.network.latency_ms]


def inter_region_ms(scenario: Scenario) -> float:
    """The mean one-way latency between two different regions."""
    matrix = scenario.network.latency_ms
    off = [v for i, row in enumerate(matrix) for j, v in enumerate(row) if i != j]
    return float(sum(off) / len(off)) if off else 0.0


def partition_window(scenario: Scenario) -> tuple[float, float] | None:
    """The first partition's start and heal, in seconds (its `until_s`, else the next heal)."""
    schedule = sorted(scenario.faults.schedule, key=lambda f: f.at_s)
    for i, fault in enumerate(schedule):
        if fault.kind == "partition":
            until = fault.until_s
            if until is None:
                until = next((f.at_s for f in schedule[i + 1 :] if f.kind == "heal"), None)
            end = float(scenario.duration_s if until is None else until)
            return float(fault.at_s), end
    return None


def lag_series(finality: pd.DataFrame, duration_s: float) -> pd.DataFrame:
    """Each node's lag (best − finalized) as of every whole second: rows second, node, lag."""
    seconds = np.arange(0, int(duration_s) + 1)
    frames = []
    for node, rows in finality.sort_values("t_ms", kind="stable").groupby("node", sort=True):
        times = rows["t_ms"].to_numpy() / 1000.0
        index = np.searchsorted(times, seconds, side="right") - 1
        lag = np.where(index >= 0, rows["lag_blocks"].to_numpy()[np.maximum(index, 0)], 0)
        frames.append(pd.DataFrame({"second": seconds, "node": str(node), "lag": lag}))
    if not frames:
        return pd.DataFrame({"second": [], "node": [], "lag": []})
    return pd.concat(frames, ignore_index=True)


def finality_delays(blocks: pd.DataFrame, finality: pd.DataFrame) -> pd.DataFrame:
    """For each block height and node: the block's first appearance and the delay (s) until the
    node finalized that height (NaN if it never did)."""
    born = blocks.groupby("number")["t_ms"].min().sort_index()
    frames = []
    for node, rows in finality.sort_values("t_ms", kind="stable").groupby("node", sort=True):
        finalized = np.maximum.accumulate(rows["finalized"].to_numpy())
        times = rows["t_ms"].to_numpy()
        index = np.searchsorted(finalized, born.index.to_numpy(), side="left")
        done = index < len(times)
        at = np.where(done, times[np.minimum(index, len(times) - 1)], -1)
        delay = np.where(done, (at - born.to_numpy()) / 1000.0, np.nan)
        frames.append(
            pd.DataFrame(
                {
                    "number": born.index,
                    "node": str(node),
                    "born_s": born.to_numpy() / 1000.0,
                    "delay_s": delay,
                }
            )
        )
    if not frames:
        return pd.DataFrame({"number": [], "node": [], "born_s": [], "delay_s": []})
    return pd.concat(frames, ignore_index=True)


def _quantile(values: pd.Series[Any], q: float) -> float | None:
    done = values.dropna()
    return None if done.empty else float(done.quantile(q))


def finality_figures(
    blocks: pd.DataFrame, finality: pd.DataFrame, scenario: Scenario
) -> dict[str, Any]:
    """The study's figures of one run (see the module's docstring)."""
    duration = float(scenario.duration_s)
    window = partition_window(scenario)
    lags = lag_series(finality, duration)
    delays = finality_delays(blocks, finality)
    steady_lag, steady_delay = lags, delays
    figures: dict[str, Any] = {
        "validators": scenario.validators.count,
        "inter_region_ms": inter_region_ms(scenario),
    }
    if window is not None:
        start, heal = window
        settled = heal + SETTLE_S
        steady_lag = lags[(lags["second"] < start) | (lags["second"] >= settled)]
        steady_delay = delays[(delays["born_s"] < start) | (delays["born_s"] >= settled)]
        during = lags[(lags["second"] >= start) & (lags["second"] < settled)]
        figures["partition_max_lag"] = float(during["lag"].max()) if len(during) else None
        figures["catch_up_s"] = _catch_up_s(blocks, finality, heal)
    figures.update(
        {
            "delay_p50_s": _quantile(steady_delay["delay_s"], 0.5),
            "delay_p95_s": _quantile(steady_delay["delay_s"], 0.95),
            "lag_p50": _quantile(steady_lag["lag"].astype("float64"), 0.5),
            "lag_p95": _quantile(steady_lag["lag"].astype("float64"), 0.95),
        }
    )
    return figures


def _catch_up_s(blocks: pd.DataFrame, finality: pd.DataFrame, heal_s: float) -> float | None:
    """Seconds from the heal until every node has finalized the highest block authored by it."""
    before = blocks[blocks["t_ms"] <= heal_s * 1000]
    if before.empty:
        return 0.0
    target = int(before["number"].max())
    last = 0.0
    for _, rows in finality.groupby("node", sort=True):
        reached = rows[rows["finalized"] >= target]
        if reached.empty:
            return None
        last = max(last, float(reached["t_ms"].min()) / 1000.0)
    return max(0.0, last - heal_s)


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
    from sim.studies.finality_plots import write_lag_over_time, write_lag_vs_validators

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
    "finality_delays",
    "finality_figures",
    "finality_run",
    "inter_region_ms",
    "lag_series",
    "partition_window",
    "run_network_study",
    "scaled_matrix",
]
