"""Leaf hashes of a result's leaves, read in place: BLAKE3 in Numba, 16 chunks side by side.

A leaf is a tile of an int32 matrix: `height` rows of `width` words, `stride` words from one row
to the next, from word `start` of the matrix's data (a gemm_i8 tile of C where it lies in C; a
leaf of a result laid out in leaf order, which is a single row of its own). Its hash is
BLAKE3-keyed(key, the tile's rows of int32, little-endian, one after the other)
(`runtime.primitives.merkle.leaf_hash` with LEAF_KEY).

BLAKE3 cuts an input in chunks of 1,024 bytes, hashes each chunk (16 compressions, one per
64-byte block, its counter the chunk's index) and joins the chunks' chaining values in a binary
tree of parent nodes (one compression each). Here the chunks of all the leaves are hashed 16 at a
time, a chunk a lane (`blake3_lanes.compress16`, the state in AVX-512 registers), reading each
block where it lies when its 16 words are contiguous (every block of a leaf laid out in leaf
order, and of a tile whose width is a multiple of 16 words) and gathering it into a small
zero-padded buffer otherwise (a leaf's last partial block, a block crossing a tile's row).
Then the parents, 16 at a time, level by level; a leaf of one chunk is its chunk's root
compression. Measured on the development machine (AMD Zen 4, CPU time of one thread): about
5 GiB/s a core for 2 to 8 KiB leaves, as fast as the `blake3` package on one contiguous input,
with no copy and no call per leaf.

Tested equal to the `blake3` package over sizes across every boundary (a partial block, one
chunk exactly, a chunk and a word, uneven trees), keys and tile shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt
from numba import prange

from gpu_worker.kernels import kernel_cache  # noqa: F401  (stamps the kernels' cache)
from gpu_worker.kernels.blake3_lanes import (
    BLOCK_WORDS,
    CHUNK_END,
    CHUNK_START,
    CHUNK_WORDS,
    KEYED_HASH,
    LANES,
    PARENT,
    ROOT,
    compress16,
)

PARALLEL_BYTES: Final = 2 * 1024 * 1024
"""From this much data on, the leaves are hashed on every core. Below it one thread is faster
than waking the others (a 1 MiB result takes about 0.2 ms on one)."""
TASK_CHUNKS: Final = 128
"""Chunks a parallel task takes at least (whole leaves): 128 KiB of leaves, whose trees it
builds too, so that one parallel call hashes every leaf."""

U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
_F = TypeVar("_F", bound=Callable[..., Any])


def _njit(*, parallel: bool = False) -> Callable[[_F], _F]:
    """numba.njit, cached on disk, without the GIL, keeping the function's type for mypy."""
    jit = numba.njit(cache=True, nogil=True, parallel=parallel)
    return cast(Callable[[_F], _F], jit)


@_njit()
def _chunk_counts(heights: I64, widths: I64) -> I64:
    """first[i] = the index of leaf i's first chunk among all the leaves' chunks; first[count]
    = the chunks in all (an empty leaf is one empty chunk)."""
    count = heights.shape[0]
    first = np.empty(count + 1, np.int64)
    total = 0
    for leaf in range(count):
        first[leaf] = total
        total += max(1, (heights[leaf] * widths[leaf] + CHUNK_WORDS - 1) // CHUNK_WORDS)
    first[count] = total
    return first


@_njit()
def _chunk_owners(first: I64) -> I64:
    """owner[j] = the leaf whose chunk is chunk j."""
    count = first.shape[0] - 1
    owner = np.empty(first[count], np.int64)
    for leaf in range(count):
        owner[first[leaf] : first[leaf + 1]] = leaf
    return owner


@_njit()
def _hash_chunk_group(
    data: U32,
    starts: I64,
    heights: I64,
    widths: I64,
    strides: I64,
    first: I64,
    owner: I64,
    key: U32,
    begin: int,
    end: int,
    cvs: U32,
    scratch: U32,
    lanes: I64,
) -> None:
    """The chaining values of chunks begin .. end - 1 (at most 16), side by side, into
    cvs[chunk]; a leaf's only chunk is compressed as its root."""
    chunks = end
    group_first = begin
    pad = scratch[: LANES * BLOCK_WORDS]
    params = scratch[LANES * BLOCK_WORDS : LANES * BLOCK_WORDS + 4 * LANES]
    cv = scratch[LANES * BLOCK_WORDS + 4 * LANES :]
    offsets, row, col, words = lanes[0:16], lanes[16:32], lanes[32:48], lanes[48:64]
    base, stride, width, last = lanes[64:80], lanes[80:96], lanes[96:112], lanes[112:128]
    blocks = 1
    kind0 = 0
    # Uniform: every lane a whole chunk whose block b lies at its base + steps[b] (a leaf of
    # one row, or tiles whose rows hold whole chunks or whose chunks hold whole rows of 16k
    # words, all of one shape): its offsets are one vector add a block.
    uniform = group_first + LANES <= chunks
    for lane in range(LANES):
        chunk = group_first + lane
        if chunk >= chunks:
            words[lane] = 0
            last[lane] = KEYED_HASH
            continue
        leaf = owner[chunk]
        index = chunk - first[leaf]
        size = heights[leaf] * widths[leaf]
        done = index * CHUNK_WORDS
        words[lane] = min(CHUNK_WORDS, size - done)
        root = ROOT if first[leaf + 1] - first[leaf] == 1 else 0
        last[lane] = KEYED_HASH | CHUNK_END | root
        base[lane], stride[lane], width[lane] = starts[leaf], strides[leaf], max(1, widths[leaf])
        if done:
            row[lane], col[lane] = done // width[lane], done % width[lane]
        else:
            row[lane], col[lane] = 0, 0
        params[lane] = np.uint32(index & 0xFFFFFFFF)
        params[LANES + lane] = np.uint32(index >> 32)
        blocks = max(blocks, (words[lane] + BLOCK_WORDS - 1) // BLOCK_WORDS)
        w = width[lane]
        flat = heights[leaf] == 1 or w & (CHUNK_WORDS - 1) == 0
        # Rows of 16, 32, .. 256 words: a chunk holds whole rows, a block lies in one.
        rows_of_chunks = BLOCK_WORDS <= w <= CHUNK_WORDS and w & (w - 1) == 0
        # All flat, or all of lane 0's rows: each lane's blocks at the same steps.
        kind = 1 if flat else (2 if rows_of_chunks else 0)
        if lane == 0:
            kind0 = kind
        same = kind == 1 or (w == width[0] and stride[lane] == stride[0])
        if words[lane] != CHUNK_WORDS or kind == 0 or kind != kind0 or not same:
            uniform = False
    for i in range(8):
        for lane in range(LANES):
            cv[i * LANES + lane] = key[i]
    if uniform:
        w, step = width[0], stride[0]
        flat = kind0 == 1
        for lane in range(LANES):
            offsets[lane] = base[lane] + row[lane] * stride[lane] + col[lane]
            params[2 * LANES + lane] = 4 * BLOCK_WORDS
            params[3 * LANES + lane] = last[lane]
        for block in range(CHUNK_WORDS // BLOCK_WORDS):
            at = block * BLOCK_WORDS
            if not flat:
                at = (at // w) * step + at % w
            # The lanes' own flags (CHUNK_END, ROOT) on the last block only.
            keep = 0xFFFFFFFF if block == CHUNK_WORDS // BLOCK_WORDS - 1 else 0
            add = KEYED_HASH | (CHUNK_START if block == 0 else 0)
            compress16(data, pad, offsets, at, params, keep, add, cv)
        for lane in range(LANES):
            chunk = group_first + lane
            for i in range(8):
                cvs[chunk * 8 + i] = cv[i * LANES + lane]
        return
    for block in range(blocks):
        for lane in range(LANES):
            left = words[lane] - block * BLOCK_WORDS
            if left <= 0 and block > 0:
                offsets[lane] = -1  # this lane's chunk has ended: computed and dropped
                continue
            c = col[lane]
            if left >= BLOCK_WORDS and c + BLOCK_WORDS <= width[lane]:
                offsets[lane] = base[lane] + row[lane] * stride[lane] + c
                col[lane] = c + BLOCK_WORDS
                if col[lane] == width[lane]:
                    row[lane] += 1
                    col[lane] = 0
            else:
                # A last partial block, or a block across rows: gathered, padded with zeros.
                r = row[lane]
                taken = min(left, BLOCK_WORDS)
                for i in range(BLOCK_WORDS):
                    if i < taken:
                        pad[lane * BLOCK_WORDS + i] = data[base[lane] + r * stride[lane] + c]
                        c += 1
                        if c == width[lane]:
                            r += 1
                            c = 0
                    else:
                        pad[lane * BLOCK_WORDS + i] = 0
                offsets[lane] = -1
                row[lane], col[lane] = r, c
            flags = (last[lane] if left <= BLOCK_WORDS else KEYED_HASH) | (
                CHUNK_START if block == 0 else 0
            )
            params[2 * LANES + lane] = 4 * max(0, min(left, BLOCK_WORDS))
            params[3 * LANES + lane] = flags
        compress16(data, pad, offsets, 0, params, 0xFFFFFFFF, 0, cv)
        for lane in range(LANES):
            chunk = group_first + lane
            left = words[lane] - block * BLOCK_WORDS
            if chunk < chunks and (left <= BLOCK_WORDS and (left > 0 or block == 0)):
                for i in range(8):
                    cvs[chunk * 8 + i] = cv[i * LANES + lane]


@_njit()
def _join_pairs(
    cvs: U32, pairs: I64, count: int, key: U32, out: U32, scratch: U32, lanes: I64
) -> None:
    """For the first `count` pairs p (at most 16), side by side: the parent node over
    cvs[pairs[2p]] ‖ cvs[pairs[2p] + 1] (two chaining values, one block) into
    cvs[pairs[2p + 1]], or, for a leaf's top node (pairs[2p + 1] = -1 - leaf, compressed as
    the root), into out[leaf]."""
    pad = scratch[: LANES * BLOCK_WORDS]
    params = scratch[LANES * BLOCK_WORDS : LANES * BLOCK_WORDS + 4 * LANES]
    cv = scratch[LANES * BLOCK_WORDS + 4 * LANES :]
    offsets = lanes[0:16]
    for lane in range(LANES):
        params[lane] = 0
        params[LANES + lane] = 0
        params[2 * LANES + lane] = 4 * BLOCK_WORDS
        live = lane < count
        offsets[lane] = 8 * pairs[2 * lane] if live else -1
        root = live and pairs[2 * lane + 1] < 0
        params[3 * LANES + lane] = PARENT | KEYED_HASH | (ROOT if root else 0)
    for i in range(8):
        for lane in range(LANES):
            cv[i * LANES + lane] = key[i]
    compress16(cvs, pad, offsets, 0, params, 0xFFFFFFFF, 0, cv)
    for lane in range(count):
        target = pairs[2 * lane + 1]
        if target >= 0:
            for i in range(8):
                cvs[target * 8 + i] = cv[i * LANES + lane]
        else:
            for i in range(8):
                out[(-1 - target) * 8 + i] = cv[i * LANES + lane]


@_njit()
def _hash_task(
    data: U32, starts: I64, heights: I64, widths: I64, strides: I64, first: I64, owner: I64,
    key: U32, leaf0: int, leaf1: int, cvs: U32, out: U32,
) -> None:  # fmt: skip
    """The hashes of leaves leaf0 .. leaf1 - 1 into out: their chunks 16 at a time, then each
    leaf's tree of chunks level by level, its pairs 16 at a time across the leaves, in place
    in cvs (a node i is written after the pairs that read it: 2i ≥ i)."""
    scratch = np.zeros(LANES * (BLOCK_WORDS + 4 + 8), np.uint32)
    lanes = np.zeros(8 * LANES, np.int64)
    begin, end = first[leaf0], first[leaf1]
    for chunk in range(begin, end, LANES):
        _hash_chunk_group(
            data, starts, heights, widths, strides, first, owner, key, chunk,
            min(chunk + LANES, end), cvs, scratch, lanes,
        )  # fmt: skip
    counts = np.empty(leaf1 - leaf0, np.int64)
    most = 0
    for leaf in range(leaf0, leaf1):
        n = first[leaf + 1] - first[leaf]
        counts[leaf - leaf0] = n
        most = max(most, n)
        if n == 1:
            for i in range(8):  # (a loop: a slice copy costs an array's set-up, ~20 ns)
                out[leaf * 8 + i] = cvs[first[leaf] * 8 + i]
    pairs = np.empty(2 * LANES, np.int64)
    while most > 1:
        queued = 0
        for leaf in range(leaf0, leaf1):
            n = counts[leaf - leaf0]
            for i in range(n // 2):
                pairs[2 * queued] = first[leaf] + 2 * i
                pairs[2 * queued + 1] = first[leaf] + i if n > 2 else -1 - leaf
                queued += 1
                if queued == LANES:
                    _join_pairs(cvs, pairs, queued, key, out, scratch, lanes)
                    queued = 0
        if queued:
            _join_pairs(cvs, pairs, queued, key, out, scratch, lanes)
        most = 0
        for leaf in range(leaf0, leaf1):
            n = counts[leaf - leaf0]
            if n > 1 and n % 2:
                # BLAKE3's trees are left-complete: a lone last node goes up a level as it is.
                at, to = (first[leaf] + n - 1) * 8, (first[leaf] + n // 2) * 8
                for i in range(8):
                    cvs[to + i] = cvs[at + i]
            counts[leaf - leaf0] = (n + 1) // 2
            most = max(most, counts[leaf - leaf0])


@_njit()
def _tasks(first: I64) -> I64:
    """Bounds of runs of whole leaves of about TASK_CHUNKS chunks each: task t hashes leaves
    bounds[t] .. bounds[t + 1] - 1."""
    count = first.shape[0] - 1
    bounds = [0]
    for leaf in range(count):
        if first[leaf + 1] - first[bounds[-1]] >= TASK_CHUNKS:
            bounds.append(leaf + 1)
    if bounds[-1] != count:
        bounds.append(count)
    return np.array(bounds, np.int64)


@_njit(parallel=True)
def _hash_parallel(
    data: U32, starts: I64, heights: I64, widths: I64, strides: I64, first: I64, owner: I64,
    key: U32, bounds: I64, cvs: U32, out: U32,
) -> None:  # fmt: skip
    """Every task of `bounds` on every core."""
    for task in prange(bounds.shape[0] - 1):
        _hash_task(
            data, starts, heights, widths, strides, first, owner, key, bounds[task],
            bounds[task + 1], cvs, out,
        )  # fmt: skip


@_njit()
def _hash_serial(
    data: U32, starts: I64, heights: I64, widths: I64, strides: I64, first: I64, owner: I64,
    key: U32, bounds: I64, cvs: U32, out: U32,
) -> None:  # fmt: skip
    """`_hash_parallel` on the calling thread."""
    for task in range(bounds.shape[0] - 1):
        _hash_task(
            data, starts, heights, widths, strides, first, owner, key, bounds[task],
            bounds[task + 1], cvs, out,
        )  # fmt: skip


@_njit()
def _plan(heights: I64, widths: I64) -> tuple[I64, I64, I64]:
    """Each leaf's first chunk, each chunk's leaf, and the tasks' bounds."""
    first = _chunk_counts(heights, widths)
    owner = _chunk_owners(first)
    return first, owner, _tasks(first)


def _hash_leaves(
    data: U32, starts: I64, heights: I64, widths: I64, strides: I64, key: U32, parallel: bool
) -> U32:
    """Every leaf's hash (8 words a leaf): chunks counted, tasks cut, hashed.

    The parallel kernel is called from Python, never from another compiled function: a cached
    function that calls a parallel one, loaded in a process whose threading layer has not
    started, crashes it (measured: a segmentation fault in a fresh process)."""
    first, owner, bounds = _plan(heights, widths)
    cvs = np.empty(8 * owner.shape[0], np.uint32)
    out = np.empty(8 * heights.shape[0], np.uint32)
    run = _hash_parallel if parallel else _hash_serial
    run(data, starts, heights, widths, strides, first, owner, key, bounds, cvs, out)
    return out


@_njit()
def _hash_runs(words: U32, leaf_words: int, key: U32) -> U32:
    """`_hash_leaves` of `words` cut in runs of `leaf_words` (one row each), on this thread:
    the leaves' geometry made here, so one compiled call hashes them all."""
    count = words.shape[0] // leaf_words
    starts = np.arange(count) * leaf_words
    heights = np.ones(count, np.int64)
    widths = np.full(count, leaf_words, np.int64)
    first, owner, bounds = _plan(heights, widths)
    cvs = np.empty(8 * owner.shape[0], np.uint32)
    out = np.empty(8 * count, np.uint32)
    _hash_serial(words, starts, heights, widths, widths, first, owner, key, bounds, cvs, out)
    return out


_KEY_WORDS: dict[bytes, U32] = {}


def run_hashes(data: I32, leaf_words: int, key: bytes) -> bytes:
    """BLAKE3-keyed(key, leaf) of each run of `leaf_words` int32 words of the flat C-contiguous
    `data`, one after the other (the hashes joined, 32 bytes a leaf), in one compiled call on
    the calling thread: for a few small leaves that lie end to end (an audit's tiles), where
    `tile_hashes`' geometry and checks cost more than the hashing. Equal to `tile_hashes(
    data.reshape(-1, leaf_words), 1, leaf_words, key)`: a leaf's bytes do not depend on how
    its rows are cut."""
    if data.dtype != np.int32 or data.ndim != 1 or not data.flags.c_contiguous:
        raise ValueError(f"runs are cut from a flat C-contiguous int32 array, not {data.dtype}")
    if leaf_words < 1 or data.size % leaf_words:
        raise ValueError(f"{data.size} words are not whole runs of {leaf_words}")
    key_words = _KEY_WORDS.get(key)
    if key_words is None:
        key_words = _KEY_WORDS.setdefault(key, np.frombuffer(key, "<u4").astype(np.uint32))
    return bytes(_hash_runs(data.view(np.uint32), leaf_words, key_words).data)


@_njit()
def _inside(size: int, starts: I64, heights: I64, widths: I64, strides: I64) -> bool:
    """Whether every leaf's rows lie inside `size` words without overlapping each other."""
    for leaf in range(starts.shape[0]):
        height, width = heights[leaf], widths[leaf]
        if starts[leaf] < 0 or height < 0 or width < 0 or (height > 1 and strides[leaf] < width):
            return False
        # start + (height - 1)·stride + width ≤ size, in terms that cannot wrap in int64.
        room = size - starts[leaf]
        if width > room or (height > 1 and strides[leaf] > (room - width) // (height - 1)):
            return False
    return True


@_njit()
def _tile_geometry(
    rows: int, cols: int, row_block: int, col_block: int
) -> tuple[I64, I64, I64, I64]:
    """(starts, heights, widths, strides) of the row_block × col_block tiles of a rows × cols
    matrix, tile-major."""
    row_tiles = (rows + row_block - 1) // row_block
    col_tiles = (cols + col_block - 1) // col_block
    count = row_tiles * col_tiles
    starts = np.empty(count, np.int64)
    heights = np.empty(count, np.int64)
    widths = np.empty(count, np.int64)
    strides = np.full(count, cols, np.int64)
    for r in range(row_tiles):
        for c in range(col_tiles):
            leaf = r * col_tiles + c
            top, left = r * row_block, c * col_block
            starts[leaf] = top * cols + left
            heights[leaf] = min(row_block, rows - top)
            widths[leaf] = min(col_block, cols - left)
    return starts, heights, widths, strides


def leaf_hashes_at(
    data: I32, starts: I64, heights: I64, widths: I64, strides: I64, key: bytes
) -> U8:
    """BLAKE3-keyed(key, leaf) of every leaf, as a (leaves, 32) uint8 array.

    Leaf i is `heights[i]` rows of `widths[i]` int32 words, row r starting at word
    `starts[i] + r · strides[i]` of the flat C-contiguous `data` (read in place). The caller
    keeps every leaf inside `data` (`tile_hashes` and `layout_hashes` do).
    """
    if not len(starts) == len(heights) == len(widths) == len(strides):
        raise ValueError("a leaf is a start, a height, a width and a stride: lengths differ")
    if not _inside(data.size, starts, heights, widths, strides):
        raise ValueError(f"a leaf lies outside the {data.size} words of the result")
    words = np.ascontiguousarray(data).reshape(-1).view(np.uint32)
    key_words = np.frombuffer(key, "<u4").astype(np.uint32)
    parallel = data.nbytes >= PARALLEL_BYTES
    out = _hash_leaves(words, starts, heights, widths, strides, key_words, parallel)
    return out.view(np.uint8).reshape(-1, 32)


def tile_hashes(matrix: I32, row_block: int, col_block: int, key: bytes) -> U8:
    """BLAKE3-keyed(key, tile) of every row_block × col_block tile of `matrix`, tile-major.

    A tile's bytes are its rows of int32, little-endian, one after the other (`jobs._leaf`);
    the result is a (tiles, 32) uint8 array. `matrix` is read in place (C-contiguous int32).
    """
    if matrix.ndim != 2 or matrix.dtype != np.int32:
        raise ValueError(
            f"tiles are cut from a 2-D int32 matrix, not {matrix.dtype} {matrix.shape}"
        )
    if row_block < 1 or col_block < 1:
        raise ValueError(f"a tile is at least 1 × 1, not {row_block} × {col_block}")
    matrix = np.ascontiguousarray(matrix)
    rows, cols = matrix.shape
    col_block = min(col_block, max(cols, 1))
    row_block = min(row_block, max(rows, 1))
    starts, heights, widths, strides = _tile_geometry(rows, cols, row_block, col_block)
    return leaf_hashes_at(matrix, starts, heights, widths, strides, key)


@_njit()
def _rising(bounds: I64, size: int) -> bool:
    """Whether bounds start at 0 or more, never fall and end at `size` or less."""
    for i in range(1, bounds.shape[0]):
        if bounds[i] < bounds[i - 1]:
            return False
    return bool(bounds[0] >= 0 and bounds[-1] <= size)


@dataclass(frozen=True)
class LeafHashing:
    """One layer's leaves for a kernel to hash as it computes them: each leaf's byte offset and
    length in the layer's result laid out in leaf order (rising), and the array (leaves × 32
    uint8) their hashes go into (the CPU kernels' and the CUDA kernels' shared interface)."""

    starts: np.ndarray
    lengths: np.ndarray
    out: np.ndarray


def band_leaves(hashing: LeafHashing, offset: int, size: int) -> tuple[int, int, I64, I64]:
    """(first, last, starts, sizes): the leaves first .. last - 1 lying in bytes
    [offset, offset + size) of the layer's result, their starts and sizes in int32 words from
    `offset`; ValueError where a leaf crosses the part's bounds or is not whole words."""
    first = int(np.searchsorted(hashing.starts, offset))
    # Empty leaves where the part ends are hashed with it too (none would be after the last).
    last = int(np.searchsorted(hashing.starts, offset + size, side="right"))
    while last > first and hashing.starts[last - 1] == offset + size and hashing.lengths[last - 1]:
        last -= 1
    starts = np.asarray(hashing.starts[first:last], np.int64) - offset
    lengths = np.asarray(hashing.lengths[first:last], np.int64)
    if (
        (first < len(hashing.starts) and hashing.starts[first] != offset and size)
        or np.any(starts % 4)
        or np.any(lengths % 4)
        or (last > first and starts[-1] + lengths[-1] > size)
    ):
        raise ValueError(f"leaves to hash do not tile bytes {offset} to {offset + size}")
    return first, last, starts // 4, lengths // 4


def layout_hashes(data: I32, bounds: I64, key: bytes) -> U8:
    """BLAKE3-keyed(key, leaf) of the contiguous leaves data[bounds[i] : bounds[i + 1]] of a
    flat int32 result laid out in leaf order, as a (leaves, 32) uint8 array."""
    if data.ndim != 1 or data.dtype != np.int32:
        raise ValueError(f"a result in leaf order is a flat int32 array, not {data.dtype}")
    bounds = np.ascontiguousarray(bounds, np.int64)
    if len(bounds) < 1 or not _rising(bounds, data.size):
        raise ValueError("leaf bounds must rise from 0 to at most the result's size")
    starts, sizes = bounds[:-1], np.diff(bounds)
    return leaf_hashes_at(data, starts, np.ones_like(sizes), sizes, sizes, key)
