"""A run's headline figures (`summary.json`), computed from its tables.

Amounts are in units (1 XPL = 10^12 units), exact integers where they are sums and floats where
they are means. Times are in seconds of simulated time. A figure with nothing to measure (a
latency with no settled job) is null. Percentiles interpolate linearly between rows (pandas'
`quantile`); finality lags are taken over the `finality` table's rows, one per change of a node's
best or finalized height.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from sim.tables import TABLES, empty_frame

if TYPE_CHECKING:
    from sim.scenario import Scenario

SUMMARY_FILE: Final = "summary.json"

COUNTED_STEPS: Final = ("submitted", "settled", "failed", "expired")
"""The job steps whose jobs the summary counts."""


def _table(frames: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame:
    frame = frames.get(name)
    return empty_frame(name) if frame is None else frame


def _number(value: Any) -> float | None:
    """A float for JSON, or None where pandas has no value (NaN, NA)."""
    if value is None or pd.isna(value):
        return None
    return float(value)


def spread(values: pd.Series[Any]) -> dict[str, float | None]:
    """p50, p95 and max of `values` (nulls left out); None for each when there are none."""
    numbers = pd.to_numeric(values, errors="coerce").astype("float64").dropna()
    if numbers.empty:
        return {"p50": None, "p95": None, "max": None}
    return {
        "p50": _number(numbers.quantile(0.5)),
        "p95": _number(numbers.quantile(0.95)),
        "max": _number(numbers.max()),
    }


def _amount_sum(values: pd.Series[Any]) -> int:
    """The exact sum of an amount column (Python ints; nulls count as 0)."""
    return sum(int(v) for v in values if v is not None and not pd.isna(v))


def _last_rows(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """Each `key`'s last row in the order recorded."""
    return frame.drop_duplicates(subset=[key], keep="last")


def block_figures(blocks: pd.DataFrame) -> dict[str, Any]:
    """Blocks authored in all and by author, and the highest block number."""
    authored = Counter(blocks["author"].astype(str))  # one pass: a year holds 3 × 10^7 blocks
    return {
        "authored": len(blocks),
        "height": int(blocks["number"].max()) if len(blocks) else 0,
        "by_author": {a: authored[a] for a in sorted(authored)},
    }


def finality_figures(finality: pd.DataFrame) -> dict[str, Any]:
    """The finalized height reached, and the finality lag in blocks overall and per node."""
    per_node: dict[str, Any] = {}
    for node in sorted(set(finality["node"].astype(str))):
        rows = finality[finality["node"] == node]
        per_node[node] = {
            "finalized": int(rows["finalized"].max()),
            "best": int(rows["best"].max()),
            "lag_blocks": spread(rows["lag_blocks"]),
        }
    return {
        "finalized_height": max((n["finalized"] for n in per_node.values()), default=0),
        "lag_blocks": spread(finality["lag_blocks"]),
        "per_node": per_node,
    }


def _first_step_ms(jobs: pd.DataFrame, step: str) -> pd.Series[Any]:
    """Each job's first time at `step`, indexed by job."""
    rows = jobs[jobs["step"] == step]
    return rows.groupby("job")["t_ms"].min()


def job_latencies_s(jobs: pd.DataFrame) -> pd.Series[Any]:
    """Seconds from submission to settlement, one per job that was both submitted and settled."""
    submitted = _first_step_ms(jobs, "submitted")
    settled = _first_step_ms(jobs, "settled")
    both = pd.concat([submitted.rename("submitted"), settled.rename("settled")], axis=1).dropna()
    return (both["settled"] - both["submitted"]).astype("float64") / 1000.0


def _once_per_job(jobs: pd.DataFrame, step: str) -> pd.DataFrame:
    """Each job's last row at `step` per worker: a job matched again after a decline or a miss
    has a match (and possibly a slash) per worker, each counted; a table written before the
    steps were written once counts a step seen again in a competing fork's block once."""
    return jobs[jobs["step"] == step].drop_duplicates(subset=["job", "worker"], keep="last")


def job_figures(jobs: pd.DataFrame, workers: pd.DataFrame) -> dict[str, Any]:
    """Jobs by outcome, latency submit→settled, mean matched price, utilisation and slashes."""
    counts = {step: int(jobs.loc[jobs["step"] == step, "job"].nunique()) for step in COUNTED_STEPS}
    latency = spread(job_latencies_s(jobs))
    latency.pop("max")
    prices = pd.to_numeric(_once_per_job(jobs, "matched")["price"]).dropna()
    online = workers[workers["online"].astype(bool)]
    slashes = _once_per_job(jobs, "slashed")
    return {
        **counts,
        "latency_s": latency,
        "mean_price": _number(prices.astype("float64").mean()) if len(prices) else None,
        "utilisation": (
            _number(online["active"].astype(bool).astype("float64").mean()) if len(online) else None
        ),
        "slashes": {"count": len(slashes), "total": _amount_sum(slashes["amount"])},
    }


def strategy_figures(workers: pd.DataFrame) -> dict[str, Any]:
    """Each strategy's workers and their profit (earnings − slashed − modelled cost), from each
    worker's last sample."""
    last = _last_rows(workers, "worker")
    figures: dict[str, Any] = {}
    for strategy in sorted(set(last["strategy"].astype(str))):
        rows = last[last["strategy"] == strategy]
        earnings = _amount_sum(rows["earnings"])
        slashed = _amount_sum(rows["slashed"])
        cost = _amount_sum(rows["cost"])
        profit = earnings - slashed - cost
        figures[strategy] = {
            "workers": len(rows),
            "earnings": earnings,
            "slashed": slashed,
            "cost": cost,
            "profit": profit,
            "profit_per_worker": profit / len(rows),
        }
    return figures


def economics_figures(economics: pd.DataFrame) -> dict[str, Any]:
    """Issuance at the start and end and its change, the treasury at the end, and the flows."""
    if economics.empty:
        start = end = treasury = 0
    else:
        start = int(economics["issuance"].iloc[0])
        end = int(economics["issuance"].iloc[-1])
        treasury = int(economics["treasury"].iloc[-1])
    return {
        "issuance_start": start,
        "issuance_end": end,
        "issuance_change": end - start,
        "treasury": treasury,
        **{flow: _amount_sum(economics[flow]) for flow in ("fees", "rewards", "minted", "burned")},
    }


def message_figures(messages: pd.DataFrame) -> dict[str, Any]:
    """Messages, bytes and losses in all and per topic."""
    columns = ("messages", "bytes", "lost")
    per_topic = {
        # Python ints: pandas' Int64 sum wraps around silently past 2^63
        topic: {c: _amount_sum(messages.loc[messages["topic"] == topic, c]) for c in columns}
        for topic in sorted(set(messages["topic"].astype(str)))
    }
    return {
        **{c: sum(t[c] for t in per_topic.values()) for c in columns},
        "per_topic": per_topic,
    }


def simulated_s(frames: Mapping[str, pd.DataFrame]) -> float:
    """The latest simulated time any table reached, in seconds."""
    latest = [int(frame["t_ms"].max()) for frame in frames.values() if len(frame)]
    return max(latest, default=0) / 1000.0


def summarize(
    frames: Mapping[str, pd.DataFrame],
    *,
    scenario: Scenario,
    seed: int,
    digest: str,
    state_root: str,
    wall_s: float,
) -> dict[str, Any]:
    """A run's headline figures from its tables (a table left out counts as empty)."""
    tables = {name: _table(frames, name) for name in TABLES}
    simulated = simulated_s(tables)
    return {
        "scenario": str(scenario.name),
        "seed": seed,
        "digest": digest,
        "state_root": state_root,
        "wall_s": wall_s,
        "simulated_s": simulated,
        "speedup": simulated / wall_s if wall_s > 0 else None,
        "blocks": block_figures(tables["blocks"]),
        "finality": finality_figures(tables["finality"]),
        "jobs": job_figures(tables["jobs"], tables["workers"]),
        "strategies": strategy_figures(tables["workers"]),
        "economics": economics_figures(tables["economics"]),
        "messages": message_figures(tables["messages"]),
    }


def write_summary(out: Path, summary: Mapping[str, Any]) -> None:
    """`out/summary.json`: keys sorted, numbers as JSON numbers (NaN refused)."""
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(summary, indent=2, sort_keys=True, allow_nan=False)
    (out / SUMMARY_FILE).write_text(text + "\n")


def read_summary(out: Path) -> dict[str, Any]:
    """`out/summary.json` as written by `write_summary`."""
    loaded: dict[str, Any] = json.loads((out / SUMMARY_FILE).read_text())
    return loaded
