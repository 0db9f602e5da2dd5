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
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Final

from sim.node_databases import STORE_KINDS, StoreKind

RSS_SAMPLE_EVERY: Final = 10
"""Slots between two looks at the resident memory (each reads /proc/self/status)."""
MEMORY_MODES: Final = ("network", "world")
PointArgs = tuple[str, int, int, StoreKind, float]
"""A memory point: (mode, validators, workers, store, simulated seconds)."""
PointRun = Callable[[str, int, int, StoreKind, float, Callable[[], None]], float]
"""Runs a point in the process it is called in, calling its last argument between slots (to
look at the memory); the databases' MiB on disk at the end."""
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


def _traced(run: PointRun, args: PointArgs) -> float:
    """The peak MiB Python allocated running one point (in a fresh process)."""
    _prepare()
    gc.collect()
    tracemalloc.start()
    try:
        run(*args, _RssPeak.ignore)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return round(peak / 2**20, 1)


def _untraced(run: PointRun, args: PointArgs) -> tuple[float, float, float]:
    """The peak resident memory the run added (MiB), the disk MiB and the CPU seconds of one
    point (in a fresh process)."""
    _prepare()
    gc.collect()
    rss = _RssPeak()
    before = rss.peak
    start = time.process_time()
    disk = run(*args, rss.sample)
    cpu = time.process_time() - start
    return round(rss.peak - before, 1), disk, round(cpu, 2)


def measure_memory(
    run: PointRun,
    mode: str,
    validators: int,
    workers: int | None,
    store: StoreKind,
    simulated_s: float,
) -> MemoryPoint:
    """One point's memory, `run` run twice, each time in a fresh process (`run` is pickled by
    name: a function of a module)."""
    if mode not in MEMORY_MODES:
        raise ValueError(f"memory mode must be one of {', '.join(MEMORY_MODES)}, got {mode!r}")
    if store not in STORE_KINDS:
        raise ValueError(f"--memory-stores: each must be one of {', '.join(STORE_KINDS)}")
    args = (mode, validators, workers or 0, store, simulated_s)
    context = get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        peak = pool.submit(_traced, run, args).result()
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        rss, disk, cpu = pool.submit(_untraced, run, args).result()
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
