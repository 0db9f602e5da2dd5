"""An audit's tiles shared among this machine's cores: a tile table cut in contiguous shares,
one compiled call a share, each share on its own thread (the calls release the GIL), and only
where each share has work enough to pay for its thread (`SPREAD_MIN_TERMS`)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import numpy as np

from gpu_worker.inputs import I64

TileTable = I64
"""An audit kernel's tile table: rows (r0, r1, c0, c1, place), as `kernels.audit_cpu` makes them."""


SPREAD_MIN_TERMS: Final = 1 << 24
"""The fewest multiply-adds a share of an audit's tiles gets, counted in the portable kernel's
terms (`audit_cpu.tile_weight`; about 0.25 ms of one core):
handing a share to a waiting thread and joining it costs about 30 µs, and on the loaded 2-core
machine a second thread's share of 4 M terms (gemm_i8 n = 1,024, 16 tiles) ran 20–50% slower
than one thread doing all of it (the other core busy)."""


def spread_tiles(run: Callable[[TileTable], None], table: TileTable, depth: int) -> None:
    """An audit kernel's tile table (its rows (r0, r1, c0, c1, place), each tile's place in the
    flat output last, as `audit_cpu` makes them) for products over `depth` terms, run in
    contiguous shares, one a core, the first on this thread, each share one compiled call that
    releases the GIL (the threads run no Python but the call); fewer shares where there is too
    little work, down to the whole table on this thread (a share at least SPREAD_MIN_TERMS
    terms, Σ area × depth)."""
    count = len(table)
    r0, r1, c0, c1, place = table[-1].tolist() if count else (0, 0, 0, 0, 0)
    terms = (place + (r1 - r0) * (c1 - c0)) * depth
    threads = min(count, cores(), terms // SPREAD_MIN_TERMS)
    if threads < 2:
        run(table)
        return
    cuts = np.searchsorted(table[:, 4], np.arange(1, threads) * (terms // depth // threads))
    bounds = [0, *cuts.tolist(), count]
    shares = [table[bounds[i] : bounds[i + 1]] for i in range(threads)]
    others = [_tile_pool().submit(run, share) for share in shares[1:] if len(share)]
    run(shares[0])
    for other in others:
        other.result()


def spread_for(depth: int) -> Callable[[Callable[[TileTable], None], TileTable], None]:
    """`spread_tiles` for products over `depth` terms, as an `audit_cpu.Spread`."""
    return lambda run, table: spread_tiles(run, table, depth)


@functools.cache
def cores() -> int:
    """This machine's cores, asked once: `os.cpu_count` reads a file each call (about 8 µs,
    3% of an audit of 16 gemm_i8 tiles at n = 1,024)."""
    return os.cpu_count() or 1


@functools.cache
def _tile_pool() -> ThreadPoolExecutor:
    """Threads that recompute an audit's tiles side by side, one a core."""
    return ThreadPoolExecutor(max_workers=cores(), thread_name_prefix="xpl-tiles")
