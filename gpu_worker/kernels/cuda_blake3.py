"""Result leaves hashed on the GPU: BLAKE3 in keyed mode (`merkle.LEAF_KEY`), one leaf a thread.

A leaf hash is BLAKE3-keyed(LEAF_KEY, leaf) (`runtime.primitives.merkle.leaf_hash`). From the
host, one `blake3` call costs about 1.5 to 2 µs whatever the leaf's size, and the calls hold the
GIL: a job of thousands of small tiles (4,096 tiles of 4 KiB at n = 2,048) spends more time in
those calls than a GPU spends computing it. On the GPU each thread hashes one leaf where the
kernel left it, and only 32 bytes a leaf come back with the result.

The hashing follows the BLAKE3 paper: 1,024-byte chunks of 64-byte blocks (the first block of a
chunk flagged CHUNK_START, its last CHUNK_END, the chunk's index as counter), chunk chaining
values merged pairwise as the chunks complete (PARENT nodes, counter 0), the last compression
flagged ROOT; every compression keyed (KEYED_HASH, the key as the first chaining value). Tested
in Numba's CUDA simulator against the `blake3` package (`tests/gpu_worker/test_cuda_pipeline.py`),
leaves of any length, chunk and block boundaries included. Words are held in int64 and masked to
32 bits (what Numba does with uint32 arithmetic anyway, without signed/unsigned surprises).
"""

from __future__ import annotations

import functools
import types
from typing import Any, Final

import numpy as np
from numba import cuda as numba_cuda

from runtime.primitives.merkle import LEAF_KEY

cuda: Any = numba_cuda
"""numba.cuda, untyped: its kernel API is made at run time (the simulator swaps it in kernels)."""

IV: Final = (
    0x6A09E667,
    0xBB67AE85,
    0x3C6EF372,
    0xA54FF53A,
    0x510E527F,
    0x9B05688C,
    0x1F83D9AB,
    0x5BE0CD19,
)
PERMUTATION: Final = (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)
CHUNK_START: Final = 1
CHUNK_END: Final = 2
PARENT: Final = 4
ROOT: Final = 8
KEYED_HASH: Final = 16
MASK: Final = 0xFFFFFFFF
CHUNK_LEN: Final = 1024
BLOCK_LEN: Final = 64
STACK_DEPTH: Final = 40
"""Chaining values a leaf's tree may hold pending: 2^40 chunks, far above MAX_LEAF_BYTES."""


def key_words(key: bytes = LEAF_KEY) -> np.ndarray:
    """The 32-byte key as BLAKE3's eight little-endian words (the first chaining value)."""
    return np.frombuffer(key, "<u4").astype(np.int64)


def _rotr(x: Any, n: Any) -> Any:
    return ((x >> n) | (x << (32 - n))) & MASK


def _g(v: Any, a: Any, b: Any, c: Any, d: Any, x: Any, y: Any) -> None:
    v[a] = (v[a] + v[b] + x) & MASK
    v[d] = _rotr(v[d] ^ v[a], 16)
    v[c] = (v[c] + v[d]) & MASK
    v[b] = _rotr(v[b] ^ v[c], 12)
    v[a] = (v[a] + v[b] + y) & MASK
    v[d] = _rotr(v[d] ^ v[a], 8)
    v[c] = (v[c] + v[d]) & MASK
    v[b] = _rotr(v[b] ^ v[c], 7)


def _compress(cv: Any, m: Any, counter: Any, block_len: Any, flags: Any, v: Any, t: Any) -> None:
    """cv = the first 8 words of compress(cv, m, counter, block_len, flags); m is permuted in
    place (it is scratch), v and t are 16-word scratch arrays."""
    for i in range(8):
        v[i] = cv[i]
    v[8] = 0x6A09E667
    v[9] = 0xBB67AE85
    v[10] = 0x3C6EF372
    v[11] = 0xA54FF53A
    v[12] = counter & MASK
    v[13] = (counter >> 32) & MASK
    v[14] = block_len
    v[15] = flags
    for r in range(7):
        _g(v, 0, 4, 8, 12, m[0], m[1])
        _g(v, 1, 5, 9, 13, m[2], m[3])
        _g(v, 2, 6, 10, 14, m[4], m[5])
        _g(v, 3, 7, 11, 15, m[6], m[7])
        _g(v, 0, 5, 10, 15, m[8], m[9])
        _g(v, 1, 6, 11, 12, m[10], m[11])
        _g(v, 2, 7, 8, 13, m[12], m[13])
        _g(v, 3, 4, 9, 14, m[14], m[15])
        if r < 6:
            for i in range(16):
                t[i] = m[i]
            m[0] = t[2]
            m[1] = t[6]
            m[2] = t[3]
            m[3] = t[10]
            m[4] = t[7]
            m[5] = t[0]
            m[6] = t[4]
            m[7] = t[13]
            m[8] = t[1]
            m[9] = t[11]
            m[10] = t[12]
            m[11] = t[5]
            m[12] = t[9]
            m[13] = t[14]
            m[14] = t[15]
            m[15] = t[8]
    for i in range(8):
        cv[i] = v[i] ^ v[i + 8]


def _load_block(data: Any, start: Any, stop: Any, m: Any) -> None:
    """m = the 16 little-endian words of data[start:stop] (at most 64 bytes), zero-padded."""
    for w in range(16):
        word = np.int64(0)
        for b in range(4):
            p = start + 4 * w + b
            if p < stop:
                word |= np.int64(data[p]) << (8 * b)
        m[w] = word


def _hash_leaf(
    data: Any,
    start: Any,
    length: Any,
    key: Any,
    out: Any,
    row: Any,
    cv: Any,
    m: Any,
    v: Any,
    t: Any,
    stack: Any,
) -> None:
    """out[row] = the 32 bytes of BLAKE3-keyed(key, data[start:start + length]).

    cv: 8 words; m, v, t: 16 words each; stack: STACK_DEPTH × 8 words (pending chaining
    values): scratch the caller allocates (a GPU thread's local arrays).
    """
    chunks = max((length + CHUNK_LEN - 1) // CHUNK_LEN, 1)
    depth = 0
    for chunk in range(chunks):
        c0 = start + chunk * CHUNK_LEN
        c1 = min(c0 + CHUNK_LEN, start + length)
        for i in range(8):
            cv[i] = key[i]
        blocks = max((c1 - c0 + BLOCK_LEN - 1) // BLOCK_LEN, 1)
        for block in range(blocks):
            b0 = c0 + block * BLOCK_LEN
            b1 = min(b0 + BLOCK_LEN, c1)
            _load_block(data, b0, b1, m)
            flags = KEYED_HASH
            if block == 0:
                flags |= CHUNK_START
            if block == blocks - 1:
                flags |= CHUNK_END
                if chunks == 1:
                    flags |= ROOT
            _compress(cv, m, chunk, b1 - b0, flags, v, t)
        if chunk == chunks - 1:
            break
        # A completed chunk that is not the last: merge while the count of chunks is even.
        total = chunk + 1
        while total % 2 == 0:
            depth -= 1
            for i in range(8):
                m[i] = stack[depth, i]
                m[i + 8] = cv[i]
            for i in range(8):
                cv[i] = key[i]
            _compress(cv, m, 0, BLOCK_LEN, PARENT | KEYED_HASH, v, t)
            total //= 2
        for i in range(8):
            stack[depth, i] = cv[i]
        depth += 1
    # The last chunk's chaining value merges with every pending one; the last merge is the root.
    while depth > 0:
        depth -= 1
        for i in range(8):
            m[i] = stack[depth, i]
            m[i + 8] = cv[i]
        for i in range(8):
            cv[i] = key[i]
        flags = PARENT | KEYED_HASH
        if depth == 0:
            flags |= ROOT
        _compress(cv, m, 0, BLOCK_LEN, flags, v, t)
    for i in range(8):
        for b in range(4):
            out[row, 4 * i + b] = (cv[i] >> (8 * b)) & 0xFF


def _hash_leaves_kernel(data: Any, starts: Any, lengths: Any, key: Any, out: Any) -> None:
    """out[row] = the hash of leaf `row`: data[starts[row]:starts[row] + lengths[row]]."""
    row = cuda.grid(1)
    if row < starts.shape[0]:
        cv = cuda.local.array(8, np.int64)
        m = cuda.local.array(16, np.int64)
        v = cuda.local.array(16, np.int64)
        t = cuda.local.array(16, np.int64)
        stack = cuda.local.array((STACK_DEPTH, 8), np.int64)
        _hash_leaf(data, starts[row], lengths[row], key, out, row, cv, m, v, t, stack)


_PARTS: Final = (_rotr, _g, _compress, _load_block, _hash_leaf)


def _compiled(jit: Any, entry: Any, entry_jit: Any) -> Any:
    """`entry` compiled by `entry_jit`, calling the parts compiled by `jit` (each function is
    rebound to a namespace of its own target's versions, so the same source could serve another
    target: under the simulator the parts run as Python)."""
    namespace = dict(globals())
    for part in (*_PARTS, entry):
        clone = types.FunctionType(part.__code__, namespace, part.__name__, part.__defaults__)
        namespace[part.__name__] = (entry_jit if part is entry else jit)(clone)
    return namespace[entry.__name__]


@functools.cache
def device_hasher() -> Any:
    """The CUDA kernel (launched as [blocks, threads, stream](data, starts, lengths, key, out))."""
    return _compiled(cuda.jit(device=True), _hash_leaves_kernel, cuda.jit)
