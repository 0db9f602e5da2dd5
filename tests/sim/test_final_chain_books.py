"""Under a partition that heals, the jobs table holds each step of a job once, from the chain
finally adopted, and the workers' books and the run's summary agree with that chain."""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path

import pytest

from runtime.block import Header
from runtime.pallets import market
from runtime.state import StateOverlay
from sim.agents import WorkerAgent
from sim.agents.job_steps import LIFECYCLE
from sim.results import SimResult
from sim.scenario import load_scenario
from sim.world.run import Simulation

QUICK = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "quick.toml"


@pytest.fixture(scope="module")
def partitioned() -> tuple[Simulation, SimResult]:
    """quick.toml cut short, its validators split in half by region from 12 s to 27 s (neither
    half finalizes, both author), with settlement windows short enough for jobs to settle."""
    overrides = [
        "duration_s=50",
        "store=memory",  # the first validator's state is read after the run
        "chain.compute.dispute_window=20",
        "faults.schedule[0].at_s=12",
        "faults.schedule[0].until_s=27",
    ]
    simulation = Simulation(load_scenario(QUICK, overrides), seed=3, out=None)
    return simulation, simulation.run()


def _final_jobs(simulation: Simulation) -> tuple[StateOverlay, dict[int, market.Job]]:
    """The first validator's finalized state, which the run's state root is read from, and the
    market's jobs in it."""
    assert simulation.world is not None
    core = simulation.world.net.core("v0")
    final = core.finalized_header.hash
    jobs = {
        int.from_bytes(market.Jobs.key_suffix(raw_key), "big"): market.Jobs.decode(raw)
        for raw_key, raw in core.store.iterate_state(final, market.Jobs.prefix)
    }
    return StateOverlay(core.reader(final)), jobs


def _worker_agents(simulation: Simulation) -> list[WorkerAgent]:
    assert simulation.world is not None
    return [a for a, _ in simulation.world.agents if isinstance(a, WorkerAgent)]


def test_a_partitioned_run_writes_each_job_step_once_from_the_final_chain(
    partitioned: tuple[Simulation, SimResult],
) -> None:
    simulation, result = partitioned
    blocks = result.blocks
    assert blocks["number"].duplicated().any()  # the halves authored competing blocks
    state, jobs = _final_jobs(simulation)
    rows = result.jobs
    assert set(rows["job"]) == set(jobs)
    # Once per job, or per worker where a job goes to another worker after a decline or a miss.
    for steps, key in (
        (("submitted", "settled", "failed", "expired"), ["job", "step"]),
        (("matched", "committed", "slashed"), ["job", "step", "worker"]),
    ):
        chosen = rows[rows["step"].isin(steps)]
        assert not chosen.duplicated(key).any(), chosen[chosen.duplicated(key, keep=False)]
    # In lifecycle order, at the blocks of the chain adopted.
    rank = {step: i for i, step in enumerate(LIFECYCLE)}
    for job_id, job in jobs.items():
        mine = rows[rows["job"] == job_id]
        order = [(int(b), rank[s]) for b, s in zip(mine["block"], mine["step"], strict=True)]
        assert order == sorted(order), mine
        assert mine.iloc[0]["step"] == "submitted" and mine.iloc[0]["block"] == job.submitted_at
        if job.matched_at:
            assert mine[mine["step"] == "matched"]["block"].max() == job.matched_at
        if job.committed_at:
            assert mine[mine["step"] == "committed"]["block"].max() == job.committed_at
        ended = {"settled": "settled", "failed": "failed"}.get(job.state)
        assert list(mine[mine["step"].isin(("settled", "failed"))]["step"]) == (
            [ended] if ended else []
        )
    # The workers' books: what the final chain paid and took, each once.
    for agent in _worker_agents(simulation):
        paid = sum(
            j.payment for j in jobs.values() if j.state == "settled" and j.worker == agent.account
        )
        registered = market.Workers.get(state, agent.account)
        assert registered is not None
        assert (agent.earnings, agent.slashed) == (paid, agent.stake - registered.stake), agent.name


def test_the_summary_agrees_with_the_final_chain(
    partitioned: tuple[Simulation, SimResult],
) -> None:
    simulation, result = partitioned
    state, jobs = _final_jobs(simulation)
    summary = result.summary
    counted = summary["jobs"]
    by_state = Counter(job.state for job in jobs.values())
    assert by_state["settled"] >= 1 and by_state["failed"] >= 1
    assert (counted["submitted"], counted["settled"], counted["failed"]) == (
        len(jobs),
        by_state["settled"],
        by_state["failed"],
    )
    agents = _worker_agents(simulation)
    lost = 0
    for agent in agents:
        registered = market.Workers.get(state, agent.account)
        assert registered is not None
        lost += agent.stake - registered.stake
    assert counted["slashes"]["total"] == lost
    strategies = summary["strategies"]
    paid = sum(job.payment for job in jobs.values() if job.state == "settled")
    assert sum(s["earnings"] for s in strategies.values()) == paid
    assert sum(s["slashed"] for s in strategies.values()) == lost
    assert sum(s["workers"] for s in strategies.values()) == len(agents)
    # Latency: submission to settlement, as the final chain's blocks place them (a block's time
    # is its slot's; the table's is when it was first seen, well within half a slot of it).
    assert simulation.world is not None
    core = simulation.world.net.core("v0")
    slots = {}
    header: Header | None = core.finalized_header
    while header is not None and header.number > 0:
        slots[header.number] = header.digest.slot
        header = core.store.header(header.parent_hash)
    slot_s = simulation.scenario.slot_ms / 1000
    rows = result.jobs
    settled_at = rows[rows["step"] == "settled"].set_index("job")["block"]
    spans = [
        (slots[int(settled_at[i])] - slots[job.submitted_at]) * slot_s
        for i, job in jobs.items()
        if job.state == "settled"
    ]
    assert abs(counted["latency_s"]["p50"] - statistics.median(spans)) <= slot_s / 2
