"""The network study's measures of one run, from its blocks and finality tables: finality
delay per block and node, lag per node each second, the lag while partitioned and the catch-up
after the heal (see `sim.studies.finality`)."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd

from sim.scenario import Scenario

SETTLE_S: Final = 10.0
"""Seconds after the heal left out of the steady figures (the catch-up)."""


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


__all__ = [
    "SETTLE_S",
    "finality_delays",
    "finality_figures",
    "inter_region_ms",
    "lag_series",
    "partition_window",
]
