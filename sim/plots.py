"""A run's plots as PNG files: finality lag, job latency, price and utilisation, strategy profit.

Figures are drawn on matplotlib's Agg canvas without pyplot: no window opens, no global figure
state is shared (sweeps draw in many processes and threads), and a notebook's own backend is
left as it is. A plot with nothing to show
says "no data" instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from runtime.primitives.amount import UNITS_PER_XPL
from sim.summary import job_latencies_s
from sim.tables import empty_frame

DPI: Final = 100
FIGSIZE: Final = (8.0, 4.5)
"""Inches; with DPI, an 800×450 PNG."""


def _seconds(frame: pd.DataFrame) -> pd.Series[Any]:
    return frame["t_ms"].astype("float64") / 1000.0


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no data ({what})", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_finality_lag(fig: Figure, frames: Mapping[str, pd.DataFrame]) -> None:
    """Each node's finality lag (best − finalized, in blocks) over simulated time."""
    finality = frames.get("finality", empty_frame("finality"))
    ax = fig.add_subplot()
    ax.set_title("Finality lag per node")
    if finality.empty:
        _no_data(ax, "finality")
        return
    for node in sorted(set(finality["node"].astype(str))):
        rows = finality[finality["node"] == node]
        ax.step(_seconds(rows), rows["lag_blocks"].astype("float64"), where="post", label=node)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("lag (blocks)")
    if finality["node"].nunique() <= 16:
        ax.legend(fontsize="small", ncols=2)


def draw_job_latency(fig: Figure, frames: Mapping[str, pd.DataFrame]) -> None:
    """A histogram and the CDF of job latency from submission to settlement."""
    latency = job_latencies_s(frames.get("jobs", empty_frame("jobs"))).sort_values()
    hist, cdf = fig.subplots(1, 2)
    fig.suptitle("Job latency, submitted → settled")
    if latency.empty:
        _no_data(hist, "no settled jobs")
        _no_data(cdf, "no settled jobs")
        return
    hist.hist(latency.to_numpy(), bins=min(50, max(5, len(latency) // 5)))
    hist.set_xlabel("seconds")
    hist.set_ylabel("jobs")
    cdf.step(
        latency.to_numpy(), [(i + 1) / len(latency) for i in range(len(latency))], where="post"
    )
    cdf.set_xlabel("seconds")
    cdf.set_ylabel("share of settled jobs")
    cdf.set_ylim(0.0, 1.0)


def draw_price_utilisation(fig: Figure, frames: Mapping[str, pd.DataFrame]) -> None:
    """The price of each matched job, and the share of online workers running a job, over time."""
    jobs = frames.get("jobs", empty_frame("jobs"))
    workers = frames.get("workers", empty_frame("workers"))
    price_ax, use_ax = fig.subplots(2, 1, sharex=True)
    matched = jobs[(jobs["step"] == "matched") & jobs["price"].notna()]
    if matched.empty:
        _no_data(price_ax, "no matched jobs")
    else:
        price_ax.plot(_seconds(matched), matched["price"].astype("float64"), ".", markersize=3)
        price_ax.set_ylabel("price (units/gunit)")
    online = workers[workers["online"].astype(bool)]
    if online.empty:
        _no_data(use_ax, "no online workers")
    else:
        busy = online["active"].astype(bool).astype("float64").groupby(online["t_ms"]).mean()
        use_ax.plot(busy.index.astype("float64") / 1000.0, busy.to_numpy(), drawstyle="steps-post")
        use_ax.set_ylabel("utilisation")
        use_ax.set_ylim(0.0, 1.0)
        use_ax.set_xlabel("simulated time (s)")
    price_ax.set_title("Price and utilisation")


def draw_strategy_profit(fig: Figure, frames: Mapping[str, pd.DataFrame]) -> None:
    """Each worker's profit (earnings − slashed − modelled cost) at its last sample, by strategy,
    with the strategy's mean as a bar."""
    workers = frames.get("workers", empty_frame("workers"))
    ax = fig.add_subplot()
    ax.set_title("Profit per worker by strategy")
    if workers.empty:
        _no_data(ax, "workers")
        return
    last = workers.drop_duplicates(subset=["worker"], keep="last")
    strategies = sorted(set(last["strategy"].astype(str)))
    for i, strategy in enumerate(strategies):
        rows = last[last["strategy"] == strategy]
        profits = [
            (int(e) - int(s) - (0 if c is None or pd.isna(c) else int(c))) / UNITS_PER_XPL
            for e, s, c in zip(rows["earnings"], rows["slashed"], rows["cost"], strict=True)
        ]
        ax.bar(i, sum(profits) / len(profits), color="lightsteelblue")
        ax.plot([i] * len(profits), profits, "k.", markersize=4)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(strategies)), strategies)
    ax.set_ylabel("profit (XPL)")


PLOTS: Final[dict[str, Callable[[Figure, Mapping[str, pd.DataFrame]], None]]] = {
    "finality_lag.png": draw_finality_lag,
    "job_latency.png": draw_job_latency,
    "price_utilisation.png": draw_price_utilisation,
    "strategy_profit.png": draw_strategy_profit,
}
"""Each plot's file name and the function that draws it."""


def write_plots(out: Path, frames: Mapping[str, pd.DataFrame]) -> list[Path]:
    """Draw every plot into `out` and return their paths, in `PLOTS` order."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in PLOTS.items():
        fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        draw(fig, frames)
        path = out / name
        fig.savefig(path, format="png")
        paths.append(path)
    return paths
