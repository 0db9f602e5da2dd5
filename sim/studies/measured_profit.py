"""A cheating worker's profit measured in full simulator runs, beside the analytic model's.

Runs a scenario (`sim/scenarios/economic_security.toml` by default) through `sim.run` and reads,
per worker group, what its workers were paid (`earnings`, payments of settled jobs) and slashed
(`slashed`) from the last `workers` sample of each worker, and the payments of the jobs they
committed that ended, from the `jobs` table. Per unit of payment an honest group nets 1 and a
cheating group 1 − caught·(1 + m): the difference is the measured loss, which the model's
caught(f)·(1 + m) predicts for the run's own conditions (honest committees, P_conv = 1; a worker
that is no validator, so no forfeits; no challenger share of its own; audits of k leaves of n,
drawn without replacement). Faking saves ρ·s(f) of the payment in compute cost, which the sim
does not charge: the cheat's gain at cost ratio ρ is ρ·s(f) − loss.

The simulator's world and tables arrive with `sim.api` (the world) and `sim.tables` (the
outputs); this module reaches them only when called.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from runtime.pallets.compute import ComputeParams
from runtime.pallets.compute.guard import DEPENDENCY_FACTOR
from runtime.pallets.market import PPM, MarketParams
from runtime.workloads import GOP, workload_shape
from sim.studies.economics import drawn_probability_exact, saved_share

DEFAULT_SCENARIO: Final = (
    Path(__file__).resolve().parent.parent / "scenarios" / ("economic_security.toml")
)
"""The scenario the measured part runs unless given another."""


@dataclass(frozen=True, slots=True)
class StrategyProfit:
    """One worker group's measured net per unit of payment, and what the model says."""

    seed: int
    group: str
    strategy: str
    fraction: float
    workers: int
    jobs: int
    """Jobs the group committed that ended (paid or slashed) within the run."""
    paid: int
    slashed: int
    payments: int
    """What those jobs pay when they pass (planck)."""
    net_per_payment: float
    """(paid − slashed) / payments: 1 for a group never caught."""
    predicted_net: float
    """1 − caught·(1 + m) under the run's conditions."""
    saved: float
    """s(f): the share of a job's cost the group's faking saves."""

    @property
    def gain_at_full_cost(self) -> float:
        """The measured gain over honest work per unit of payment when the cost is the whole
        payment (C = R): s(f) − (1 − net)."""
        return self.saved - (1 - self.net_per_payment)

    def as_dict(self) -> dict[str, Any]:
        """The row's fields by name, and the gain at C = R."""
        return asdict(self) | {"gain_at_full_cost": self.gain_at_full_cost}


def predicted_net(
    fraction: float, leaves: int, market: MarketParams, compute: ComputeParams
) -> float:
    """1 − q·d·(1 + m): a worker faking `fraction` of a job's `leaves` nets this per unit of
    payment when every committee is honest, with d the exact chance that k drawn leaves name a
    faked one (`fraction` 0: an honest worker, 1)."""
    faked = round(fraction * leaves)
    drawn = drawn_probability_exact(faked, leaves, compute.audit_leaves)
    caught = compute.audit_ppm / PPM * drawn
    return 1.0 - caught * (1 + market.slash_ppm / PPM)


def _group_fraction(group: Any) -> float:
    kind = group.strategy.kind
    if kind == "cheat":
        return float(group.strategy.fraction)
    return 1.0 if kind == "lazy" else 0.0


def strategy_profits(result: Any, seed: int) -> list[StrategyProfit]:
    """Each worker group's measured and predicted net from one run's `SimResult`."""
    scenario = result.scenario
    market = scenario.chain.market_params()
    compute = scenario.chain.compute_params()
    workers = result.workers
    jobs = result.jobs
    last = workers.sort_values("t_ms").groupby("worker").tail(1)
    # Only jobs that ended (paid or slashed) by the last sample, whose earnings and slashes it
    # holds: a job still in its dispute window is neither yet.
    sampled_to = int(last["t_ms"].min()) if len(last) else 0
    finished = jobs[jobs["step"].isin(("settled", "failed", "slashed"))]
    ended = set(finished["job"]) - set(finished[finished["t_ms"] > sampled_to]["job"])
    committed = jobs[(jobs["step"] == "committed") & jobs["job"].isin(ended)]
    rows = []
    for group in scenario.workers:
        mine = last[last["group"] == group.name]
        names = set(mine["worker"])
        done = committed[committed["worker"].isin(names)]
        payments = sum(
            int(price) * int(units) // GOP
            for price, units in zip(done["price"], done["cost_units"], strict=True)
        )
        paid, slashed = int(mine["earnings"].sum()), int(mine["slashed"].sum())
        fraction = _group_fraction(group)
        leaves = _leaves_of(scenario)
        rows.append(
            StrategyProfit(
                seed=seed,
                group=group.name,
                strategy=group.strategy.kind,
                fraction=fraction,
                workers=len(names),
                jobs=len(done),
                paid=paid,
                slashed=slashed,
                payments=payments,
                net_per_payment=(paid - slashed) / payments if payments else 0.0,
                predicted_net=predicted_net(fraction, leaves, market, compute),
                saved=saved_share(fraction, _dependency(scenario)),
            )
        )
    return rows


def _dependency(scenario: Any) -> float:
    """D for the scenario's first job kind: faking an sgd_fxp step saves half the next one."""
    workload = scenario.requesters[0].jobs[0].workload
    return float(DEPENDENCY_FACTOR) if workload == "sgd_fxp" else 1.0


def _leaves_of(scenario: Any) -> int:
    """The leaves of the scenario's first job kind (the study's scenario has one)."""
    job = scenario.requesters[0].jobs[0]
    return int(workload_shape(job.workload, job.params).leaves)


def measure_strategy_profits(
    seeds: Sequence[int],
    *,
    scenario: Path = DEFAULT_SCENARIO,
    overrides: Sequence[str] = (),
    out: Path | None = None,
) -> list[StrategyProfit]:
    """Run `scenario` once per seed (under `out`/seed-N if given) and measure every group."""
    from sim import api  # the world, loaded only when runs are asked for

    rows: list[StrategyProfit] = []
    for seed in seeds:
        where = None if out is None else out / f"seed-{seed}"
        result = api.run(scenario, seed=seed, out=where, overrides=overrides)
        rows.extend(strategy_profits(result, seed))
    return rows


def summarize(rows: Sequence[StrategyProfit]) -> dict[str, Mapping[str, float]]:
    """Per group, pooled over seeds: jobs, measured and predicted net per unit of payment."""
    groups: dict[str, list[StrategyProfit]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    out: dict[str, Mapping[str, float]] = {}
    for name, mine in groups.items():
        payments = sum(r.payments for r in mine)
        net = sum(r.paid - r.slashed for r in mine) / payments if payments else 0.0
        out[name] = {
            "fraction": mine[0].fraction,
            "jobs": float(sum(r.jobs for r in mine)),
            "net_per_payment": net,
            "predicted_net": mine[0].predicted_net,
            "gain_at_full_cost": mine[0].saved - (1 - net),
            "predicted_gain_at_full_cost": mine[0].saved - (1 - mine[0].predicted_net),
        }
    return out


__all__ = [
    "DEFAULT_SCENARIO",
    "StrategyProfit",
    "measure_strategy_profits",
    "predicted_net",
    "strategy_profits",
    "summarize",
]
