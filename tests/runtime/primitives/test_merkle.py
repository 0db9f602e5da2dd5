"""The binary Merkle tree: roots, proofs for every leaf, and proofs that must not verify."""

from __future__ import annotations

import numpy as np
import pytest
from blake3 import blake3
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.primitives.hashing import blake2b_256
from runtime.primitives.merkle import (
    EMPTY_ROOT,
    LEAF_KEY,
    NODE_KEY,
    ROOT_KEY,
    MerkleProofError,
    leaf_hash,
    merkle_proof,
    merkle_root,
    node_hash,
    verify_hash_proof,
    verify_merkle_proof,
)
from runtime.primitives.merkle_range import verify_range_proof

leaf_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=70)


def distinct_leaves(n: int) -> list[bytes]:
    return [b"leaf-%d" % i for i in range(n)]


def keyed(label: bytes, data: bytes) -> bytes:
    """BLAKE3 keyed by the plain BLAKE3 of `label`, straight from the package."""
    return blake3(data, key=blake3(label).digest()).digest()


def bound(top: bytes, count: int) -> bytes:
    return keyed(b"XPL merkle root v2", count.to_bytes(8, "big") + top)


def test_the_keys_are_the_blake3_of_their_labels() -> None:
    assert blake3(b"XPL merkle leaf v2").digest() == LEAF_KEY
    assert blake3(b"XPL merkle node v2").digest() == NODE_KEY
    assert blake3(b"XPL merkle root v2").digest() == ROOT_KEY
    assert len({LEAF_KEY, NODE_KEY, ROOT_KEY}) == 3


def test_small_roots_follow_the_documented_shape() -> None:
    # Recomputed from the module docstring: H_leaf(leaf), H_node(left ‖ right), a lone node at
    # the end of a level promoted unchanged, and the leaf count bound into the root.
    a, b, c = b"a", b"b", b"c"
    ha, hb, hc = (keyed(b"XPL merkle leaf v2", x) for x in (a, b, c))
    node = lambda left, right: keyed(b"XPL merkle node v2", left + right)  # noqa: E731
    assert merkle_root([a]) == bound(ha, 1)
    assert merkle_root([a, b]) == bound(node(ha, hb), 2)
    assert merkle_root([a, b, c]) == bound(node(node(ha, hb), hc), 3)


def test_the_tree_is_not_the_old_blake2b_tree() -> None:
    # A root from before the switch must not verify under the new hash (no silent mixing).
    old_leaf = blake2b_256(b"\x00" + b"a")
    old_root = blake2b_256(b"\x03" + (1).to_bytes(8, "big") + old_leaf)
    assert merkle_root([b"a"]) != old_root
    with pytest.raises(MerkleProofError):
        verify_merkle_proof(old_root, b"a", 0, 1, [])


def test_the_same_bytes_hash_differently_as_leaf_node_and_root() -> None:
    data = bytes(range(64))
    as_leaf = leaf_hash(data)
    as_node = node_hash(data[:32], data[32:])
    assert as_leaf != as_node
    assert keyed(b"XPL merkle root v2", data) not in (as_leaf, as_node)


def test_a_leaf_hashes_in_place_from_any_contiguous_buffer() -> None:
    data = np.arange(1000, dtype=np.int32)
    expected = leaf_hash(data.tobytes())
    assert leaf_hash(data) == expected
    assert leaf_hash(memoryview(data)) == expected
    assert leaf_hash(memoryview(data.tobytes())[0:4000]) == expected
    with pytest.raises(BufferError):
        leaf_hash(data[::2])  # a strided view has no contiguous bytes to hash


def test_a_proof_hash_of_the_wrong_length_is_refused() -> None:
    leaves = distinct_leaves(2)
    proof = merkle_proof(leaves, 0)
    with pytest.raises(MerkleProofError, match="not 32"):
        verify_merkle_proof(merkle_root(leaves), leaves[0], 0, 2, [proof[0] + b"\x00"])


def test_root_of_no_leaves_is_a_distinct_constant() -> None:
    assert merkle_root([]) == EMPTY_ROOT == bound(keyed(b"XPL merkle root v2", b""), 0)
    for leaf in [b"", b"\x02", b"\x00", EMPTY_ROOT]:
        assert merkle_root([leaf]) != EMPTY_ROOT


def test_every_leaf_of_every_size_up_to_70_has_a_verifying_proof() -> None:
    for n in range(1, 71):
        leaves = distinct_leaves(n)
        root = merkle_root(leaves)
        for index, leaf in enumerate(leaves):
            verify_merkle_proof(root, leaf, index, n, merkle_proof(leaves, index))


@settings(max_examples=60, deadline=None)
@given(leaf_lists, st.data())
def test_proofs_verify_and_any_change_breaks_them(leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    root = merkle_root(leaves)
    index = data.draw(st.integers(0, n - 1), label="index")
    leaf = leaves[index]
    proof = merkle_proof(leaves, index)
    verify_merkle_proof(root, leaf, index, n, proof)

    with pytest.raises(MerkleProofError):
        verify_merkle_proof(root, leaf + b"!", index, n, proof)
    # Another index holding a different leaf (an equal leaf elsewhere is rightly proven there).
    others = [i for i in range(n) if leaves[i] != leaf]
    if others:
        other = data.draw(st.sampled_from(others), label="other")
        with pytest.raises(MerkleProofError):
            verify_merkle_proof(root, leaf, other, n, proof)
    with pytest.raises(MerkleProofError):
        verify_merkle_proof(blake2b_256(root), leaf, index, n, proof)
    with pytest.raises(MerkleProofError):
        verify_merkle_proof(root, leaf, index, n, [*proof, root])
    if proof:
        with pytest.raises(MerkleProofError):
            verify_merkle_proof(root, leaf, index, n, proof[:-1])
        position = data.draw(st.integers(0, len(proof) - 1), label="position")
        tampered = list(proof)
        tampered[position] = blake2b_256(tampered[position])
        with pytest.raises(MerkleProofError):
            verify_merkle_proof(root, leaf, index, n, tampered)


def test_a_proof_is_bound_to_its_index_within_the_same_tree() -> None:
    for n in range(1, 40):
        leaves = distinct_leaves(n)
        root = merkle_root(leaves)
        for index in range(n):
            proof = merkle_proof(leaves, index)
            for other in range(n):
                if other != index:
                    with pytest.raises(MerkleProofError):
                        verify_merkle_proof(root, leaves[index], other, n, proof)


@pytest.mark.parametrize(("index", "count"), [(-1, 4), (4, 4), (0, 0)])
def test_out_of_range_indices_are_refused(index: int, count: int) -> None:
    leaves = distinct_leaves(4)
    with pytest.raises(MerkleProofError):
        verify_merkle_proof(merkle_root(leaves), leaves[0], index, count, [])
    if count == 4:
        with pytest.raises(IndexError):
            merkle_proof(leaves, index)


def test_a_leaf_cannot_pass_for_an_inner_node() -> None:
    leaves = distinct_leaves(4)
    root = merkle_root(leaves)
    left = node_hash(leaf_hash(leaves[0]), leaf_hash(leaves[1]))
    right = node_hash(leaf_hash(leaves[2]), leaf_hash(leaves[3]))
    assert root == bound(node_hash(left, right), 4)
    # The inner node's preimage offered as a leaf of a two-leaf tree does not verify.
    with pytest.raises(MerkleProofError):
        verify_merkle_proof(root, left, 0, 2, [right])


@pytest.mark.parametrize(
    ("count", "index", "claimed_count", "claimed_index"), [(2, 1, 3, 2), (3, 0, 4, 0)]
)
def test_a_proof_is_bound_to_the_leaf_count(
    count: int, index: int, claimed_count: int, claimed_index: int
) -> None:
    leaves = distinct_leaves(count)
    proof = merkle_proof(leaves, index)
    with pytest.raises(MerkleProofError):
        verify_merkle_proof(merkle_root(leaves), leaves[index], claimed_index, claimed_count, proof)


def test_a_changed_leaf_count_that_changes_the_path_fails() -> None:
    leaves = distinct_leaves(5)
    root = merkle_root(leaves)
    proof = merkle_proof(leaves, 4)  # the promoted last leaf: one sibling only
    for claimed in (1, 6, 7, 8, 16):
        with pytest.raises(MerkleProofError):
            verify_merkle_proof(root, leaves[4], 4, claimed, proof)


def test_a_proof_for_more_leaves_than_a_root_binds_is_refused_as_a_bad_proof() -> None:
    """A leaf count of 2^64 or more cannot be bound in the root's 8 bytes: a verifier given one
    refuses the proof (MerkleProofError), as for any other wrong count, rather than fail
    with another error a caller may not expect."""

    hashed = leaf_hash(b"x")
    with pytest.raises(MerkleProofError):
        verify_hash_proof(bytes(32), hashed, 0, 2**70, [bytes(32)] * 70)
    with pytest.raises(MerkleProofError):
        verify_range_proof(bytes(32), [hashed], 0, 2**64, [bytes(32)] * 64)
