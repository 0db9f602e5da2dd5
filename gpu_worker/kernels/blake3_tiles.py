"""Leaf hashes of a result's tiles, read in place from the result matrix: BLAKE3 in Numba.

A gemm_i8 leaf is a tile of C (rows × columns, row-major int32, `gpu_worker.jobs.leaf_tile`), and
its hash is BLAKE3-keyed(LEAF_KEY, tile bytes) (`runtime.primitives.merkle`). Small tiles are
where the `blake3` package is weakest: about 0.9 µs a call, and a 4 KiB leaf has only 4 chunks to
hash side by side, so a 4 KiB tile costs 2.5 µs (1.5 GiB/s); and a tile is not contiguous in C,
so the package would need a copy first. This kernel hashes LANES tiles side by side instead (one
uint32 lane per tile, chunk by chunk in lockstep, which LLVM vectorizes), each tile gathered into
a small scratch buffer from its rows of C, and groups of tiles on every core for a large result:
about 1.2–1.4 GiB/s a core on the development machine (CPU time), whatever the tile size, with
no copy of C. (The same lanes hashing whole chunks without the tile bookkeeping ran at 2.3 GiB/s:
there is room left.) From 16 KiB tiles on, the package's own SIMD is faster even after a copy,
and `commitment.tile_leaf_hashes` uses it there.

It is the full BLAKE3 (the specification's chunks of 1,024 bytes with their counters, blocks of 64
zero-padded at the end, parent nodes over the chunk chaining values, the ROOT flag on the last
compression), in keyed mode; tested equal to the `blake3` package and to `merkle.leaf_hash`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt
from numba import prange

from gpu_worker.kernels.blake3_nodes import _g as _g1

LANES: Final = 16
"""Tiles hashed side by side: 16 uint32 lanes, one AVX-512 register (two AVX2 ones)."""
CHUNK_WORDS: Final = 256
BLOCK_WORDS: Final = 16
CHUNK_START: Final = 1
CHUNK_END: Final = 2
PARENT: Final = 4
ROOT: Final = 8
KEYED_HASH: Final = 16
IV: Final = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A)
PARALLEL_BYTES: Final = 8 * 1024 * 1024
"""From this much data on, the tiles are hashed on every core. Measured on the shared 2-core
machine: a 4 MiB result took 3.3 ms on one thread and 5–6 ms on two (the parallel call waits for
the busier core), a 16 MiB one 12.7 ms on one and 6.8 ms on two."""
MAX_DEPTH: Final = 54
"""Chaining values a BLAKE3 tree keeps on its stack at most (2^54 chunks)."""


def _schedule() -> npt.NDArray[np.int64]:
    permutation = (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)
    order, rows = list(range(16)), []
    for _ in range(7):
        rows.append(order)
        order = [order[p] for p in permutation]
    return np.array(rows, dtype=np.int64)


SCHEDULE: Final = _schedule()
"""The message word each of the 7 rounds reads at each of its 16 positions."""

U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
_F = TypeVar("_F", bound=Callable[..., Any])


def _njit(*, inline: bool = False, parallel: bool = False) -> Callable[[_F], _F]:
    """numba.njit, cached on disk, without the GIL, keeping the function's type for mypy."""
    jit = numba.njit(
        cache=True, nogil=True, parallel=parallel, inline="always" if inline else "never"
    )
    return cast(Callable[[_F], _F], jit)


@_njit(inline=True)
def _g(v: U32, a: int, b: int, c: int, d: int, mx: U32, my: U32) -> None:
    """BLAKE3's G on state words a, b, c, d of every lane (each cast back to uint32)."""
    for lane in range(LANES):
        x = np.uint32(v[a, lane] + v[b, lane] + mx[lane])
        y = np.uint32(v[d, lane] ^ x)
        y = np.uint32((y >> 16) | (y << 16))
        z = np.uint32(v[c, lane] + y)
        w = np.uint32(v[b, lane] ^ z)
        w = np.uint32((w >> 12) | (w << 20))
        x = np.uint32(x + w + my[lane])
        y = np.uint32(y ^ x)
        y = np.uint32((y >> 8) | (y << 24))
        z = np.uint32(z + y)
        w = np.uint32(w ^ z)
        w = np.uint32((w >> 7) | (w << 25))
        v[a, lane], v[b, lane], v[c, lane], v[d, lane] = x, w, z, y


@_njit(inline=True)
def _rounds(v: U32, m: U32) -> None:
    """The 7 rounds of the compression function on every lane's state `v` and message `m`."""
    for r in range(7):
        s = SCHEDULE[r]
        _g(v, 0, 4, 8, 12, m[s[0]], m[s[1]])
        _g(v, 1, 5, 9, 13, m[s[2]], m[s[3]])
        _g(v, 2, 6, 10, 14, m[s[4]], m[s[5]])
        _g(v, 3, 7, 11, 15, m[s[6]], m[s[7]])
        _g(v, 0, 5, 10, 15, m[s[8]], m[s[9]])
        _g(v, 1, 6, 11, 12, m[s[10]], m[s[11]])
        _g(v, 2, 7, 8, 13, m[s[12]], m[s[13]])
        _g(v, 3, 4, 9, 14, m[s[14]], m[s[15]])


@_njit()
def _parent(left: U32, right: U32, key: U32, flags: int, out: U32) -> None:
    """out = the keyed parent node over two chaining values: one compression, on scalars."""
    k = np.empty(8, dtype=np.int64)  # words as int64, as in blake3_nodes: no float promotion
    m = np.empty(16, dtype=np.int64)
    for i in range(8):
        k[i] = key[i]
        m[i] = left[i]
        m[8 + i] = right[i]
    s0, s1, s2, s3, s4, s5, s6, s7 = k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]
    s8, s9, s10, s11 = IV[0], IV[1], IV[2], IV[3]
    s12, s13, s14, s15 = 0, 0, 64, flags
    for r in range(7):
        s = SCHEDULE[r]
        s0, s4, s8, s12 = _g1(s0, s4, s8, s12, m[s[0]], m[s[1]])
        s1, s5, s9, s13 = _g1(s1, s5, s9, s13, m[s[2]], m[s[3]])
        s2, s6, s10, s14 = _g1(s2, s6, s10, s14, m[s[4]], m[s[5]])
        s3, s7, s11, s15 = _g1(s3, s7, s11, s15, m[s[6]], m[s[7]])
        s0, s5, s10, s15 = _g1(s0, s5, s10, s15, m[s[8]], m[s[9]])
        s1, s6, s11, s12 = _g1(s1, s6, s11, s12, m[s[10]], m[s[11]])
        s2, s7, s8, s13 = _g1(s2, s7, s8, s13, m[s[12]], m[s[13]])
        s3, s4, s9, s14 = _g1(s3, s4, s9, s14, m[s[14]], m[s[15]])
    out[0], out[1], out[2], out[3] = s0 ^ s8, s1 ^ s9, s2 ^ s10, s3 ^ s11
    out[4], out[5], out[6], out[7] = s4 ^ s12, s5 ^ s13, s6 ^ s14, s7 ^ s15


@_njit()
def _hash_group(
    matrix: U32, row_block: int, col_block: int, key: U32, group: int, out: U32
) -> None:
    """The tiles group·LANES .. group·LANES + LANES (those that exist), side by side."""
    rows, cols = matrix.shape
    col_tiles = (cols + col_block - 1) // col_block
    leaves = ((rows + row_block - 1) // row_block) * col_tiles
    max_words = row_block * col_block
    max_chunks = max(1, (max_words + CHUNK_WORDS - 1) // CHUNK_WORDS)
    # Not zeroed whole (that would be a pass over as many bytes as the tiles): only each tile's
    # last block is padded with zeros below.
    scratch = np.empty((LANES, max_chunks * CHUNK_WORDS), dtype=np.uint32)
    words = np.zeros(LANES, dtype=np.int64)
    cvs = np.zeros((LANES, max_chunks, 8), dtype=np.uint32)
    for lane in range(LANES):
        leaf = group * LANES + lane
        if leaf >= leaves:
            continue
        top, left = (leaf // col_tiles) * row_block, (leaf % col_tiles) * col_block
        height, width = min(row_block, rows - top), min(col_block, cols - left)
        for r in range(height):
            for c in range(width):
                scratch[lane, r * width + c] = matrix[top + r, left + c]
        words[lane] = height * width
        for pad in range(height * width, -(-height * width // BLOCK_WORDS) * BLOCK_WORDS):
            scratch[lane, pad] = 0
    chunks = np.maximum((words + CHUNK_WORDS - 1) // CHUNK_WORDS, 1)
    v = np.empty((16, LANES), dtype=np.uint32)
    m = np.empty((16, LANES), dtype=np.uint32)
    cv = np.empty((8, LANES), dtype=np.uint32)
    flags = np.empty(LANES, dtype=np.uint32)
    lengths = np.empty(LANES, dtype=np.uint32)
    longest = words.max()
    for chunk in range(chunks.max()):
        for lane in range(LANES):
            for i in range(8):
                cv[i, lane] = key[i]
        start = chunk * CHUNK_WORDS
        for block in range(CHUNK_WORDS // BLOCK_WORDS):
            first = start + block * BLOCK_WORDS
            if block > 0 and first >= longest:
                break  # every lane's chunk has ended: its chaining value is final
            for w in range(16):
                for lane in range(LANES):
                    m[w, lane] = scratch[lane, first + w]
            for lane in range(LANES):
                # Blocks past a lane's chunk end are computed and dropped; its last block
                # carries CHUNK_END, and ROOT where the whole leaf is one chunk.
                remaining = words[lane] - first
                last = remaining <= BLOCK_WORDS or block == CHUNK_WORDS // BLOCK_WORDS - 1
                flag = KEYED_HASH | (CHUNK_START if block == 0 else 0)
                if last:
                    flag |= CHUNK_END | (ROOT if chunks[lane] == 1 else 0)
                flags[lane] = flag
                lengths[lane] = 4 * min(max(remaining, 0), BLOCK_WORDS)
            for i in range(8):
                for lane in range(LANES):
                    v[i, lane] = cv[i, lane]
            for i in range(4):
                for lane in range(LANES):
                    v[8 + i, lane] = IV[i]
            for lane in range(LANES):
                v[12, lane] = chunk
                v[13, lane] = 0
                v[14, lane] = lengths[lane]
                v[15, lane] = flags[lane]
            _rounds(v, m)
            for lane in range(LANES):
                live = words[lane] - first > 0 or (first == 0 and words[lane] == 0)
                if live and chunk < chunks[lane]:
                    for i in range(8):
                        cv[i, lane] = v[i, lane] ^ v[i + 8, lane]
        for lane in range(LANES):
            if chunk < chunks[lane]:
                for i in range(8):
                    cvs[lane, chunk, i] = cv[i, lane]
    stack = np.empty((MAX_DEPTH, 8), dtype=np.uint32)
    for lane in range(LANES):
        leaf = group * LANES + lane
        if leaf >= leaves:
            continue
        n = chunks[lane]
        if n == 1:
            out[leaf] = cvs[lane, 0]
            continue
        depth = 0
        for chunk in range(n - 1):
            stack[depth] = cvs[lane, chunk]
            depth += 1
            total = chunk + 1
            while total & 1 == 0:
                depth -= 1
                below = stack[depth - 1]
                _parent(below, stack[depth], key, PARENT | KEYED_HASH, below)
                total >>= 1
        node = cvs[lane, n - 1].copy()
        while depth > 0:
            depth -= 1
            flag = PARENT | KEYED_HASH | (ROOT if depth == 0 else 0)
            _parent(stack[depth], node, key, flag, node)
        out[leaf] = node


@_njit(parallel=True)
def _tile_hashes(matrix: U32, row_block: int, col_block: int, key: U32, out: U32) -> None:
    """out[leaf] = BLAKE3-keyed(key, tile bytes) for every tile of `matrix`, tile-major."""
    for group in prange((out.shape[0] + LANES - 1) // LANES):
        _hash_group(matrix, row_block, col_block, key, group, out)


@_njit()
def _tile_hashes_serial(matrix: U32, row_block: int, col_block: int, key: U32, out: U32) -> None:
    """`_tile_hashes` on the calling thread alone."""
    for group in range((out.shape[0] + LANES - 1) // LANES):
        _hash_group(matrix, row_block, col_block, key, group, out)


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
    rows, cols = matrix.shape
    col_block = min(col_block, max(cols, 1))
    row_block = min(row_block, max(rows, 1))
    leaves = -(-rows // row_block) * -(-cols // col_block)
    out = np.empty((leaves, 8), dtype="<u4")
    key_words = np.frombuffer(key, "<u4").astype(np.uint32)
    # A parallel call waits for every core to take its share: on a busy machine that can be
    # milliseconds, more than a small matrix takes on one thread.
    run = _tile_hashes if matrix.nbytes >= PARALLEL_BYTES else _tile_hashes_serial
    run(np.ascontiguousarray(matrix).view(np.uint32), row_block, col_block, key_words, out)
    return out.view(np.uint8)
