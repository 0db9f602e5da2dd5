"""The binary Merkle tree over extrinsics, result leaves and blob chunks.

Leaves are hashed as H(0x00 ‖ leaf) and inner nodes as H(0x01 ‖ left ‖ right), so a leaf can never
pass for an inner node. A lone node at the end of a level is promoted unchanged, which keeps the
tree free of the duplicated-last-leaf ambiguity. The root binds the number of leaves:
root = H(0x03 ‖ leaf count (8 bytes BE) ‖ top), where top is the single node left at the top, or
H(0x02) for no leaves; so a proof checked against a root also proves the count it was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b

from runtime.primitives.hashing import blake2b_256

_LEAF = b"\x00"
_NODE = b"\x01"
_ROOT = b"\x03"
_EMPTY_TOP = blake2b_256(b"\x02")


class MerkleProofError(ValueError):
    """A Merkle proof that does not lead from its leaf to the expected root."""


def leaf_hash(leaf: bytes) -> bytes:
    """BLAKE2b-256(0x00 ‖ leaf), fed in two parts so a large leaf is not copied."""
    h = blake2b(_LEAF, digest_size=32)
    h.update(leaf)
    return h.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An inner node's hash: BLAKE2b-256(0x01 ‖ left ‖ right)."""
    return blake2b_256(_NODE + left + right)


def _bind(top: bytes, leaf_count: int) -> bytes:
    return blake2b_256(_ROOT + leaf_count.to_bytes(8, "big") + top)


def root_of_hashes(hashes: Sequence[bytes]) -> bytes:
    """Root of a tree whose leaf hashes are already computed."""
    if not hashes:
        return _bind(_EMPTY_TOP, 0)
    level = list(hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return _bind(level[0], len(hashes))


EMPTY_ROOT = root_of_hashes(())


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root over raw leaves."""
    return root_of_hashes([leaf_hash(leaf) for leaf in leaves])


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
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
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
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
    root: bytes, leaf: bytes, index: int, leaf_count: int, proof: Sequence[bytes]
) -> None:
    """Check that `leaf` is leaf `index` of `leaf_count` under `root`; MerkleProofError if not."""
    verify_hash_proof(root, leaf_hash(leaf), index, leaf_count, proof)


def verify_hash_proof(
    root: bytes, hashed: bytes, index: int, leaf_count: int, proof: Sequence[bytes]
) -> None:
    """`verify_merkle_proof` for a leaf given by its leaf hash; MerkleProofError if not."""
    if not 0 <= index < leaf_count:
        raise MerkleProofError(f"leaf index {index} out of range for {leaf_count} leaves")
    acc = hashed
    pos, width, used = index, leaf_count, 0
    while width > 1:
        sibling = pos ^ 1
        if sibling < width:
            if used >= len(proof):
                raise MerkleProofError("proof is too short")
            other = proof[used]
            used += 1
            acc = node_hash(acc, other) if pos % 2 == 0 else node_hash(other, acc)
        pos //= 2
        width = (width + 1) // 2
    if used != len(proof):
        raise MerkleProofError("proof has extra hashes")
    if _bind(acc, leaf_count) != root:
        raise MerkleProofError("proof does not lead to the root")
