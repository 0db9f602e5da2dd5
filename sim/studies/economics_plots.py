"""The economic-security study's figures: the profit heatmap over (q, m) and measured detection.

Figures are drawn on matplotlib's object interface (`Figure`, rendered by Agg), never pyplot's
global state, so that studies in one process do not share figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from sim.studies.detection import DetectionRow
from sim.studies.economics import (
    Terms,
    break_even_slash,
    caught_probability,
    drawn_probability,
    guard_slash_bound,
    least_loss_ratio,
    saved_share,
)
from sim.studies.png import save_png

PANELS: Final = tuple((f, ratio) for ratio in (0.5, 1.0) for f in (0.05, 0.25, 2 / 3, 1.0))
"""The heatmap's panels: (share of leaves faked f, cost over payment C/R); f = 2/3 = 1/D is
where the guard's least lies (the whole job saved, the fewest leaves to draw), f = 1 is a lazy
worker."""
Q_POINTS: Final = 200
"""Audit probabilities on the heatmap's horizontal axis, from 1/Q_POINTS to 1."""
M_MAX: Final = 6.0
"""The heatmap's largest slash multiple."""
M_POINTS: Final = 200
"""Slash multiples on its vertical axis, from 0 to M_MAX."""
GAIN_RANGE: Final = (-3.0, 1.0)
"""The colour scale's ends (gain per unit of payment); diverging at 0, where a cheat breaks even."""


def write_heatmap(path: Path, t: Terms, panels: Sequence[tuple[float, float]] = PANELS) -> Path:
    """A cheater's expected gain over honest work per unit of payment, over audit probability q
    and slash multiple m, one panel per (f, C/R), with the panel's break-even line (solid), the
    guard's bound over every f at C = R with its margin (dashed), q·(1 + m) = 1 (dotted), and the
    parameters `t` marked."""
    qs = np.linspace(1 / Q_POINTS, 1.0, Q_POINTS)
    ms = np.linspace(0.0, M_MAX, M_POINTS)
    guard = np.array([guard_slash_bound(t.at(float(q), t.m)) for q in qs])
    naive = 1 / qs - 1
    columns = 4
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(4.2 * columns, 3.6 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    norm = TwoSlopeNorm(vmin=GAIN_RANGE[0], vcenter=0.0, vmax=GAIN_RANGE[1])
    image = None
    for ax, (f, ratio) in zip(axes.flat, panels, strict=False):
        caught = np.array([caught_probability(f, t.at(float(q), t.m)) for q in qs])
        gain = ratio * saved_share(f, t.dependency) - np.outer(
            1 + ms * (1 - t.challenger_share), caught
        )
        image = ax.pcolormesh(qs, ms, gain, cmap="RdBu_r", norm=norm, shading="auto")
        even = np.array([break_even_slash(float(q), f, ratio, t) for q in qs])
        ax.plot(qs, even, color="black", linewidth=1.6, label="break-even (this panel)")
        ax.plot(qs, guard, color="black", linestyle="--", linewidth=1.2, label="guard bound")
        ax.plot(qs, naive, color="grey", linestyle=":", linewidth=1.2, label="q·(1+m) = 1")
        ax.plot([t.q], [t.m], marker="*", markersize=11, color="gold", markeredgecolor="black")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, M_MAX)
        ax.set_title(f"f = {f:.3g}, C/R = {ratio:g}", fontsize=10)
        ax.set_xlabel("audit probability q")
        ax.set_ylabel("slash multiple m")
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    axes.flat[0].legend(loc="upper right", fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes, label="cheater's expected gain over honest work / payment")
    least, _ = least_loss_ratio(t)
    fig.suptitle(
        f"Cheating pays in red: k = {t.k}, P_conv = {t.p_conv:.3f}, forfeits {t.forfeit:g}, "
        f"challenger share {t.challenger_share:g}, D = {t.dependency:g}. ★ q = {t.q:g}, "
        f"m = {t.m:g}: least expected loss per unit saved {least:.3f} (the guard needs "
        f"{1 + t.margin:g})",
        fontsize=10,
    )
    save_png(fig, path, dpi=110)
    return path


def write_detection_plot(path: Path, rows: Sequence[DetectionRow]) -> Path:
    """Measured detection among audited jobs (with Wilson bounds) against 1 − (1 − f)^k, one
    curve per k."""
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    fractions = np.geomspace(0.005, 1.0, 200)
    for k in sorted({row.audit_leaves for row in rows}):
        mine = [row for row in rows if row.audit_leaves == k]
        (line,) = ax.plot(
            fractions,
            [drawn_probability(float(f), k) for f in fractions],
            linewidth=1.2,
            label=f"1 − (1 − f)^{k}",
        )
        ax.errorbar(
            [row.fraction for row in mine],
            [row.rate for row in mine],
            yerr=[
                [row.rate - row.low for row in mine],
                [row.high - row.rate for row in mine],
            ],
            fmt="o",
            markersize=4,
            capsize=3,
            color=line.get_color(),
        )
    ax.set_xscale("log")
    ax.set_xlabel("share of leaves faked f")
    ax.set_ylabel("detected among audited jobs")
    audited = rows[0].audited if rows else 0
    ax.set_title(f"The runtime's audit draw, {audited} audited jobs (99.9% Wilson bounds)")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    return path


__all__ = ["PANELS", "write_detection_plot", "write_heatmap"]
