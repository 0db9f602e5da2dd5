"""A worker's commitment to its result: the Merkle root over the result leaves, hashed in parallel.

The root is `runtime.primitives.merkle.merkle_root(leaves)`; hashing the leaves is the largest
cost of committing (BLAKE2b runs at about 1 GB/s a core), and hashlib releases the GIL while it
hashes, so the leaves are hashed in contiguous runs on one thread per core.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from runtime.primitives.merkle import leaf_hash, root_of_hashes

PARALLEL_BYTES: Final = 4 * 1024 * 1024
"""Below this much data a single thread is faster than starting others."""


def leaf_hashes(leaves: Sequence[bytes], *, threads: int | None = None) -> list[bytes]:
    """Every leaf's hash, in order, computed on up to `threads` threads (default: the cores)."""
    count = len(leaves)
    workers = min(threads or os.cpu_count() or 1, count)
    if workers <= 1 or sum(len(leaf) for leaf in leaves) < PARALLEL_BYTES:
        return [leaf_hash(leaf) for leaf in leaves]
    bounds = [count * i // workers for i in range(workers + 1)]

    def run(part: int) -> list[bytes]:
        return [leaf_hash(leaf) for leaf in leaves[bounds[part] : bounds[part + 1]]]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(run, range(workers)))
    return [digest for part in parts for digest in part]


def result_root(leaves: Sequence[bytes], *, threads: int | None = None) -> bytes:
    """The Merkle root a worker commits for `leaves` (equal to merkle_root(leaves))."""
    return root_of_hashes(leaf_hashes(leaves, threads=threads))
