"""Scenario runs: determinism of the digest and state root, faults from the scenario, Ctrl-C
leaving complete tables, and `xpl sim run` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import sim
from chain.cli.main import main
from runtime.pallets.staking.storage import Ledgers
from runtime.state import StateOverlay
from sim.agents import WorkerAgent
from sim.results import SimResult
from sim.scenario import Scenario, load_scenario, scenario_from_dict
from sim.tables import TABLES, Recorder
from sim.world.build import PEERS_PER_NODE, build_world, connect, plan_validators, stream
from sim.world.fault_plan import plan_faults
from sim.world.population import requester_keypair, worker_keypair
from sim.world.run import Progress, Simulation

TINY = """\
name = "tiny"
duration_s = 12

[validators]
count = 4

[network]
regions = ["eu", "us"]
latency_ms = [[10, 60], [60, 10]]
jitter_ms = 5

[outputs]
sample_every_s = 4
plots = false
"""


def tiny(**changes: Any) -> Scenario:
    data: dict[str, Any] = {
        "name": "tiny",
        "duration_s": 12,
        "validators": {"count": 4},
        "network": {"regions": ["eu", "us"], "latency_ms": [[10, 60], [60, 10]], "jitter_ms": 5},
        "outputs": {"sample_every_s": 4, "plots": False},
    }
    data.update(changes)
    return scenario_from_dict(data)


@pytest.fixture(scope="module")
def first_run() -> SimResult:
    return sim.run(tiny(), seed=7)


def test_a_scenario_and_seed_give_one_digest_and_state_root(first_run: Any) -> None:
    again = sim.run(tiny(), seed=7)
    assert first_run.violation is None
    assert (again.digest, again.state_root) == (first_run.digest, first_run.state_root)
    assert len(first_run.blocks) >= 8
    other = sim.run(tiny(), seed=8)
    assert other.digest != first_run.digest


def test_the_run_records_blocks_finality_messages_and_economics(first_run: Any) -> None:
    blocks, finality = first_run.blocks, first_run.finality
    assert list(blocks["number"]) == sorted(blocks["number"])
    assert set(finality["node"]) == {"v0", "v1", "v2", "v3"}
    assert (finality["lag_blocks"] >= 0).all()
    assert finality.groupby("node")["finalized"].max().min() >= 5
    assert {"block", "finality"} <= set(first_run.messages["topic"])
    economics = first_run.economics
    assert len(economics) == 3  # every 4 s of 12
    issuance = [int(x) for x in economics["issuance"]]
    minted = [int(x) for x in economics["minted"]]
    burned = [int(x) for x in economics["burned"]]
    assert issuance[-1] - issuance[0] == sum(minted[1:]) - sum(burned[1:])
    assert first_run.state_root == first_run.summary["state_root"]


def test_validators_stakes_and_regions_come_from_the_scenario() -> None:
    scenario = tiny(
        validators={"count": 4, "stake": {"kind": "uniform", "low": 1_000, "high": 5_000}}
    )
    plans = plan_validators(scenario, 3)
    assert [p.region for p in plans] == ["eu", "us", "eu", "us"]
    assert all(1_000 * 10**12 <= p.bond <= 5_000 * 10**12 for p in plans)
    assert len({p.bond for p in plans}) == 4
    assert plan_validators(scenario, 3) == plans
    assert len({p.key.public for p in plans}) == 4


def test_scheduled_faults_are_played_and_undone() -> None:
    scenario = tiny(
        duration_s=30,
        faults={
            "schedule": [
                {"at_s": 3, "kind": "crash", "nodes": [1], "until_s": 9},
                {"at_s": 10, "kind": "partition", "groups": [[0, 1], ["us"]], "until_s": 15},
                {"at_s": 16, "kind": "skew", "nodes": [2], "skew_ms": 300, "until_s": 20},
                {"at_s": 16, "kind": "loss", "loss": 0.3, "until_s": 20},
                {"at_s": 21, "kind": "equivocate", "nodes": [3]},
            ]
        },
    )
    plan = plan_faults(
        scenario.faults,
        ["v0", "v1", "v2", "v3"],
        ["eu", "us", "eu", "us"],
        stream(0, "f"),
        30_000,
        (0.0, 0.0, 0.0),
    )
    kinds = [(f.at_ms, f.kind) for f in plan]
    assert kinds == sorted(kinds, key=lambda k: k[0])
    assert (9_000, "restart") in kinds and (15_000, "heal") in kinds
    partition = next(f for f in plan if f.kind == "partition")
    assert partition.groups == (("v0", "v1"), ("v1", "v3"))
    result = sim.run(scenario, seed=1)
    assert result.violation is None
    finality = result.finality
    v1 = finality[finality["node"] == "v1"]
    # v1 was down from 3 s to 9 s: no row of it then, and it finalized after its restart.
    assert not ((v1["t_ms"] > 3_100) & (v1["t_ms"] < 9_000)).any()
    assert int(v1["finalized"].max()) > 9
    assert int(finality.groupby("node")["finalized"].max().min()) >= 20


def test_random_faults_are_drawn_from_the_seed() -> None:
    scenario = tiny(
        duration_s=3600,
        faults={"random": {"crash_per_hour": 20, "partition_per_hour": 10, "mean_down_s": 30}},
    )
    names = ["v0", "v1", "v2", "v3"]

    def plan(seed: int) -> list[Any]:
        return plan_faults(
            scenario.faults, names, [None] * 4, stream(seed, "faults"), 3_600_000, (0.0, 0.0, 0.0)
        )

    assert plan(1) == plan(1) != plan(2)
    crashes = [f for f in plan(1) if f.kind == "crash"]
    assert 5 <= len(crashes) <= 40
    assert all(f.at_ms < 3_600_000 for f in crashes)


def test_ctrl_c_leaves_complete_tables(tmp_path: Path) -> None:
    scenario = tiny(outputs={"sample_every_s": 2, "plots": False, "flush_rows": 5})

    def interrupt(p: Progress) -> None:
        if p.t_ms >= 6_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Simulation(scenario, seed=2, out=tmp_path, on_progress=interrupt).run()
    for name in TABLES:
        table = pq.read_table(tmp_path / f"{name}.parquet")
        assert table.schema.equals(TABLES[name])
    blocks = pq.read_table(tmp_path / "blocks.parquet").to_pandas()
    assert 4 <= len(blocks) <= 7
    assert int(blocks["t_ms"].max()) <= 6_000
    assert (tmp_path / "scenario.toml").is_file()


def test_xpl_sim_run_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "tiny.toml"
    file.write_text(TINY)
    out = tmp_path / "out"
    code = main(
        [
            "sim",
            "run",
            str(file),
            "--seed",
            "5",
            "--out",
            str(out),
            "--set",
            "validators.count=3",
            "--check-determinism",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert printed.index("count = 3") < printed.index("# seed = 5") < printed.index("digest:")
    assert "deterministic: yes" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert f"digest:     {summary['digest']}" in printed
    assert f"state root: 0x{summary['state_root']}" in printed
    assert load_scenario(out / "scenario.toml").validators.count == 3
    loaded = SimResult.load(out)
    assert loaded.digest == summary["digest"] and len(loaded.blocks) >= 8


def test_a_bad_scenario_is_refused_with_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "tiny.toml"
    file.write_text(TINY)
    assert main(["sim", "run", str(file), "--set", "validators.count=0"]) == 2
    assert "validators.count" in capsys.readouterr().err


def test_until_ms_stops_the_run_there() -> None:
    result = sim.run(tiny(), seed=7, until_ms=5_000)
    assert result.summary["stopped_at_ms"] == 5_000
    assert int(result.blocks["t_ms"].max()) <= 5_000


class Links:
    """Records the links `connect` makes."""

    def __init__(self) -> None:
        self.links: set[frozenset[str]] = set()
        self.all = False

    def connect(self, a: str, b: str) -> None:
        self.links.add(frozenset((a, b)))

    def connect_all(self) -> None:
        self.all = True


def test_many_validators_gossip_over_a_connected_mesh_of_bounded_degree() -> None:
    names = [f"v{i}" for i in range(40)]
    net = Links()
    connect(net, names, stream(1, "topology"))  # type: ignore[arg-type]
    assert not net.all
    assert len(net.links) == 40 * PEERS_PER_NODE // 2
    reached, frontier = {"v0"}, ["v0"]
    while frontier:
        node = frontier.pop()
        for link in net.links:
            if node in link:
                (other,) = link - {node}
                if other not in reached:
                    reached.add(other)
                    frontier.append(other)
    assert reached == set(names)
    few = Links()
    connect(few, names[:9], stream(1, "topology"))  # type: ignore[arg-type]
    assert few.all


def test_agents_live_on_validators_of_their_region_and_are_funded() -> None:
    scenario = tiny(
        workers=[
            {"name": "east", "count": 3, "region": "us", "stake_xpl": 500, "endowment_xpl": 2000},
            {
                "name": "cheap",
                "count": 1,
                "pricing": {"policy": "cost_plus", "cost_xpl_per_gunit": 100, "markup": 0.5},
            },
        ],
        requesters=[{"name": "r", "count": 2, "region": "eu"}],
    )
    world = build_world(scenario, 3, Recorder(None))
    homes = {ctx.name: ctx.home for _, ctx in world.agents}
    assert [homes[f"committee-v{i}"] for i in range(4)] == ["v0", "v1", "v2", "v3"]
    assert [homes[f"east-{i}"] for i in range(3)] == ["v1", "v3", "v1"]
    assert {homes["r-0"], homes["r-1"]} == {"v0", "v2"}
    balances = dict(world.spec.genesis.balances)
    assert balances[worker_keypair("east", 0).public] == 2_000 * 10**12
    assert requester_keypair("r", 1).public in balances
    cheap = next(a for a, _ in world.agents if a.name == "cheap-0")
    assert isinstance(cheap, WorkerAgent)
    assert cheap.pricing.initial_ask() == 150 * 10**12


def test_committee_behaviours_griefing_and_arrival_windows_come_from_the_scenario() -> None:
    """validators.lazy/silent/unavailable reach the committee members, requesters[].grief and
    arrival.start_s/stop_s reach the requesters: a lazy member is penalized, a griefer's disputes
    of honest work are recorded, and no job arrives outside its window."""
    scenario = tiny(
        duration_s=40,
        store="memory",  # the validators' states are read after the run
        validators={"count": 4, "lazy": 1},
        workers=[{"name": "honest", "count": 2}],
        requesters=[
            {
                "name": "griefer",
                "grief": True,
                "mode": "always",
                "arrival": {"process": "fixed", "rate_per_s": 0.5, "start_s": 5, "stop_s": 15},
            }
        ],
    )
    simulation = Simulation(scenario, seed=3, out=None)
    result = simulation.run()
    assert result.violation is None
    members = {
        agent.name: agent.behaviour
        for agent, _ in simulation.world.agents
        if agent.name.startswith("committee-")
    }
    assert sorted(members.values()) == ["honest", "honest", "honest", "lazy"]
    jobs = result.jobs
    submitted = jobs[jobs["step"] == "submitted"]["t_ms"]
    assert len(submitted) >= 3
    assert submitted.min() >= 5_000 and submitted.max() <= 15_000 + 2_000  # one block's lag
    assert (jobs[jobs["step"] == "disputed"]["verdict"] == "grief").any()
    fails = jobs[(jobs["step"] == "slashed") & (jobs["verdict"] == "fail")]
    assert fails.empty, "an honest worker was slashed for a griefer's dispute"
    state = StateOverlay(simulation.world.net.core("v0").reader())
    lost = {}
    for plan in simulation.world.validators:
        ledger = Ledgers.get(state, plan.key.public)
        assert ledger is not None
        lost[plan.name] = plan.bond - ledger.total
    assert lost["v3"] > 0 and all(lost[v] == 0 for v in ("v0", "v1", "v2")), lost


EVERYTHING = """\
name = "everything"
duration_s = 30
slot_ms = 1000

[validators]
count = 7
stake = { kind = "lognormal", mean = 11.5, sigma = 0.3, low = 50000.0, high = 200000.0 }
regions = { eu = 2.0, us = 1.0 }
equivocating = 1
lazy = 1
silent = 1

[chain.compute]
commit_window = 3
reveal_window = 2
dispute_window = 12

[chain.market]
min_match_reputation = -1000

[network]
regions = ["eu", "us"]
latency_ms = [[10.0, 70.0], [70.0, 10.0]]
jitter_ms = 7.0
bandwidth_mbps = 50.0
loss = 0.02
duplicate = 0.02
reorder_ms = 30.0

[[workers]]
name = "honest"
count = 2
throughput = { kind = "uniform", low = 5e8, high = 2e9 }
pricing = { policy = "cost_plus", price_xpl_per_gunit = 2500.0, cost_xpl_per_gunit = 1500.0 }

[[workers]]
name = "cheat"
count = 1
pricing = { policy = "undercut", price_xpl_per_gunit = 2000.0 }
strategy = { kind = "cheat", fraction = 0.5 }

[[workers]]
name = "lazy"
count = 1
strategy = { kind = "lazy" }

[[workers]]
name = "offline"
count = 1
strategy = { kind = "offline", offline_after_s = 15.0 }

[[workers]]
name = "crash"
count = 1
strategy = { kind = "crash", crash_every_s = 10.0, down_for_s = 4.0 }

[[workers]]
name = "unresponsive"
count = 1
strategy = { kind = "unresponsive" }

[[workers]]
name = "withhold"
count = 1
strategy = { kind = "withhold", fraction = 0.5 }

[[requesters]]
name = "checkers"
count = 2
arrival = { process = "poisson", rate_per_s = 0.4 }
mode = "always"
freivalds = true
dispute = true
max_price_xpl_per_gunit = 5000.0

[[requesters]]
name = "sampled"
count = 1
arrival = { process = "fixed", rate_per_s = 0.2 }
max_price_xpl_per_gunit = 5000.0

[[requesters]]
name = "griefer"
count = 1
grief = true
mode = "always"
arrival = { process = "fixed", rate_per_s = 0.1 }
max_price_xpl_per_gunit = 5000.0

[[faults.schedule]]
at_s = 5.0
kind = "crash"
nodes = [6]
until_s = 12.0

[[faults.schedule]]
at_s = 8.0
kind = "skew"
nodes = [5]
skew_ms = 700
until_s = 20.0

[[faults.schedule]]
at_s = 10.0
kind = "loss"
loss = 0.2
duplicate = 0.1
reorder_ms = 300.0
until_s = 16.0

[[faults.schedule]]
at_s = 18.0
kind = "partition"
groups = [["eu"], ["us"]]
until_s = 26.0

[[faults.schedule]]
at_s = 20.0
kind = "equivocate"
nodes = [1]

[[faults.schedule]]
at_s = 27.0
kind = "crash"
nodes = [4]

[[faults.schedule]]
at_s = 29.0
kind = "restart"
nodes = [4]

[faults.random]
crash_per_hour = 120.0
loss_per_hour = 120.0
skew_per_hour = 120.0
mean_down_s = 3.0

[outputs]
sample_every_s = 4.0
plots = false
"""
"""Every fault kind (scheduled and random), an equivocator and a lazy and a silent committee
member, every worker strategy and pricing policy, requesters checking, sampling and griefing."""


def test_every_fault_agent_and_strategy_give_one_digest_whatever_the_hash_seed(
    tmp_path: Path,
) -> None:
    """The scenario of everything gives the same digest and state root in this process and in
    `xpl sim run` under another PYTHONHASHSEED (the one process test of the digest's
    independence from the hash seed: every agent, fault and strategy's iteration orders)."""
    file = tmp_path / "everything.toml"
    file.write_text(EVERYTHING)
    here = sim.run(file, seed=3)
    assert here.violation is None
    steps = set(here.jobs["step"])
    assert {"settled", "failed", "disputed"} <= steps
    env = {**os.environ, "PYTHONHASHSEED": "424242"}
    done = subprocess.run(
        [sys.executable, "-m", "chain.cli.main", "sim", "run", str(file), "--seed", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert f"digest:     {here.digest}" in lines
    assert f"state root: 0x{here.state_root}" in lines
