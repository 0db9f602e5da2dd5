"""The simulator's memory as the simulated duration grows: network-only and with the world.

Each point is run twice, each time in a fresh process (spawned, so that nothing the benchmark
did before counts, and with the modules imported before it starts): once under tracemalloc for
the peak of Python's allocations, once untraced for the peak resident memory it adds to the
process (VmRSS, looked at every `RSS_SAMPLE_EVERY` slots: LevelDB's C++ memory included,
tracemalloc's bookkeeping not) and its CPU time. With the nodes' databases in LevelDB, what they
take on disk at the end is reported too. Memory that stays flat shows as the same figures at
every duration; with the databases in memory they grow with the duration.
"""

from __future__ import annotations

import gc
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Final

from sim.node_databases import STORE_KINDS, NodeDatabases, StoreKind

RSS_SAMPLE_EVERY: Final = 10
"""Slots between two looks at the resident memory (each reads /proc/self/status)."""
SLOT_MS: Final = 1_000
"""The network-only run advances a slot at a time, its RSS looked at between slots."""
MEMORY_MODES: Final = ("network", "world")
"""What a memory point runs: the network-only load, or the standard scenario's world."""


@dataclass(frozen=True)
class MemoryPoint:
    """One run's memory: Python's peak, the process's peak, the disk, and its CPU time."""

    mode: str
    """"network" (validators and transfers) or "world" (the standard scenario)."""
    validators: int
    workers: int | None
    """None for a network-only run."""
    store: str
    """Where the nodes kept their databases: "memory" or "leveldb"."""
    simulated_s: float
    peak_mib: float
    """The peak of Python's allocations (tracemalloc)."""
    rss_mib: float
    """The peak resident memory (VmRSS) the untraced run added to its process: LevelDB's memory
    included, the interpreter and the imports (the same for every run) not."""
    disk_mib: float
    """What the nodes' databases took on disk at the end (0 in memory)."""
    cpu_s: float
    """CPU seconds of the untraced run (its speed: `simulated_s / cpu_s`)."""


def _prepare() -> None:
    """Import what a run uses before it is measured (imports are no part of its memory)."""
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import chain.benchmarks.sim_bench  # noqa: F401
    import sim.summary
    import sim.world.run  # noqa: F401


def _rss_mib() -> float:
    """The process's resident memory now (Linux's VmRSS; elsewhere its peak, ru_maxrss)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _RssPeak:
    """The highest resident memory seen by `sample`, called as the run goes."""

    def __init__(self) -> None:
        self.peak = _rss_mib()
        self._calls = 0

    @staticmethod
    def ignore() -> None:
        """Take no look (a traced run)."""

    def sample(self) -> None:
        """Look at the resident memory every `RSS_SAMPLE_EVERY` calls."""
        self._calls += 1
        if self._calls % RSS_SAMPLE_EVERY == 0:
            self.peak = max(self.peak, _rss_mib())


def _run(
    mode: str,
    validators: int,
    workers: int,
    store: StoreKind,
    simulated_s: float,
    rss: _RssPeak | None = None,
) -> float:
    """Run one point in this process (sampling its RSS into `rss`); the databases' MiB on disk
    at the end."""
    from chain.benchmarks import sim_bench

    sample: Callable[[], None] = _RssPeak.ignore if rss is None else rss.sample
    if mode == "world":
        from sim.scenario import scenario_from_dict
        from sim.world.run import Simulation

        raw = sim_bench.standard_scenario(validators, workers, simulated_s)
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
        net = sim_bench.build_network(validators, databases=databases.open)
        sim_bench.TransferLoad(net, list(net.nodes), sim_bench.DEFAULT_TPS, 0).start()
        end_ms = net.now_ms + round((sim_bench.WARMUP_S + simulated_s) * 1000)
        while net.now_ms < end_ms:
            net.run_until(min(end_ms, net.now_ms + SLOT_MS))
            sample()
        return round(databases.disk_bytes() / 2**20, 1)


def _traced(mode: str, validators: int, workers: int, store: StoreKind, seconds: float) -> float:
    """The peak MiB Python allocated running one point (in a fresh process)."""
    _prepare()
    gc.collect()
    tracemalloc.start()
    try:
        _run(mode, validators, workers, store, seconds)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return round(peak / 2**20, 1)


def _untraced(
    mode: str, validators: int, workers: int, store: StoreKind, seconds: float
) -> tuple[float, float, float]:
    """The peak resident memory the run added (MiB), the disk MiB and the CPU seconds of one
    point (in a fresh process)."""
    _prepare()
    gc.collect()
    rss = _RssPeak()
    before = rss.peak
    start = time.process_time()
    disk = _run(mode, validators, workers, store, seconds, rss)
    cpu = time.process_time() - start
    return round(rss.peak - before, 1), disk, round(cpu, 2)


def measure_memory(
    mode: str, validators: int, workers: int | None, store: StoreKind, simulated_s: float
) -> MemoryPoint:
    """One point's memory, each of its two runs in a fresh process."""
    if mode not in MEMORY_MODES:
        raise ValueError(f"memory mode must be one of {', '.join(MEMORY_MODES)}, got {mode!r}")
    if store not in STORE_KINDS:
        raise ValueError(f"--memory-stores: each must be one of {', '.join(STORE_KINDS)}")
    args = (mode, validators, workers or 0, store, simulated_s)
    context = get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        peak = pool.submit(_traced, *args).result()
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        rss, disk, cpu = pool.submit(_untraced, *args).result()
    return MemoryPoint(
        mode=mode,
        validators=validators,
        workers=workers if mode == "world" else None,
        store=store,
        simulated_s=simulated_s,
        peak_mib=peak,
        rss_mib=rss,
        disk_mib=disk,
        cpu_s=cpu,
    )


__all__ = ["MEMORY_MODES", "MemoryPoint", "measure_memory"]
