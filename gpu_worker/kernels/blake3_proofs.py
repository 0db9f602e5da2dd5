"""Merkle proofs walked from leaf to top as a Numba kernel: every proof of an audit in one call.

A proof of leaf `index` among `leaf_count` leaves climbs the tree one level at a time, hashing
the running node with the proof's next sibling (on the left or the right as the position says)
wherever the level has a sibling, and promoting it unchanged where it is a lone last node: the
walk of `runtime.primitives.merkle.verify_hash_proof`. Each hash is one BLAKE3 compression by the
node kernel (`gpu_worker.kernels.blake3_nodes`); from Python one costs about 0.9 µs a call, so
the 16 proofs of 12 hashes an audit of 4,096 leaves checks cost about 0.18 ms that way, and a
few microseconds here.

The kernel gives each proof's top node (the node `bind_count` binds to the leaf count) and a
status: 0 when the proof has exactly the siblings the walk used, TOO_SHORT or TOO_LONG when not.
`walk_proofs` is the kernel as a `merkle.ProofWalk`: `merkle.verify_hash_proofs(...,
walk=walk_proofs)` checks an audit's proofs with the same decisions as checking them one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numba
import numpy as np

from gpu_worker.kernels.blake3_nodes import I64, U8, _compress_nodes
from runtime.primitives.merkle import HASH_LEN, NODE_KEY

TOO_SHORT: Final = 1
TOO_LONG: Final = 2
_NODE_WORDS: Final = np.frombuffer(NODE_KEY, "<u4").astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _walk(
    hashes: I64, indices: I64, leaf_count: int, siblings: I64, starts: I64, key: I64, tops: I64
) -> I64:
    """tops[p] = proof p's top node (8 words), walking siblings[starts[p]:starts[p + 1]] up from
    hashes[p] at position indices[p]; the status of each proof."""
    status = np.zeros(hashes.shape[0], np.int64)
    block = np.empty((1, 16), np.int64)
    node = np.empty((1, 8), np.int64)
    for p in range(hashes.shape[0]):
        acc = hashes[p].copy()
        pos, width = indices[p], leaf_count
        used, end = starts[p], starts[p + 1]
        while width > 1:
            if (pos ^ 1) < width:
                if used >= end:
                    status[p] = TOO_SHORT
                    break
                left, right = (acc, siblings[used]) if pos % 2 == 0 else (siblings[used], acc)
                block[0, :8] = left
                block[0, 8:] = right
                _compress_nodes(block, key, node)
                acc[:] = node[0]
                used += 1
            pos //= 2
            width = (width + 1) // 2
        if status[p] == 0 and used != end:
            status[p] = TOO_LONG
        tops[p] = acc
    return status


def _words(data: bytes) -> I64:
    return np.frombuffer(data, "<u4").astype(np.int64).reshape(-1, 8)


def proof_tops(
    hashes: Sequence[bytes],
    indices: Sequence[int],
    leaf_count: int,
    proofs: Sequence[Sequence[bytes]],
) -> tuple[U8, I64]:
    """Each proof's top node, as a (P, 32) uint8 array, and its status (0, TOO_SHORT, TOO_LONG).

    The caller has checked what the walk assumes: every hash and sibling is HASH_LEN bytes,
    every index below leaf_count, and leaf_count below 2^63.
    """
    count = len(hashes)
    starts = np.zeros(count + 1, np.int64)
    np.cumsum([len(proof) for proof in proofs], out=starts[1:])
    flat = b"".join(sibling for proof in proofs for sibling in proof)
    siblings = _words(flat) if flat else np.zeros((0, 8), np.int64)
    tops = np.empty((count, 8), np.int64)
    status = _walk(
        _words(b"".join(hashes)),
        np.asarray(indices, np.int64),
        leaf_count,
        siblings,
        starts,
        _NODE_WORDS,
        tops,
    )
    return tops.astype("<u4").view(np.uint8).reshape(count, HASH_LEN), status


def walk_proofs(
    hashes: Sequence[bytes],
    indices: Sequence[int],
    leaf_count: int,
    proofs: Sequence[Sequence[bytes]],
) -> set[bytes] | None:
    """`merkle.walk_proofs`, compiled: the set of the proofs' top nodes, or None if some proof
    has more or fewer hashes than its walk uses."""
    tops, status = proof_tops(hashes, indices, leaf_count, proofs)
    if status.any():
        return None
    if (tops == tops[0]).all():
        return {tops[0].tobytes()}
    return {row.tobytes() for row in tops}
