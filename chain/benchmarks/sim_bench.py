"""How fast the simulator runs: simulated time over wall time, and its memory as a run goes on.

Network-only (`run_network_point`): `validators` validators of the local spec on one
`SimNetwork` (a random mesh of `MESH_DEGREE` peers each), sharing block execution and
signature checks, carrying a steady load of real transfers: signed by funded accounts of the
load's own, each with its own nonce, submitted to the validators in turn. The figure is simulated
seconds per wall second, over the run after a warm-up.

With the world (`run_world_point`): the standard scenario of the study (validators, workers, one
job a second) through `sim.api.run`, timed the same way.

Memory (`chain.benchmarks.sim_memory`): both kinds of run at several durations, with the nodes'
databases in memory or in LevelDB, each in fresh processes: flat memory shows as the same
figures at every duration.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final

from chain.benchmarks.sim_memory import MemoryPoint, measure_memory
from chain.spec import DEV_ENDOWMENT, ChainSpec, local_spec, validator_uris_of
from chain.storage.kv import KeyValueStore
from runtime.api import make_call
from runtime.primitives.keys import Keypair, keypair_from_suri
from runtime.transaction import sign_transaction
from sim.network import SimNetwork
from sim.node_databases import STORE_KINDS, NodeDatabases, StoreKind
from sim.shared_execution import SharedExecution

MESH_DEGREE: Final = 8
"""Peers each validator connects to (fewer than all in larger networks, as gossipsub's mesh)."""
WARMUP_S: Final = 5
"""Simulated seconds run before timing starts (the first blocks, the first finality round)."""
DEFAULT_TPS: Final = 2.0
"""Transfers submitted per simulated second by the network-only load."""
VALIDATOR_COUNTS: Final = (4, 16, 64)
WORKER_COUNTS: Final = (10, 100, 1_000)
TRANSFER_AMOUNT: Final = 10**12
"""What each benchmark transfer moves (one XPL): far below any endowment."""
SENDERS: Final = 8
"""Funded accounts of the load's own (no validator's, whose nonces their nodes use)."""
MAX_MEMORY_DURATIONS: Final = 4
"""The most durations whose memory is compared (each is two runs, one traced)."""
MEMORY_FLUSH_ROWS: Final = 1_000
"""Rows a world's memory run buffers per table before a Parquet flush (a scenario's default is
10,000, which the finality and jobs tables reach only after about 20 simulated minutes): the
buffers are full within the shortest duration, so that what still grows is the simulator's."""
RECEIVERS: Final = 64
"""Accounts the load pays, over and over: the state stays the same size however long it runs."""


def sender_keys() -> list[Keypair]:
    """The load's senders: //Sender1, //Sender2, ..."""
    return [keypair_from_suri(f"//Sender{i}") for i in range(1, SENDERS + 1)]


def benchmark_spec(validators: int) -> ChainSpec:
    """The local spec of `validators` validators, with the load's senders funded too."""
    spec = local_spec(validators=validators)
    funded = tuple((k.public, DEV_ENDOWMENT) for k in sender_keys())
    return replace(spec, genesis=replace(spec.genesis, balances=spec.genesis.balances + funded))


@dataclass(frozen=True)
class SpeedPoint:
    """One size's figures: simulated seconds over wall seconds, and what the run carried."""

    validators: int
    workers: int | None
    """None for a network-only run."""
    simulated_s: float
    wall_s: float
    speed: float
    """Simulated seconds per wall second (100 means 100 times real time)."""
    finalized: int
    """The lowest finalized height among the validators at the end."""
    transfers: int
    """Transfers submitted (network-only) or jobs (with the world)."""
    messages: int


@dataclass(frozen=True)
class SimBenchmarkFigures:
    """Every size's speed, and the memory at two durations."""

    mode: str
    speed: list[SpeedPoint]
    memory: list[MemoryPoint]

    def to_json(self) -> dict[str, Any]:
        """The figures as one JSON object, for `--json`."""
        return asdict(self)


class TransferLoad:
    """Real transfers at a steady rate, from the load's funded senders in turn, each to one of
    `RECEIVERS` accounts drawn at random, submitted to the validators in turn."""

    def __init__(self, net: SimNetwork, nodes: Sequence[str], tps: float, seed: int) -> None:
        self.net = net
        self.nodes = list(nodes)
        self.interval_ms = max(1, round(1000 / tps))
        self.senders = sender_keys()
        self.nonces = [0] * len(self.senders)
        self.rng = random.Random(seed)
        self.receivers = [
            Keypair.from_seed(self.rng.randbytes(32)).public for _ in range(RECEIVERS)
        ]
        self.genesis_hash = net.spec.genesis_header().hash
        self.submitted = 0

    def start(self) -> None:
        """Submit the first transfer now and the others at the rate."""
        self.net.schedule(0, self._submit)

    def _submit(self) -> None:
        index = self.submitted % len(self.senders)
        receiver = self.rng.choice(self.receivers)
        tx = sign_transaction(
            self.senders[index],
            make_call("balances", "transfer", receiver, TRANSFER_AMOUNT),
            nonce=self.nonces[index],
            genesis_hash=self.genesis_hash,
        )
        node = self.nodes[self.submitted % len(self.nodes)]
        if self.net.nodes[node].up:
            self.net.submit(node, tx.raw)
            self.nonces[index] += 1
        self.submitted += 1
        self.net.schedule(self.interval_ms, self._submit)


def build_network(
    validators: int,
    *,
    seed: int = 0,
    shared: bool = True,
    degree: int = MESH_DEGREE,
    databases: Callable[[str], KeyValueStore] | None = None,
) -> SimNetwork:
    """`validators` validators of the local spec on a random mesh of `degree` peers each, each
    node's database opened by `databases` (None: in memory)."""
    spec = benchmark_spec(validators)
    net = SimNetwork(
        spec, seed=seed, shared=SharedExecution() if shared else None, databases=databases
    )
    for name in [uri[2:] for uri in validator_uris_of(validators)]:
        net.add_node(name, keypair_from_suri("//" + name))
    if validators <= degree + 1:
        net.connect_all()
    else:
        net.connect_mesh(degree, seed=seed)
    return net


def run_network_point(
    validators: int,
    simulated_s: float,
    *,
    tps: float = DEFAULT_TPS,
    seed: int = 0,
    shared: bool = True,
) -> SpeedPoint:
    """Run the network-only load for `simulated_s` after the warm-up and time it."""
    net = build_network(validators, seed=seed, shared=shared)
    load = TransferLoad(net, list(net.nodes), tps, seed)
    load.start()
    net.run_for(WARMUP_S * 1000)
    start = time.process_time()
    net.run_for(round(simulated_s * 1000))
    wall = time.process_time() - start
    messages = sum(m for m, _, _ in net.message_stats.values())
    return SpeedPoint(
        validators=validators,
        workers=None,
        simulated_s=simulated_s,
        wall_s=round(wall, 3),
        speed=round(simulated_s / wall, 1),
        finalized=min(net.finalized_numbers().values()),
        transfers=load.submitted,
        messages=messages,
    )


def standard_scenario(validators: int, workers: int, duration_s: float) -> dict[str, Any]:
    """The benchmark's scenario: `validators` validators and `workers` honest workers in one
    region, and ten requesters submitting one small job a second between them."""
    return {
        "name": f"benchmark-{validators}v-{workers}w",
        "duration_s": duration_s,
        "seed": 0,
        "validators": {"count": validators, "stake": 10_000.0},
        "network": {"regions": ["eu"], "latency_ms": [[20.0]], "jitter_ms": 5.0},
        "workers": [
            {
                "name": "honest",
                "count": workers,
                "throughput": {"kind": "uniform", "low": 5e8, "high": 2e9},
                "stake_xpl": 1000.0,
                "capacity": 4,
                "workloads": ["gemm_i8"],
                "pricing": {"policy": "fixed", "price_xpl_per_gunit": 3000.0},
            }
        ],
        "requesters": [
            {
                "name": "steady",
                "count": 10,
                "arrival": {"process": "poisson", "rate_per_s": 0.1},
                "max_price_xpl_per_gunit": 5000.0,
                "jobs": [{"workload": "gemm_i8", "params": [8, 16, 8, 2]}],
            }
        ],
        "outputs": {"plots": False},
    }


def run_world_point(validators: int, workers: int, simulated_s: float) -> SpeedPoint:
    """Run the standard scenario through `sim.api.run` and time it."""
    # Imported when asked for: the network-only benchmark needs none of the world.
    from sim import api
    from sim.scenario import scenario_from_dict

    scenario = scenario_from_dict(
        standard_scenario(validators, workers, simulated_s), source="<benchmark>"
    )
    start = time.process_time()
    result = api.run(scenario)
    wall = time.process_time() - start
    jobs = result.jobs
    finality = result.finality
    return SpeedPoint(
        validators=validators,
        workers=workers,
        simulated_s=simulated_s,
        wall_s=round(wall, 3),
        speed=round(simulated_s / wall, 1),
        finalized=int(finality["finalized"].max()) if len(finality) else 0,
        transfers=int((jobs["step"] == "submitted").sum()) if len(jobs) else 0,
        messages=int(result.messages["messages"].sum()) if len(result.messages) else 0,
    )


def memory_run(
    mode: str,
    validators: int,
    workers: int,
    store: StoreKind,
    simulated_s: float,
    sample: Callable[[], None],
) -> float:
    """Run one memory point (`sim_memory.PointRun`) in this process, calling `sample` after every
    slot; the databases' MiB on disk at the end."""
    if mode == "world":
        # Imported when asked for: the network-only benchmark needs none of the world.
        from sim.scenario import scenario_from_dict
        from sim.world.run import Simulation

        raw = standard_scenario(validators, workers, simulated_s)
        raw["outputs"]["flush_rows"] = MEMORY_FLUSH_ROWS
        databases = NodeDatabases(store)
        scenario = scenario_from_dict(raw, source="<benchmark>")
        # Its tables go to Parquet as the run goes (in memory they would grow with it).
        with tempfile.TemporaryDirectory(prefix="xpl-sim-bench-") as out:
            Simulation(
                scenario,
                seed=0,
                out=Path(out),
                databases=databases,
                on_progress=lambda _p: sample(),
            ).run()
        return round(databases.disk_bytes_at_close / 2**20, 1)
    with NodeDatabases(store) as databases:
        net = build_network(validators, databases=databases.open)
        TransferLoad(net, list(net.nodes), DEFAULT_TPS, 0).start()
        slot_ms = net.spec.genesis.slot_duration_ms
        end_ms = net.now_ms + round((WARMUP_S + simulated_s) * 1000)
        while net.now_ms < end_ms:
            net.run_until(min(end_ms, net.now_ms + slot_ms))
            sample()
        return round(databases.disk_bytes() / 2**20, 1)


def default_duration(validators: int) -> float:
    """Simulated seconds timed for a size: fewer for larger networks, which run slower."""
    return max(2.0, 240.0 / validators)


def run_sim_benchmark(
    *,
    validators: Sequence[int] = VALIDATOR_COUNTS,
    workers: Sequence[int] = WORKER_COUNTS,
    network_only: bool = False,
    duration_s: float | None = None,
    memory_s: Sequence[float] = (300.0, 900.0),
    memory_validators: int = 4,
    memory_workers: int = 10,
    memory_stores: Sequence[str] = ("leveldb",),
    tps: float = DEFAULT_TPS,
    progress: Callable[[str], None] = lambda _m: None,
) -> SimBenchmarkFigures:
    """Every size's speed, then the memory of runs of each of `memory_s` for each of
    `memory_stores`: network-only, and with the world unless `network_only`; ValueError on sizes,
    durations or stores out of range."""
    if not validators or any(not 1 <= v <= 100 for v in validators):
        raise ValueError("--validators: each count must be between 1 and 100")
    if any(w < 0 for w in workers) or memory_workers < 0:
        raise ValueError("--workers and --memory-workers: counts must not be negative")
    if duration_s is not None and duration_s <= 0:
        raise ValueError("--duration must be positive")
    if any(d <= 0 for d in memory_s) or tps <= 0:
        raise ValueError("--memory-durations and --tps must be positive")
    if len(memory_s) > MAX_MEMORY_DURATIONS:
        raise ValueError(f"--memory-durations: at most {MAX_MEMORY_DURATIONS} durations")
    stores: list[StoreKind] = []
    for store in memory_stores:
        if store not in STORE_KINDS:
            raise ValueError(f"--memory-stores: {store!r} is not one of {', '.join(STORE_KINDS)}")
        stores.append(store)
    speed: list[SpeedPoint] = []
    for v in validators:
        simulated = duration_s if duration_s is not None else default_duration(v)
        if network_only:
            progress(f"{v} validators, {tps:g} transfers/s, {simulated:g} simulated s")
            speed.append(run_network_point(v, simulated, tps=tps))
        else:
            for w in workers:
                progress(f"{v} validators, {w} workers, {simulated:g} simulated s")
                speed.append(run_world_point(v, w, simulated))
    memory: list[MemoryPoint] = []
    modes = ("network",) if network_only else ("network", "world")
    for mode in modes:
        for store in stores:
            for d in memory_s:
                who = f"{memory_validators} validators" + (
                    f", {memory_workers} workers" if mode == "world" else ""
                )
                progress(f"memory ({mode}, {store}): {who}, {d:g} simulated s")
                memory.append(
                    measure_memory(memory_run, mode, memory_validators, memory_workers, store, d)
                )
    return SimBenchmarkFigures(
        mode="network-only" if network_only else "world", speed=speed, memory=memory
    )


__all__ = [
    "MemoryPoint",
    "SimBenchmarkFigures",
    "SpeedPoint",
    "TransferLoad",
    "build_network",
    "memory_run",
    "run_network_point",
    "run_sim_benchmark",
    "run_world_point",
    "standard_scenario",
]
