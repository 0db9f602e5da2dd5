"""Range proofs: a run of consecutive leaves proven against a root with one short proof.

A reader that fetches leaves [start, end) of a tree of `leaf_count` leaves (`merkle`'s tree:
lone nodes promoted, the root binding the count) hashes them itself and needs only the nodes
bounding the run: going up level by level, the run covers nodes [lo, hi); when lo is odd its left
neighbour lo - 1 is needed, when hi is odd and not the level's end its right neighbour hi. The
proof lists them level by level, bottom first, the left one before the right one: at most two a
level, so at most 2·⌈log2 n⌉ hashes for any run (a single leaf's proof is the run of one).

The verifier rebuilds the root from the leaves' own hashes and these nodes, so a changed leaf,
node, start or count gives another root (BLAKE3's collision resistance): nothing in the run is
taken on the server's word.

Both neighbours a run needs at a level are siblings of its two end leaves' paths, so a server that
keeps single-leaf proofs (`chain.storage.blob_tree`) builds a range proof from the proofs of
leaves start and end - 1 (`range_proof_from_edges`), without reading the tree again.
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime.primitives.merkle import (
    HASH_LEN,
    MAX_LEAF_COUNT,
    MerkleProofError,
    bind_count,
    node_hash,
    tree_levels,
)


def _check_run(start: int, end: int, leaf_count: int) -> None:
    if not 0 <= start < end <= leaf_count:
        raise IndexError(f"leaves [{start}, {end}) are not a run of the {leaf_count} leaves")


def _needed(start: int, end: int, leaf_count: int) -> list[tuple[int, int, int]]:
    """The (level, position, width) of each node a run's proof holds, in proof order."""
    needed: list[tuple[int, int, int]] = []
    lo, hi, width, level = start, end, leaf_count, 0
    while width > 1:
        if lo % 2:
            needed.append((level, lo - 1, width))
        if hi % 2 and hi < width:
            needed.append((level, hi, width))
        lo, hi, width, level = lo // 2, (hi + 1) // 2, (width + 1) // 2, level + 1
    return needed


def range_proof(leaf_hashes: Sequence[bytes], start: int, end: int) -> list[bytes]:
    """The proof of leaves [start, end) from the tree's leaf hashes (the plain definition)."""
    _check_run(start, end, len(leaf_hashes))
    levels = tree_levels(leaf_hashes)
    return [levels[level][pos] for level, pos, _ in _needed(start, end, len(leaf_hashes))]


def range_proof_from_edges(
    leaf_count: int, start: int, end: int, first: Sequence[bytes], last: Sequence[bytes]
) -> list[bytes]:
    """The proof of leaves [start, end) from the single-leaf proofs of leaves start (`first`) and
    end - 1 (`last`); equal to `range_proof`. ValueError if a proof is too short for the tree."""
    _check_run(start, end, leaf_count)
    by_level: list[tuple[bytes | None, bytes | None]] = []
    first_at = last_at = 0
    lo, last_pos, width = start, end - 1, leaf_count
    while width > 1:  # the sibling each end leaf's path has at each level, if any
        left = right = None
        if lo ^ 1 < width:
            left, first_at = first[first_at], first_at + 1
        if last_pos ^ 1 < width:
            right, last_at = last[last_at], last_at + 1
        by_level.append((left, right))
        lo, last_pos, width = lo // 2, last_pos // 2, (width + 1) // 2
    proof: list[bytes] = []
    for level, pos, _ in _needed(start, end, leaf_count):
        left, right = by_level[level]
        node = left if pos < (start >> level) else right
        if node is None:
            raise ValueError(f"no sibling at level {level} in the edge proofs")
        proof.append(node)
    return proof


def verify_range_proof(
    root: bytes,
    leaf_hashes: Sequence[bytes],
    start: int,
    leaf_count: int,
    proof: Sequence[bytes],
) -> None:
    """Check that `leaf_hashes` are the hashes of leaves start, start + 1, ... of `leaf_count`
    under `root`; MerkleProofError if not."""
    end = start + len(leaf_hashes)
    if not 0 <= start < end <= leaf_count:
        raise MerkleProofError(f"leaves [{start}, {end}) are not a run of the {leaf_count} leaves")
    if leaf_count >= MAX_LEAF_COUNT:
        raise MerkleProofError(f"a tree of {leaf_count} leaves is beyond what a root binds")
    level = list(leaf_hashes)
    lo, hi, width, used = start, end, leaf_count, 0

    def take() -> bytes:
        nonlocal used
        if used >= len(proof):
            raise MerkleProofError("range proof is too short")
        node = proof[used]
        if len(node) != HASH_LEN:
            raise MerkleProofError(f"proof hash {used} is {len(node)} bytes, not {HASH_LEN}")
        used += 1
        return node

    while width > 1:
        if lo % 2:
            level.insert(0, take())
            lo -= 1
        if hi % 2 and hi < width:
            level.append(take())
            hi += 1
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:  # the level's lone last node, promoted
            nxt.append(level[-1])
        level, lo, hi, width = nxt, lo // 2, (hi + 1) // 2, (width + 1) // 2
    if used != len(proof):
        raise MerkleProofError("range proof has extra hashes")
    if bind_count(level[0], leaf_count) != root:
        raise MerkleProofError("range proof does not lead to the root")
