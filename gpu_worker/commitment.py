"""A worker's commitment to its result: the Merkle root over the result leaves, built fast.

The root is `runtime.primitives.merkle.merkle_root(leaves)` (BLAKE3, keyed per role); this module
computes the same root, byte for byte, at the speed the kernels produce results:
- leaves are read in place: bytes, or memoryviews / numpy arrays into one result array, never
  copied (`merkle.leaf_hash` hashes any C-contiguous buffer);
- leaf hashing uses every core: the `blake3` package releases the GIL while it hashes (inputs of
  2 KiB and more), so a large result is hashed as contiguous runs of leaves on a thread pool kept
  for the process; a leaf of `RAYON_LEAF_BYTES` or more is instead hashed by blake3's own threads
  (`max_threads`), which split one input across the cores;
- tiles of a result matrix (gemm_i8 leaves, qmlp_i8 rows) and leaves of a result laid out in
  leaf order are hashed in place by a Numba BLAKE3 kernel (`tile_leaf_hashes`,
  `gpu_worker.kernels.blake3_tiles`), 16 chunks side by side in AVX-512 registers on every
  core: about 5 GiB/s a core, as fast as the package over one long input, with no call a leaf
  (about 1 µs from Python) and no copy of a tile out of its matrix;
- the inner levels are built by a Numba kernel (`gpu_worker.kernels.blake3_nodes`), 16 nodes
  side by side, the whole tree in one call: about 15 ns a node against 1 µs a call from Python.

`tree_of(hashes)` keeps every level, so a worker builds its tree once and serves each audited
leaf's proof from it with `merkle.proof_from_levels`.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeAlias, overload

import numpy as np
import numpy.typing as npt
from blake3 import blake3

from gpu_worker.kernels.blake3_nodes import levels_above
from gpu_worker.kernels.blake3_tiles import tile_hashes
from runtime.primitives.merkle import (
    HASH_LEN,
    LEAF_KEY,
    NODE_KEY,
    as_bytes_view,
    bind_count,
    node_hash,
    root_of_hashes,
)

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    from typing_extensions import Buffer

LeafBuffer: TypeAlias = Buffer | npt.NDArray[Any]
"""A result leaf as the worker holds it: bytes, or a C-contiguous view into the result array."""

PARALLEL_BYTES: Final = 1024 * 1024
"""Below this much data one thread hashes faster than handing runs of leaves to others."""
RAYON_LEAF_BYTES: Final = 1024 * 1024
"""A leaf at least this large is split across the cores by blake3 itself."""
KERNEL_LEAF_BYTES: Final = 1024 * 1024
"""Tiles up to this size are hashed by the Numba tile kernel, larger ones by the package: the
kernel hashes 16 chunks side by side whatever the leaves' size, as fast as the package's SIMD
over one long input (about 5 GiB/s a core on the development machine), without its call a leaf
(about 1 µs) and without copying a tile out of its matrix."""
KERNEL_NODES: Final = 8
"""A level with fewer nodes than this is built in Python (the kernel's call costs more)."""


class HashLevel(Sequence[bytes]):
    """One level of a tree: its node hashes, 32 bytes each, held in one bytes object."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        if len(data) % HASH_LEN:
            raise ValueError(f"a level holds 32-byte hashes, not {len(data)} bytes")
        self._data = data

    @property
    def data(self) -> bytes:
        """The level's hashes, one after the other."""
        return self._data

    def __len__(self) -> int:
        return len(self._data) // HASH_LEN

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...
    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        count = len(self)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError(f"node {index} out of range for a level of {count}")
        return self._data[index * HASH_LEN : (index + 1) * HASH_LEN]

    def __iter__(self) -> Iterator[bytes]:
        data = self._data
        return (data[i : i + HASH_LEN] for i in range(0, len(data), HASH_LEN))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, HashLevel):
            return self._data == other._data
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"HashLevel({len(self)} nodes)"


def _bytes_of(leaf: LeafBuffer) -> bytes | memoryview:
    """The leaf's memory as a buffer of bytes, not copied (BufferError if not contiguous)."""
    if isinstance(leaf, bytes):
        return leaf
    return as_bytes_view(leaf.data if isinstance(leaf, np.ndarray) else leaf)


def _hash_leaf(leaf: Buffer) -> bytes:
    return blake3(leaf, key=LEAF_KEY).digest()


@functools.cache
def _pool(workers: int) -> ThreadPoolExecutor:
    """The process's leaf-hashing threads (started once: a thread's start costs ~50 µs)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xpl-leaf-hash")


def leaf_hashes(leaves: Sequence[LeafBuffer], *, threads: int | None = None) -> list[bytes]:
    """Every leaf's hash, in order, on up to `threads` threads (default: the cores).

    Each leaf is any C-contiguous buffer (bytes, a memoryview or numpy array into the result),
    hashed in place; BufferError for a strided one.
    """
    count = len(leaves)
    buffers = [_bytes_of(leaf) for leaf in leaves]
    workers = max(1, min(threads or os.cpu_count() or 1, count))
    if workers == 1:
        return [_hash_leaf(leaf) for leaf in buffers]
    sizes = [len(leaf) for leaf in buffers]
    total = sum(sizes)
    if total < PARALLEL_BYTES:
        return [_hash_leaf(leaf) for leaf in buffers]
    if total // count >= RAYON_LEAF_BYTES:
        return [blake3(leaf, key=LEAF_KEY, max_threads=workers).digest() for leaf in buffers]
    # Runs of leaves of about equal bytes, one a thread.
    bounds, run, acc = [0], total / workers, 0
    for index, size in enumerate(sizes):
        acc += size
        if acc >= run * len(bounds) and len(bounds) < workers:
            bounds.append(index + 1)
    bounds.append(count)

    def hash_run(part: int) -> list[bytes]:
        return [_hash_leaf(leaf) for leaf in buffers[bounds[part] : bounds[part + 1]]]

    parts = _pool(workers).map(hash_run, range(len(bounds) - 1))
    return [digest for part in parts for digest in part]


def tile_leaf_hashes(
    matrix: npt.NDArray[np.int32], row_block: int, col_block: int, *, threads: int | None = None
) -> HashLevel:
    """The leaf hashes of `matrix` cut in row_block × col_block tiles, tile-major.

    Equal to `[leaf_hash(t) for t in jobs.tile_leaves(matrix, row_block, col_block)]` (a row
    band is a tile as wide as the matrix). Tiles up to KERNEL_LEAF_BYTES are read in place by
    the Numba kernel `blake3_tiles`, 16 chunks side by side on every core; larger ones by the
    `blake3` package, row bands where they lie and other tiles one copied tile at a time.
    """
    rows, cols = matrix.shape
    col_block, row_block = min(col_block, max(cols, 1)), min(row_block, max(rows, 1))
    if row_block * col_block * 4 <= KERNEL_LEAF_BYTES:
        return HashLevel(tile_hashes(matrix, row_block, col_block, LEAF_KEY).tobytes())
    bands = [matrix[top : top + row_block] for top in range(0, rows, row_block)]
    if col_block >= cols:
        leaves: list[LeafBuffer] = list(bands)
    else:
        leaves = [
            np.ascontiguousarray(band[:, left : left + col_block])
            for band in bands
            for left in range(0, cols, col_block)
        ]
    return HashLevel(b"".join(leaf_hashes(leaves, threads=threads)))


def _levels_above(hashes: Sequence[bytes]) -> list[Sequence[bytes]]:
    """The levels above the leaf hashes, the top node last (none for a single leaf)."""
    levels: list[Sequence[bytes]] = []
    level: Sequence[bytes] = hashes
    if len(level) >= KERNEL_NODES:
        joined = level.data if isinstance(level, HashLevel) else b"".join(level)
        array = np.frombuffer(joined, np.uint8).reshape(-1, HASH_LEN)
        return [HashLevel(level.tobytes()) for level in levels_above(array, NODE_KEY)]
    while len(level) > 1:
        up = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            up.append(level[-1])
        levels.append(up)
        level = up
    return levels


def tree_of(hashes: Sequence[bytes]) -> list[Sequence[bytes]]:
    """Every level of the tree over the leaf hashes, as `merkle.tree_levels` gives them.

    The leaf hashes first, the single top node last; no leaves give no levels. Read proofs with
    `merkle.proof_from_levels(levels, index)` and the root with `root_of_levels(levels)`.
    """
    if not hashes:
        return []
    return [hashes, *_levels_above(hashes)]


def root_of_levels(levels: Sequence[Sequence[bytes]]) -> bytes:
    """The root (bound to the leaf count) of a tree `tree_of` built."""
    if not levels:
        return root_of_hashes(())
    return bind_count(levels[-1][0], len(levels[0]))


def result_root(leaves: Sequence[LeafBuffer], *, threads: int | None = None) -> bytes:
    """The Merkle root a worker commits for `leaves` (equal to merkle_root(leaves))."""
    return root_of_levels(tree_of(leaf_hashes(leaves, threads=threads)))
