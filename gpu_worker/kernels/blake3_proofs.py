"""Merkle proofs walked from leaf to top as a Numba kernel: every proof of an audit in one call.

A proof of leaf `index` among `leaf_count` leaves climbs the tree one level at a time, hashing
the running node with the proof's next sibling (on the left or the right as the position says)
wherever the level has a sibling, and promoting it unchanged where it is a lone last node: the
walk of `runtime.primitives.merkle.verify_hash_proof`. The proofs climb 16 side by side, each
level's hashes one BLAKE3 compression in 16 lanes (`gpu_worker.kernels.blake3_lanes`): from
Python one hash costs about 0.9 µs a call, so the 16 proofs of 12 hashes an audit of 4,096
leaves checks cost about 0.18 ms that way, one at a time compiled about 25 µs, and here 12
compressions of 16 lanes.

The kernel gives each proof's top node (the node `bind_count` binds to the leaf count) and a
status: 0 when the proof has exactly the siblings the walk used, TOO_SHORT or TOO_LONG when not.
`walk_proofs` is the kernel as a `merkle.ProofWalk`: `merkle.verify_hash_proofs(...,
walk=walk_proofs)` checks an audit's proofs with the same decisions as checking them one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate, chain
from typing import Final

import numba
import numpy as np

from gpu_worker.kernels import kernel_cache  # noqa: F401  (stamps the kernels' cache)
from gpu_worker.kernels.blake3_lanes import LANES, compress16
from gpu_worker.kernels.blake3_nodes import BLOCK_LEN, I64, NODE_FLAGS, U8, U32
from runtime.primitives.merkle import HASH_LEN, NODE_KEY

TOO_SHORT: Final = 1
TOO_LONG: Final = 2
_NODE_WORDS: Final = np.frombuffer(NODE_KEY, "<u4")
_NO_SIBLINGS: Final = np.frombuffer(bytes(HASH_LEN), "<u4").reshape(-1, 8)[:0]


@numba.njit(cache=True, nogil=True)
def _walk(
    hashes: U32, indices: I64, leaf_count: int, siblings: U32, starts: I64, key: U32, tops: U32
) -> I64:
    """tops[p] = proof p's top node (8 words), walking siblings[starts[p]:starts[p + 1]] up from
    hashes[p] at position indices[p]; the status of each proof. Sixteen proofs climb side by
    side, a level at a time: every proof of one tree is at the same level width, so a level's
    hashes of 16 proofs are one `compress16` (a lane whose proof has no sibling at this level,
    or has stopped, computes a node nobody reads)."""
    count = hashes.shape[0]
    status = np.zeros(count, np.int64)
    pad = np.zeros(LANES * 16, np.uint32)
    params = np.zeros(4 * LANES, np.uint32)
    cv = np.empty(8 * LANES, np.uint32)
    offsets = np.full(LANES, -1, np.int64)
    pos = np.empty(LANES, np.int64)
    used = np.empty(LANES, np.int64)
    hashed = np.zeros(LANES, np.bool_)
    for lane in range(LANES):
        params[2 * LANES + lane] = BLOCK_LEN
        params[3 * LANES + lane] = NODE_FLAGS
    for first in range(0, count, LANES):
        lanes = min(LANES, count - first)
        for lane in range(lanes):
            tops[first + lane] = hashes[first + lane]
            pos[lane] = indices[first + lane]
            used[lane] = starts[first + lane]
        width = leaf_count
        while width > 1:
            any_hashed = False
            for lane in range(lanes):
                p = first + lane
                hashed[lane] = False
                if status[p] != 0 or (pos[lane] ^ 1) >= width:
                    continue
                if used[lane] >= starts[p + 1]:
                    status[p] = TOO_SHORT
                    continue
                at = 16 * lane if pos[lane] % 2 == 0 else 16 * lane + 8
                other = 16 * lane + 8 if pos[lane] % 2 == 0 else 16 * lane
                pad[at : at + 8] = tops[p]
                pad[other : other + 8] = siblings[used[lane]]
                used[lane] += 1
                hashed[lane] = True
                any_hashed = True
            if any_hashed:
                for i in range(8):
                    for lane in range(LANES):
                        cv[i * LANES + lane] = key[i]
                compress16(pad, pad, offsets, 0, params, 0xFFFFFFFF, 0, cv)
                for lane in range(lanes):
                    if hashed[lane]:
                        for i in range(8):
                            tops[first + lane, i] = cv[i * LANES + lane]
            for lane in range(lanes):
                pos[lane] //= 2
            width = (width + 1) // 2
        for lane in range(lanes):
            p = first + lane
            if status[p] == 0 and used[lane] != starts[p + 1]:
                status[p] = TOO_LONG
    return status


def _words(data: bytes) -> U32:
    return np.frombuffer(data, "<u4").reshape(-1, 8)


def _joined(
    hashes: Sequence[bytes], indices: Sequence[int], proofs: Sequence[Sequence[bytes]]
) -> tuple[U32, I64]:
    """The hashes and then every proof's siblings as one array of 8-word rows, and the indices
    and then the proofs' starts (counted from the first sibling's row) as one int64 array:
    the compiled walk's input, its counts and byte lengths checked."""
    count = len(hashes)
    if len(indices) != count or len(proofs) != count:
        raise ValueError(f"{count} hashes, {len(indices)} indices and {len(proofs)} proofs")
    meta = np.fromiter(
        chain(indices, accumulate(map(len, proofs), initial=count)), np.int64, 2 * count + 1
    )
    joined = b"".join(chain(hashes, chain.from_iterable(proofs)))
    # The walk reads raw words: a buffer whose len() is not its byte count must not reach it.
    if len(joined) != HASH_LEN * int(meta[-1]):
        raise ValueError("every hash and sibling must be exactly 32 bytes")
    return (_words(joined) if joined else _NO_SIBLINGS), meta


def proof_tops(
    hashes: Sequence[bytes],
    indices: Sequence[int],
    leaf_count: int,
    proofs: Sequence[Sequence[bytes]],
) -> tuple[U8, I64]:
    """Each proof's top node, as a (P, 32) uint8 array, and its status (0, TOO_SHORT, TOO_LONG).

    The caller has checked what the walk assumes: every index below leaf_count, and leaf_count
    below 2^63 (the byte counts are checked here).
    """
    words, meta = _joined(hashes, indices, proofs)
    count = len(hashes)
    tops = np.empty((count, 8), np.uint32)
    status = _walk(
        words[:count], meta[:count], leaf_count, words[count:], meta[count:] - meta[count],
        _NODE_WORDS, tops,
    )  # fmt: skip
    return tops.view(np.uint8).reshape(count, HASH_LEN), status


@numba.njit(cache=True, nogil=True)
def _walk_joined(words: U32, meta: I64, count: int, leaf_count: int) -> tuple[U32, bool, bool]:
    """`_walk` of the hashes and then the siblings as one array of 8-word rows, the indices and
    then the proofs' starts as one int64 array: (the tops, whether every proof has exactly the
    siblings its walk uses, whether every proof reached the same top). One call of few arrays,
    since each array passed costs the call a little."""
    tops = np.empty((count, 8), np.uint32)
    status = _walk(
        words[:count], meta[:count], leaf_count, words[count:], meta[count:] - meta[count],
        _NODE_WORDS, tops,
    )  # fmt: skip
    same = True
    for p in range(1, count):
        for i in range(8):
            if tops[p, i] != tops[0, i]:
                same = False
    return tops, not status.any(), same


def walk_proofs(
    hashes: Sequence[bytes],
    indices: Sequence[int],
    leaf_count: int,
    proofs: Sequence[Sequence[bytes]],
) -> set[bytes] | None:
    """`merkle.walk_proofs`, compiled: the set of the proofs' top nodes, or None if some proof
    has more or fewer hashes than its walk uses."""
    words, meta = _joined(hashes, indices, proofs)
    count = len(hashes)
    if not count:
        return set()
    tops, walked, same = _walk_joined(words, meta, count, leaf_count)
    if not walked:
        return None
    if same:  # every proof reached one top: the usual case
        return {tops[0].tobytes()}
    return {row.tobytes() for row in tops}
