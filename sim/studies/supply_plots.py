"""The supply study's figures: latency and price over time with the shock and the spike marked,
and latency and price against the ratio of worker supply to demand.

Drawn on matplotlib's object interface (`Figure`, rendered by Agg), never pyplot's global state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from sim.studies.png import save_png
from sim.studies.supply_events import Events

DPI: Final = 90
"""Dots per inch of the study's PNGs (each stays well under 150 KB)."""


def _mark(ax: Axes, events: Events, *, label: bool) -> None:
    """The shocks as red lines, the spikes as orange bands."""
    for at, group, count in events.shocks:
        ax.axvline(
            at,
            color="tab:red",
            linestyle="--",
            linewidth=1.2,
            label=f"{count} '{group}' workers leave" if label else None,
        )
    for start, stop, group, count in events.spikes:
        ax.axvspan(
            start,
            stop,
            color="tab:orange",
            alpha=0.2,
            label=f"spike: {count} '{group}' requesters" if label else None,
        )


def write_over_time(path: Path, series: pd.DataFrame, jobs: pd.DataFrame, events: Events) -> Path:
    """Three panels over simulated time: each settled job's latency with the windows' p50/p95,
    each matched job's price with the windows' mean, and the worker slots online against the
    jobs submitted per minute."""
    fig = Figure(figsize=(9.0, 7.5), layout="constrained")
    lat_ax, price_ax, load_ax = fig.subplots(3, 1, sharex=True)
    mid = (series["start_s"] + series["stop_s"]) / 2
    settled = jobs.dropna(subset=["latency_s"])
    lat_ax.plot(
        settled["submitted_s"],
        settled["latency_s"],
        ".",
        color="0.7",
        markersize=3,
        label="a settled job",
    )
    lat_ax.plot(mid, series["latency_p50_s"], "-o", markersize=3, label="p50")
    lat_ax.plot(mid, series["latency_p95_s"], "-o", markersize=3, label="p95")
    lat_ax.set_ylabel("latency, submitted → settled (s)")
    lat_ax.set_title("Job latency and price through a supply shock and a demand spike")
    lost = jobs[jobs["failed"] | jobs["expired"]]
    if not lost.empty:
        lat_ax.plot(
            lost["submitted_s"],
            [0.0] * len(lost),
            "x",
            color="tab:red",
            label="a failed or expired job",
        )
    _mark(lat_ax, events, label=True)
    lat_ax.legend(fontsize="small", ncols=3)
    priced = jobs.dropna(subset=["price_xpl"])
    price_ax.plot(priced["submitted_s"], priced["price_xpl"], ".", color="0.7", markersize=3)
    price_ax.plot(
        mid,
        series["mean_price_xpl"],
        "-o",
        markersize=3,
        color="tab:green",
        label="mean matched price",
    )
    price_ax.set_ylabel("price (XPL per gunit)")
    price_ax.legend(fontsize="small")
    _mark(price_ax, events, label=False)
    load_ax.plot(mid, series["slots_online"], drawstyle="steps-mid", label="worker slots online")
    load_ax.plot(mid, series["jobs_per_min"], drawstyle="steps-mid", label="jobs submitted / min")
    load_ax.set_ylabel("supply and demand")
    load_ax.set_xlabel("simulated time (s), jobs by submission")
    load_ax.legend(fontsize="small")
    _mark(load_ax, events, label=False)
    save_png(fig, path, dpi=DPI)
    return path


def write_vs_ratio(path: Path, series: pd.DataFrame, swept: pd.DataFrame | None) -> Path:
    """Latency p50/p95 (of settled jobs), mean price and the share of jobs lost (expired or
    failed) against worker slots online per job submitted a minute: each window of the run, and
    each run of the sweep over supply and demand."""
    fig = Figure(figsize=(12.0, 4.2), layout="constrained")
    lat_ax, price_ax, lost_ax = fig.subplots(1, 3)
    shown = series.dropna(subset=["supply_demand"])
    lat_ax.plot(
        shown["supply_demand"],
        shown["latency_p50_s"],
        "o",
        color="tab:blue",
        markersize=4,
        label="run window p50",
    )
    lat_ax.plot(
        shown["supply_demand"],
        shown["latency_p95_s"],
        "^",
        color="tab:orange",
        markersize=4,
        label="run window p95",
    )
    price_ax.plot(
        shown["supply_demand"],
        shown["mean_price_xpl"],
        "o",
        color="tab:green",
        markersize=4,
        label="run window",
    )
    lost_ax.plot(
        shown["supply_demand"],
        shown["lost_share"],
        "o",
        color="tab:red",
        markersize=4,
        label="run window",
    )
    if swept is not None and not swept.empty:
        done = swept.dropna(subset=["supply_demand"])
        for rate, rows in done.groupby("rate_per_s", sort=True):
            rows = rows.sort_values("supply_demand")
            label = f"sweep, {rate:g} jobs/s per requester"
            line = lat_ax.plot(
                rows["supply_demand"], rows["latency_p50_s"], "s-", label=f"{label}: p50"
            )
            lat_ax.plot(
                rows["supply_demand"],
                rows["latency_p95_s"],
                "s--",
                color=line[0].get_color(),
                label=f"{label}: p95",
            )
            price_ax.plot(
                rows["supply_demand"],
                rows["mean_price_xpl"],
                "s-",
                color=line[0].get_color(),
                label=label,
            )
            lost_ax.plot(
                rows["supply_demand"],
                rows["lost_share"],
                "s-",
                color=line[0].get_color(),
                label=label,
            )
    for ax in (lat_ax, price_ax, lost_ax):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("worker slots online per job submitted a minute")
        ax.legend(fontsize="small")
    lat_ax.set_ylabel("latency, submitted → settled (s)")
    price_ax.set_ylabel("mean matched price (XPL per gunit)")
    lost_ax.set_ylabel("share of jobs expired or failed")
    fig.suptitle("Latency and price against supply over demand")
    save_png(fig, path, dpi=DPI)
    return path


__all__ = ["write_over_time", "write_vs_ratio"]
