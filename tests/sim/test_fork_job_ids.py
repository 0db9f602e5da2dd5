"""A partition whose two sides each create a different job 1, matched to the same honest worker:
once it heals, the worker's commitment for the losing side's job 1 (resubmitted from the blocks
the reorg retracted, or sent again by the worker) is refused on the adopted chain, whose job 1 is
other work, and the worker is never slashed for it."""

from __future__ import annotations

import pytest

from runtime.pallets import market
from runtime.pallets.system import EVENTS_KEY
from runtime.state import StateOverlay
from sim.agents import WorkerAgent
from sim.results import SimResult
from sim.scenario import load_scenario
from sim.world.context import ChainEvent, decode_events
from sim.world.run import Simulation

SCENARIO = """
name = "fork-job-ids"
duration_s = 45.0
seed = 1
slot_ms = 1000
store = "memory"  # the validators' blocks are read after the run

[validators]
count = 4
stake = 100000.0
regions = ["a", "a", "a", "b"]

[network]
regions = ["a", "b"]
latency_ms = [[10.0, 10.0], [10.0, 10.0]]
jitter_ms = 1.0

[chain.compute]
dispute_window = 20

[[workers]]
name = "honest"
region = "b"

[[requesters]]
name = "east"
region = "a"
arrival = { process = "fixed", rate_per_s = 1.0, start_s = 4.5, stop_s = 6.0 }
mode = "always"
dispute = false
jobs = [{ workload = "gemm_i8", params = [8, 16, 8, 2] }]

[[requesters]]
name = "west"
region = "b"
arrival = { process = "fixed", rate_per_s = 1.0, start_s = 4.5, stop_s = 6.0 }
mode = "always"
dispute = false
jobs = [{ workload = "gemm_i8", params = [16, 16, 8, 2] }]

[[faults.schedule]]
at_s = 3.0
kind = "partition"
groups = [[0, 1, 2], [3]]
until_s = 14.0
"""
"""Three validators in region a (they finalize), one in b with the only worker; one requester on
each side submits one always-audited job at 5.5 s, inside the partition: each side's job 1."""


@pytest.fixture(scope="module")
def healed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Simulation, SimResult]:
    path = tmp_path_factory.mktemp("fork") / "scenario.toml"
    path.write_text(SCENARIO)
    simulation = Simulation(load_scenario(path, ()), seed=1, out=None)
    return simulation, simulation.run()


def _final_chain_events(simulation: Simulation) -> list[tuple[int, ChainEvent]]:
    """(block number, event) of every block of v0's finalized chain."""
    assert simulation.world is not None
    core = simulation.world.net.core("v0")
    store = core.store
    found = []
    for number in range(1, core.finalized_header.number + 1):
        block_hash = store.hash_at(number)
        assert block_hash is not None
        found.extend((number, e) for e in decode_events(store.reader(block_hash)(EVENTS_KEY)))
    return found


def test_the_two_sides_gave_id_1_to_different_jobs(
    healed: tuple[Simulation, SimResult],
) -> None:
    _, result = healed
    assert result.violation is None
    assert result.blocks["number"].duplicated().any()  # both sides authored
    # The minority side's job 1 (west's) was retracted; its submission landed again as job 2.
    jobs = result.jobs
    submitted = jobs[jobs["step"] == "submitted"].set_index("job")["requester"]
    assert sorted(submitted.index) == [1, 2] and submitted[1] != submitted[2]


def test_the_stale_commitment_is_refused_as_another_jobs(
    healed: tuple[Simulation, SimResult],
) -> None:
    simulation, _ = healed
    events = _final_chain_events(simulation)
    refused = [
        n
        for n, e in events
        if (e.pallet, e.name, e.args[:2]) == ("system", "ExtrinsicFailed", ("compute", "WrongJob"))
    ]
    assert refused, "the commitment for the retracted job 1 never reached the adopted chain"
    committed = [e.args[:2] for _, e in events if e.name == "ResultCommitted"]
    assert [job_id for job_id, _ in committed] == [1, 2]


def test_the_honest_worker_is_paid_for_both_jobs_and_never_slashed(
    healed: tuple[Simulation, SimResult],
) -> None:
    simulation, _ = healed
    assert simulation.world is not None
    core = simulation.world.net.core("v0")
    state = StateOverlay(core.reader(core.finalized_header.hash))
    jobs = [market.Jobs.get(state, job_id) for job_id in (1, 2)]
    assert [None if j is None else j.state for j in jobs] == ["settled", "settled"]
    (worker,) = [a for a, _ in simulation.world.agents if isinstance(a, WorkerAgent)]
    registered = market.Workers.get(state, worker.account)
    assert registered is not None
    assert (worker.slashed, registered.stake) == (0, worker.stake)
    assert worker.earnings == sum(j.payment for j in jobs if j is not None)
