"""The supply, latency and cost study (`xpl sim study supply`): job latency from submission to
settlement and the matched price over time through a supply shock and a demand spike, and
against the ratio of worker supply to demand.

One run of the scenario (`sim/scenarios/supply_latency.toml` by default) gives the time series:
jobs binned by submission time into windows of `window_s`, each window's latency p50/p95, mean
price, jobs settled, failed or expired, the workers online and the jobs submitted per minute.
The scenario's own events mark the plots: a worker group of strategy `offline` leaving at
`offline_after_s` (the shock), a requester group whose arrivals start or stop inside the run (the
spike). An optional sweep (`sim.sweep.sweep` on a LocalCluster) runs a steady form of the
scenario (no leaving group, no spike) over the count of one worker group, giving latency and
price against supply with demand fixed.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd

from sim.api import run
from sim.results import SimResult
from sim.scenario import PLANCK_PER_XPL, Scenario, load_scenario, with_overrides
from sim.studies.supply_events import Events, scenario_events
from sim.studies.supply_plots import write_over_time, write_vs_ratio
from sim.summary import job_latencies_s
from sim.sweep import sweep

DEFAULT_SCENARIO: Final = Path(__file__).resolve().parents[1] / "scenarios" / "supply_latency.toml"
WINDOW_S: Final = 30.0
"""Width of the time series' windows, in simulated seconds (jobs binned by submission)."""
SWEEP_GROUP: Final = 1
"""The worker group whose count the sweep varies (the scenario's `mid` group: the leaving
group and the spike are left out of the sweep, the dearer group stays as the fallback)."""
SWEEP_COUNTS: Final = (2, 10, 20)
"""The sweep's default counts of that group (with the dearer ten: 12, 20 and 30 workers)."""
SWEEP_RATES: Final = (0.05, 0.2)
"""The sweep's default arrival rates per steady requester, jobs a second (six requesters: 0.3
and 1.2 jobs a second; a worker's slot is held about 41 s per job, to the end of the dispute
window, so the second binds)."""
SWEEP_DURATION_S: Final = 240.0
"""Simulated seconds of each sweep run."""
RUN_DIR: Final = "run"
SWEEP_DIR: Final = "sweep"
WINDOWS_TABLE: Final = "supply_windows.csv"
SWEEP_TABLE: Final = "supply_sweep.csv"
SUMMARY: Final = "supply.json"


def job_frame(result: SimResult) -> pd.DataFrame:
    """One row per submitted job: submission time (s), latency (s, NaN unless settled), matched
    price (XPL per gunit), and whether it settled, failed or expired."""
    jobs = result.jobs
    submitted = jobs[jobs["step"] == "submitted"].groupby("job")["t_ms"].min() / 1000.0
    frame = pd.DataFrame({"submitted_s": submitted.astype("float64")})
    frame["latency_s"] = job_latencies_s(jobs)
    matched = jobs[jobs["step"] == "matched"].drop_duplicates(subset=["job"], keep="last")
    frame["price_xpl"] = (
        pd.to_numeric(matched.set_index("job")["price"]).astype("float64") / PLANCK_PER_XPL
    )
    for step in ("settled", "failed", "expired"):
        frame[step] = frame.index.isin(jobs.loc[jobs["step"] == step, "job"])
    return frame


def _latency_stats(latency: pd.Series[Any]) -> tuple[float | None, float | None]:
    done = latency.dropna()
    if done.empty:
        return None, None
    return float(done.quantile(0.5)), float(done.quantile(0.95))


def _mean(values: pd.Series[Any]) -> float | None:
    done = values.dropna()
    return None if done.empty else float(done.mean())


def windows(result: SimResult, window_s: float = WINDOW_S) -> pd.DataFrame:
    """The time series: per window of submission time, jobs submitted, settled, failed and
    expired, latency p50/p95, mean price, workers and worker slots online, and the ratio of
    slots online to jobs submitted per minute (supply over demand)."""
    jobs = job_frame(result)
    workers = result.workers
    capacity = {g.name: g.capacity for g in result.scenario.workers}
    duration = float(result.scenario.duration_s)
    rows = []
    for i in range(math.ceil(duration / window_s)):
        start, stop = i * window_s, min((i + 1) * window_s, duration)
        here = jobs[(jobs["submitted_s"] >= start) & (jobs["submitted_s"] < stop)]
        sampled = workers[(workers["t_ms"] >= start * 1000) & (workers["t_ms"] < stop * 1000)]
        online = sampled[sampled["online"].astype(bool)]
        samples = max(1, sampled["t_ms"].nunique())
        slots = sum(capacity.get(str(g), 1) for g in online["group"]) / samples
        per_minute = len(here) * 60.0 / (stop - start)
        rows.append(
            {
                "start_s": start,
                "stop_s": stop,
                **_span_figures(here),
                "workers_online": len(online) / samples,
                "slots_online": slots,
                "jobs_per_min": per_minute,
                "supply_demand": slots / per_minute if per_minute else None,
                "lost_share": (int(here["failed"].sum()) + int(here["expired"].sum())) / len(here)
                if len(here)
                else None,
            }
        )
    return pd.DataFrame(rows)


def _span_figures(here: pd.DataFrame) -> dict[str, Any]:
    """The jobs submitted in a span of time: how many, their outcomes, latency p50/p95 and
    mean price."""
    p50, p95 = _latency_stats(here["latency_s"])
    return {
        "submitted": len(here),
        "settled": int(here["settled"].sum()),
        "failed": int(here["failed"].sum()),
        "expired": int(here["expired"].sum()),
        "latency_p50_s": p50,
        "latency_p95_s": p95,
        "mean_price_xpl": _mean(here["price_xpl"]),
    }


def phases(result: SimResult, events: Events) -> list[dict[str, Any]]:
    """The headline figures between consecutive event times: jobs submitted in the phase,
    their outcomes, latency p50/p95 and mean price."""
    jobs = job_frame(result)
    bounds = events.boundaries(float(result.scenario.duration_s))
    out = []
    for start, stop in itertools.pairwise(bounds):
        here = jobs[(jobs["submitted_s"] >= start) & (jobs["submitted_s"] < stop)]
        out.append({"from_s": start, "to_s": stop, **_span_figures(here)})
    return out


def steady_overrides(scenario: Scenario, duration_s: float) -> list[str]:
    """Overrides that make a steady form of the scenario for the sweep: `duration_s` long, no
    offline group, no requester group with an arrival window."""
    sets = [f"duration_s={duration_s!r}"]
    for i, group in enumerate(scenario.workers):
        if group.strategy.kind == "offline":
            sets.append(f"workers[{i}].count=0")
    for i, requesters in enumerate(scenario.requesters):
        if requesters.arrival.start_s > 0 or requesters.arrival.stop_s is not None:
            sets += [
                f"requesters[{i}].count=0",
                f"requesters[{i}].arrival.start_s=0.0",
                f"requesters[{i}].arrival.stop_s={duration_s!r}",
            ]
    return sets


def steady_group(scenario: Scenario) -> int:
    """The first requester group without an arrival window (the steady demand the sweep
    varies); ValueError if there is none."""
    for i, requesters in enumerate(scenario.requesters):
        if requesters.arrival.start_s == 0 and requesters.arrival.stop_s is None:
            return i
    raise ValueError(f"scenario {scenario.name}: no requester group arrives all run long")


def sweep_supply(
    scenario: Scenario,
    counts: Sequence[int],
    rates: Sequence[float],
    out: Path,
    *,
    group: int = SWEEP_GROUP,
    duration_s: float = SWEEP_DURATION_S,
    workers: int = 2,
    progress: bool = False,
) -> pd.DataFrame:
    """Run the steady form of `scenario` over `counts` of worker group `group` times `rates`
    (jobs a second per requester) of its steady requester group, on a LocalCluster of `workers`
    processes; one row per run with latency, price, jobs per minute, worker slots and their
    ratio."""
    steady = with_overrides(scenario, steady_overrides(scenario, duration_s))
    count_key = f"workers[{group}].count"
    rate_key = f"requesters[{steady_group(steady)}].arrival.rate_per_s"
    grid: dict[str, list[Any]] = {count_key: list(counts), rate_key: list(rates)}
    table = sweep(steady, grid, [steady.seed], out, workers=workers, progress=progress)
    rows = []
    for _, row in table.sort_values([rate_key, count_key]).iterrows():
        point = with_overrides(steady, [f"{count_key}={int(row[count_key])}"])
        slots = sum(g.count * g.capacity for g in point.workers)
        submitted = row.get("jobs.submitted")
        per_minute = float(submitted) * 60.0 / duration_s if submitted else 0.0
        price = row.get("jobs.mean_price")
        rows.append(
            {
                "count": int(row[count_key]),
                "rate_per_s": float(row[rate_key]),
                "status": row["status"],
                "workers": sum(g.count for g in point.workers),
                "slots": slots,
                "submitted": submitted,
                "settled": row.get("jobs.settled"),
                "failed": row.get("jobs.failed"),
                "expired": row.get("jobs.expired"),
                "lost_share": _lost_share(row),
                "latency_p50_s": row.get("jobs.latency_s.p50"),
                "latency_p95_s": row.get("jobs.latency_s.p95"),
                "mean_price_xpl": None
                if price is None or pd.isna(price)
                else float(price) / PLANCK_PER_XPL,
                "jobs_per_min": per_minute,
                "supply_demand": slots / per_minute if per_minute else None,
            }
        )
    return pd.DataFrame(rows)


def _lost_share(row: pd.Series[Any]) -> float | None:
    """Jobs that expired or failed over jobs submitted, of one sweep run."""
    submitted = row.get("jobs.submitted")
    if not submitted or pd.isna(submitted):
        return None
    lost = sum(float(row.get(f"jobs.{step}") or 0.0) for step in ("failed", "expired"))
    return lost / float(submitted)


@dataclass
class SupplyStudy:
    """What the study measured and wrote."""

    scenario: Scenario
    seed: int
    events: Events
    phases: list[dict[str, Any]]
    windows: pd.DataFrame
    sweep: pd.DataFrame | None
    files: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The figures, as written to supply.json."""
        return {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "duration_s": self.scenario.duration_s,
            "shocks": [{"at_s": t, "group": g, "workers": n} for t, g, n in self.events.shocks],
            "spikes": [
                {"from_s": a, "to_s": b, "group": g, "requesters": n}
                for a, b, g, n in self.events.spikes
            ],
            "phases": self.phases,
            "sweep": [] if self.sweep is None else _records(self.sweep),
            "files": [path.name for path in self.files],
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in json.loads(frame.to_json(orient="records"))
    ]


def run_supply_study(
    out: Path,
    *,
    scenario: Path = DEFAULT_SCENARIO,
    overrides: Sequence[str] = (),
    seed: int | None = None,
    window_s: float = WINDOW_S,
    sweep_counts: Sequence[int] = SWEEP_COUNTS,
    sweep_rates: Sequence[float] = SWEEP_RATES,
    sweep_duration_s: float = SWEEP_DURATION_S,
    workers: int = 2,
) -> SupplyStudy:
    """Run the scenario into OUT/run, the sweep (unless `sweep_counts` or `sweep_rates` is
    empty) into OUT/sweep, and write the plots, the windows and sweep tables and supply.json
    under OUT."""
    out.mkdir(parents=True, exist_ok=True)
    loaded = load_scenario(scenario, overrides)
    result = run(loaded, seed=seed, out=out / RUN_DIR)
    if result.violation is not None:
        raise RuntimeError(f"the run broke an invariant: {result.violation}")
    events = scenario_events(loaded)
    series = windows(result, window_s)
    swept = (
        sweep_supply(
            loaded,
            sweep_counts,
            sweep_rates,
            out / SWEEP_DIR,
            duration_s=sweep_duration_s,
            workers=workers,
        )
        if sweep_counts and sweep_rates
        else None
    )
    files = [
        write_over_time(out / "supply_over_time.png", series, job_frame(result), events),
        write_vs_ratio(out / "supply_vs_ratio.png", series, swept),
    ]
    series.to_csv(out / WINDOWS_TABLE, index=False)
    files.append(out / WINDOWS_TABLE)
    if swept is not None:
        swept.to_csv(out / SWEEP_TABLE, index=False)
        files.append(out / SWEEP_TABLE)
    study = SupplyStudy(
        scenario=loaded,
        seed=result.seed,
        events=events,
        phases=phases(result, events),
        windows=series,
        sweep=swept,
        files=files,
    )
    files.append(out / SUMMARY)
    (out / SUMMARY).write_text(json.dumps(study.as_dict(), indent=2) + "\n")
    return study


__all__ = [
    "DEFAULT_SCENARIO",
    "Events",
    "SupplyStudy",
    "job_frame",
    "phases",
    "run_supply_study",
    "scenario_events",
    "steady_group",
    "steady_overrides",
    "sweep_supply",
    "windows",
]
