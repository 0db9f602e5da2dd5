"""The binary Merkle tree over extrinsics, result leaves and blob chunks, hashed with BLAKE3.

Every hash here is BLAKE3 in its keyed mode, with a different public key for each role, so a leaf
can never pass for an inner node nor a node for a root:
- a leaf is H_leaf(leaf) = BLAKE3-keyed(LEAF_KEY, leaf);
- an inner node is H_node(left ‖ right) = BLAKE3-keyed(NODE_KEY, left ‖ right): its input is exactly
  one 64-byte BLAKE3 block, so a node costs a single compression (cheap in a compiled kernel too);
- the root binds the number of leaves: root = BLAKE3-keyed(ROOT_KEY, leaf count (8 bytes BE) ‖ top),
  where top is the single node left at the top, or EMPTY_TOP = BLAKE3-keyed(ROOT_KEY, b"") for no
  leaves; so a proof checked against a root also proves the count it was given.
Each key is the plain BLAKE3 hash of an ASCII label (`_KEY_LABELS`). A lone node at the end of a
level is promoted unchanged, which keeps the tree free of the duplicated-last-leaf ambiguity.

BLAKE3 (the `blake3` package) hashes large leaves several times faster than BLAKE2b and releases
the GIL while it does; the state trie, block hashes and every other digest stay BLAKE2b-256.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Final, TypeAlias

from blake3 import blake3

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    from typing_extensions import Buffer

_KEY_LABELS: Final = {
    "leaf": b"XPL merkle leaf v2",
    "node": b"XPL merkle node v2",
    "root": b"XPL merkle root v2",
}
LEAF_KEY: Final[bytes] = blake3(_KEY_LABELS["leaf"]).digest()
NODE_KEY: Final[bytes] = blake3(_KEY_LABELS["node"]).digest()
ROOT_KEY: Final[bytes] = blake3(_KEY_LABELS["root"]).digest()
EMPTY_TOP: Final[bytes] = blake3(b"", key=ROOT_KEY).digest()


HASH_LEN: Final = 32
"""Every hash in the tree (leaf, node, root) is 32 bytes."""


class MerkleProofError(ValueError):
    """A Merkle proof that does not lead from its leaf to the expected root."""


def as_bytes_view(data: Buffer) -> memoryview:
    """`data` as a buffer of bytes, without a copy (BLAKE3 reads only byte buffers).

    An int32 array or a memoryview of one becomes a byte view of the same memory; a buffer whose
    bytes are not contiguous (a strided slice) is refused with BufferError rather than copied.
    """
    view = memoryview(data)
    if not view.c_contiguous:
        raise BufferError("a leaf must be a C-contiguous buffer: its bytes are hashed in place")
    return view.cast("B")


# Keyed hashers to copy: a copy skips a new hasher's keyword parsing and key set-up (about
# 0.1 us a hash, two hashes an extrinsic in a block's extrinsics root).
_leaf_hasher: Final = blake3(key=LEAF_KEY).copy
_node_hasher: Final = blake3(key=NODE_KEY).copy


def leaf_hash(leaf: Buffer) -> bytes:
    """BLAKE3-keyed(LEAF_KEY, leaf) of any C-contiguous buffer, read in place (never copied)."""
    hasher = _leaf_hasher()
    try:
        hasher.update(leaf)
    except BufferError:  # not a buffer of bytes: hash the same memory seen as bytes
        hasher.update(as_bytes_view(leaf))
    return hasher.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An inner node's hash: BLAKE3-keyed(NODE_KEY, left ‖ right), one 64-byte block."""
    hasher = _node_hasher()
    hasher.update(left + right)
    return hasher.digest()


MAX_LEAF_COUNT = 1 << 64
"""The root binds the leaf count in 8 bytes: no tree has this many leaves."""


def bind_count(top: bytes, leaf_count: int) -> bytes:
    """The root over a tree whose top node is `top`: BLAKE3-keyed(ROOT_KEY, count ‖ top)."""
    return blake3(leaf_count.to_bytes(8, "big") + top, key=ROOT_KEY).digest()


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    # `node_hash` of each pair, inlined (a block's extrinsics root hashes thousands of nodes).
    fresh = _node_hasher
    nxt = []
    for i in range(0, len(level) - 1, 2):
        hasher = fresh()
        hasher.update(level[i] + level[i + 1])
        nxt.append(hasher.digest())
    if len(level) % 2:
        nxt.append(level[-1])
    return nxt


def root_of_hashes(hashes: Sequence[bytes]) -> bytes:
    """Root of a tree whose leaf hashes are already computed."""
    if not hashes:
        return bind_count(EMPTY_TOP, 0)
    level: Sequence[bytes] = hashes
    while len(level) > 1:
        level = _next_level(level)
    return bind_count(level[0], len(hashes))


EMPTY_ROOT: Final = root_of_hashes(())


def merkle_root(leaves: Sequence[Buffer]) -> bytes:
    """Root over raw leaves."""
    return root_of_hashes([leaf_hash(leaf) for leaf in leaves])


def merkle_proof(leaves: Sequence[Buffer], index: int) -> list[bytes]:
    """The sibling hashes from leaf `index` up to the root (promoted levels contribute nothing)."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf index {index} out of range for {len(leaves)} leaves")
    return proof_from_hashes([leaf_hash(leaf) for leaf in leaves], index)


def proof_from_hashes(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The proof `merkle_proof` gives for leaf `index`, from the leaf hashes already computed."""
    return proof_from_levels(tree_levels(leaf_hashes), index)


def tree_levels(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, the leaf hashes first and the single top node last.

    For a caller that serves many proofs of one tree (a blob store): building the levels costs as
    much as one proof, and `proof_from_levels` then reads each proof from them in O(log n).
    No leaves give no levels.
    """
    if not leaf_hashes:
        return []
    level = list(leaf_hashes)
    levels = [level]
    while len(level) > 1:
        level = _next_level(level)
        levels.append(level)
    return levels


def proof_from_levels(levels: Sequence[Sequence[bytes]], index: int) -> list[bytes]:
    """The proof for leaf `index` from the levels `tree_levels` built."""
    count = len(levels[0]) if levels else 0
    if not 0 <= index < count:
        raise IndexError(f"leaf index {index} out of range for {count} leaves")
    proof: list[bytes] = []
    pos = index
    for level in levels[:-1]:
        sibling = pos ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        pos //= 2
    return proof


def verify_merkle_proof(
    root: bytes, leaf: Buffer, index: int, leaf_count: int, proof: Sequence[bytes]
) -> None:
    """Check that `leaf` is leaf `index` of `leaf_count` under `root`; MerkleProofError if not."""
    verify_hash_proof(root, leaf_hash(leaf), index, leaf_count, proof)


def verify_hash_proof(
    root: bytes, hashed: bytes, index: int, leaf_count: int, proof: Sequence[bytes]
) -> None:
    """`verify_merkle_proof` for a leaf given by its leaf hash; MerkleProofError if not."""
    if not 0 <= index < leaf_count:
        raise MerkleProofError(f"leaf index {index} out of range for {leaf_count} leaves")
    if leaf_count >= MAX_LEAF_COUNT:
        raise MerkleProofError(f"a tree of {leaf_count} leaves is beyond what a root binds")
    acc = hashed
    pos, width, used = index, leaf_count, 0
    while width > 1:
        sibling = pos ^ 1
        if sibling < width:
            if used >= len(proof):
                raise MerkleProofError("proof is too short")
            other = proof[used]
            if len(other) != HASH_LEN:
                raise MerkleProofError(f"proof hash {used} is {len(other)} bytes, not {HASH_LEN}")
            used += 1
            acc = node_hash(acc, other) if pos % 2 == 0 else node_hash(other, acc)
        pos //= 2
        width = (width + 1) // 2
    if used != len(proof):
        raise MerkleProofError("proof has extra hashes")
    if bind_count(acc, leaf_count) != root:
        raise MerkleProofError("proof does not lead to the root")


ProofWalk: TypeAlias = Callable[
    [Sequence[bytes], Sequence[int], int, Sequence[Sequence[bytes]]], "set[bytes] | None"
]
"""Walks proofs from their leaf hashes up (as `verify_hash_proof` does): the set of their top
nodes, or None if some proof has more or fewer hashes than its walk uses. It may assume every
hash is a bytes object of HASH_LEN bytes, every index is within leaf_count, and
1 ≤ leaf_count < 2^63."""


def walk_proofs(
    hashes: Sequence[bytes],
    indices: Sequence[int],
    leaf_count: int,
    proofs: Sequence[Sequence[bytes]],
) -> set[bytes] | None:
    """The plain `ProofWalk`: one `node_hash` a level, from Python."""
    tops: set[bytes] = set()
    for acc, index, proof in zip(hashes, indices, proofs, strict=True):
        pos, width, used = index, leaf_count, 0
        while width > 1:
            if pos ^ 1 < width:
                if used >= len(proof):
                    return None
                other = proof[used]
                acc = node_hash(acc, other) if pos % 2 == 0 else node_hash(other, acc)
                used += 1
            pos //= 2
            width = (width + 1) // 2
        if used != len(proof):
            return None
        tops.add(acc)
    return tops


def _walkable(
    hashes: Sequence[bytes],
    indices: Sequence[int],
    leaf_count: int,
    proofs: Sequence[Sequence[bytes]],
) -> bool:
    """Whether the proofs meet what a `ProofWalk` assumes (else each is checked on its own)."""
    if not 1 <= leaf_count < 1 << 63:
        return False
    if len(indices) and (
        set(map(type, indices)) != {int} or min(indices) < 0 or max(indices) >= leaf_count
    ):
        return False
    # bytes objects only: another buffer's len() may count items of more than a byte.
    items = [*hashes, *chain.from_iterable(proofs)]
    return set(map(type, items)) == {bytes} and set(map(len, items)) == {HASH_LEN}


def verify_hash_proofs(
    root: bytes,
    hashes: Sequence[bytes],
    indices: Sequence[int],
    leaf_count: int,
    proofs: Sequence[Sequence[bytes]],
    *,
    walk: ProofWalk = walk_proofs,
) -> None:
    """`verify_hash_proof` for every (hash, index, proof) at once: MerkleProofError, the first
    failing proof's, unless all of them lead from their leaf hash to `root`.

    Every proof leads to the same root, so to the same top node (the root is one hash of the top
    and the count): the proofs are walked together by `walk` (a compiled kernel, for a caller
    that has one), their tops compared, and the count bound once. When that fails, or the input
    is not what a walk assumes, each proof is checked on its own, so the decision and the error
    are always those of checking them one by one.
    """
    if not len(hashes) == len(indices) == len(proofs):
        raise MerkleProofError(
            f"{len(hashes)} leaf hashes, {len(indices)} indices and {len(proofs)} proofs"
        )
    if not hashes:
        return
    if _walkable(hashes, indices, leaf_count, proofs):
        tops = walk(hashes, indices, leaf_count, proofs)
        if tops is not None and len(tops) == 1 and bind_count(next(iter(tops)), leaf_count) == root:
            return
    for hashed, index, proof in zip(hashes, indices, proofs, strict=True):
        verify_hash_proof(root, hashed, index, leaf_count, proof)
