"""The validators' databases in LevelDB: the same run as in memory, a directory the run owns and
removes however it ends, a crashed node restarting from its database; and the caches that keep
a long run's memory flat stay within their bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chain.benchmarks.sim_bench import TransferLoad, build_network
from runtime.primitives.keys import keypair_from_suri
from sim import network
from sim.agents.committee import SENT_KEPT_BLOCKS, CommitteeMember
from sim.agents.published import PublishedResults
from sim.node_databases import NodeDatabases
from sim.scenario import ScenarioError, scenario_from_dict
from sim.shared_execution import SignatureCache
from sim.world.run import Simulation


def tiny(store: str) -> dict[str, Any]:
    """Four validators, two workers and a requester, for 20 simulated seconds."""
    return {
        "name": "tiny-store",
        "duration_s": 20,
        "store": store,
        "validators": {"count": 4},
        "network": {"regions": ["eu"], "latency_ms": [[15]], "jitter_ms": 5},
        "workers": [{"name": "honest", "count": 2}],
        "requesters": [{"name": "steady", "arrival": {"process": "fixed", "rate_per_s": 0.5}}],
        "outputs": {"plots": False},
    }


def test_a_leveldb_run_is_the_in_memory_run_and_leaves_no_directory(tmp_path: Path) -> None:
    memory = Simulation(scenario_from_dict(tiny("memory")), seed=5, out=None).run()
    databases = NodeDatabases("leveldb", parent=tmp_path)
    simulation = Simulation(
        scenario_from_dict(tiny("leveldb")), seed=5, out=None, databases=databases
    )
    leveldb = simulation.run()
    assert memory.violation is None and leveldb.violation is None
    assert (leveldb.digest, leveldb.state_root) == (memory.digest, memory.state_root)
    assert len(memory.jobs) > 0
    # The blocks went to disk, and the directory went with the run's end.
    assert databases.disk_bytes_at_close > 0
    assert databases.directory is None and list(tmp_path.iterdir()) == []


def test_the_default_store_is_leveldb_and_a_bad_one_is_refused_by_key() -> None:
    data = tiny("memory")
    del data["store"]
    assert scenario_from_dict(data).store == "leveldb"
    with pytest.raises(ScenarioError, match="store"):
        scenario_from_dict(tiny("disk"), source="bad.toml")


def test_an_interrupted_run_removes_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    databases = NodeDatabases("leveldb", parent=tmp_path)
    simulation = Simulation(
        scenario_from_dict(tiny("leveldb")), seed=1, out=None, databases=databases
    )
    opened: list[Path] = []

    def interrupted(_world: object) -> None:
        assert databases.directory is not None
        opened.append(databases.directory)
        raise KeyboardInterrupt

    monkeypatch.setattr(simulation, "_drive", interrupted)
    with pytest.raises(KeyboardInterrupt):
        simulation.run()
    assert opened and not opened[0].exists()
    assert list(tmp_path.iterdir()) == []


def test_a_crashed_node_restarts_from_its_leveldb(tmp_path: Path) -> None:
    with NodeDatabases("leveldb", parent=tmp_path) as databases:
        net = build_network(4, databases=databases.open)
        TransferLoad(net, list(net.nodes), 2.0, 0).start()
        net.run_for(12_000)
        before = net.core("Dave").finalized_header.number
        assert before > 0
        net.crash("Dave")
        net.run_for(4_000)
        net.restart("Dave")
        # Started from its database, not from genesis.
        assert net.core("Dave").finalized_header.number == before
        net.run_for(8_000)
        assert net.core("Dave").finalized_header.number > before
        assert net.conflicting_finality() == []
    assert list(tmp_path.iterdir()) == []


def test_the_signature_cache_keeps_at_most_its_entries() -> None:
    cache = SignatureCache(entries=3)
    for i in range(10):
        cache.check(bytes(32), bytes([i]), bytes(64))
    assert len(cache._known) == 3
    assert cache.misses == 10


def test_a_committee_member_forgets_sendings_long_past() -> None:
    """A sending older than SENT_KEPT_BLOCKS holds nothing back: forgotten, so that a member's
    books stay bounded however many checks it attested."""
    member = CommitteeMember("m", keypair_from_suri("//Member"), PublishedResults())
    member._sent = {((1, 0), "commit"): 10, ((2, 0), "reveal"): 400}
    member._forget_old_sendings(400)
    assert member._sent == {((2, 0), "reveal"): 400}
    member._sent[((3, 0), "commit")] = 401
    member._forget_old_sendings(401)  # not again before SENT_KEPT_BLOCKS more blocks
    assert len(member._sent) == 2
    member._forget_old_sendings(400 + SENT_KEPT_BLOCKS + 2)
    assert member._sent == {}


def test_a_node_remembers_only_its_latest_finalized_heights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(network, "FINALIZED_KEPT", 5)
    net = build_network(4)
    net.run_for(15_000)
    for name, node in net.nodes.items():
        final = net.core(name).finalized_header
        assert final.number > 5
        assert list(node.finalized) == list(range(final.number - 4, final.number + 1))
        assert node.finalized[final.number] == final.hash
