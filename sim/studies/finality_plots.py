"""The network study's figures: finality delay and lag against validator count per latency
level, and the lag over time through the partition and its heal.

Drawn on matplotlib's object interface (`Figure`, rendered by Agg), never pyplot's global state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pandas as pd
from matplotlib.figure import Figure

from sim.results import SimResult
from sim.scenario import Scenario
from sim.studies.finality_measures import lag_series, partition_window
from sim.studies.png import save_png

DPI: Final = 90
"""Dots per inch of the study's PNGs (each stays well under 150 KB)."""
SHOWN_VALIDATORS: Final = 16
"""The over-time plot shows the largest count up to this one (all its latency levels)."""


def write_lag_vs_validators(path: Path, runs: pd.DataFrame) -> Path:
    """Finality delay (s, p50 and p95, outside the partition) and the catch-up after the heal,
    against validator count, one line per latency level."""
    fig = Figure(figsize=(9.0, 4.0), layout="constrained")
    delay_ax, lag_ax = fig.subplots(1, 2)
    done = runs[runs["status"] == "ok"]
    for scale, rows in done.groupby("scale", sort=True):
        rows = rows.sort_values("validators")
        label = f"×{scale:g} ({rows['inter_region_ms'].iloc[0]:.0f} ms between regions)"
        line = delay_ax.plot(rows["validators"], rows["delay_p50_s"], "o-", label=f"p50 {label}")
        colour = line[0].get_color()
        delay_ax.plot(
            rows["validators"], rows["delay_p95_s"], "^--", color=colour, label=f"p95 {label}"
        )
        lag_ax.plot(rows["validators"], rows["catch_up_s"], "s-", color=colour, label=label)
    for ax in (delay_ax, lag_ax):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("validators")
        counts = sorted(set(done["validators"]))
        if counts:
            ax.set_xticks(counts, [str(c) for c in counts])
    delay_ax.set_ylabel("block → finalized on a node (s)")
    delay_ax.set_title("Finality delay (outside the partition)")
    delay_ax.legend(fontsize="x-small")
    lag_ax.set_ylabel("heal → every node final again (s)")
    lag_ax.set_title("Catch-up after the partition heals")
    lag_ax.set_ylim(bottom=0.0)
    lag_ax.legend(fontsize="x-small")
    fig.suptitle("Finality against validator count and inter-region latency")
    save_png(fig, path, dpi=DPI)
    return path


def write_lag_over_time(path: Path, runs: pd.DataFrame, sweep_dir: Path, base: Scenario) -> Path:
    """The median and largest lag across nodes every second, for the largest validator count up
    to SHOWN_VALIDATORS at each latency level, with the partition shaded."""
    fig = Figure(figsize=(9.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    done = runs[runs["status"] == "ok"]
    small = done[done["validators"] <= SHOWN_VALIDATORS]
    shown = small if not small.empty else done
    count = int(shown["validators"].max()) if not shown.empty else 0
    for _, row in shown[shown["validators"] == count].sort_values("scale").iterrows():
        result = SimResult.load(sweep_dir / "runs" / str(row["run"]))
        lags = lag_series(result.finality, float(result.scenario.duration_s))
        per_second = lags.groupby("second")["lag"]
        line = ax.plot(
            per_second.median().index,
            per_second.median().to_numpy(),
            drawstyle="steps-post",
            label=f"median node, latency ×{row['scale']:g}",
        )
        ax.plot(
            per_second.max().index,
            per_second.max().to_numpy(),
            "--",
            drawstyle="steps-post",
            color=line[0].get_color(),
            label=f"slowest node, latency ×{row['scale']:g}",
        )
    window = partition_window(base)
    if window is not None:
        ax.axvspan(window[0], window[1], color="tab:red", alpha=0.15, label="partitioned")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("best − finalized (blocks)")
    ax.set_title(f"Finality lag through a partition that heals ({count} validators)")
    ax.legend(fontsize="small")
    save_png(fig, path, dpi=DPI)
    return path


__all__ = ["write_lag_over_time", "write_lag_vs_validators"]
