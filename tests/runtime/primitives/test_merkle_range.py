"""Range proofs: the proof built from two edge proofs is the plain one, an honest run verifies,
and any altered leaf, proof node, start or count is refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.primitives.merkle import (
    MerkleProofError,
    leaf_hash,
    proof_from_hashes,
    root_of_hashes,
    verify_hash_proof,
)
from runtime.primitives.merkle_range import (
    range_proof,
    range_proof_from_edges,
    verify_range_proof,
)


@st.composite
def runs(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    count = draw(st.integers(1, 70))
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(count)]
    start = draw(st.integers(0, count - 1))
    end = draw(st.integers(start + 1, count))
    return hashes, start, end


@settings(max_examples=100, deadline=None)
@given(runs())
def test_a_run_verifies_and_its_edge_built_proof_is_the_plain_one(
    run: tuple[list[bytes], int, int],
) -> None:
    hashes, start, end = run
    root = root_of_hashes(hashes)
    proof = range_proof(hashes, start, end)
    first, last = proof_from_hashes(hashes, start), proof_from_hashes(hashes, end - 1)
    assert range_proof_from_edges(len(hashes), start, end, first, last) == proof
    verify_range_proof(root, hashes[start:end], start, len(hashes), proof)
    assert len(proof) <= 2 * max(1, (len(hashes) - 1).bit_length())
    if end == start + 1:  # a run of one is the single-leaf proof
        assert proof == first
        verify_hash_proof(root, hashes[start], start, len(hashes), proof)


@settings(max_examples=100, deadline=None)
@given(runs(), st.data())
def test_an_altered_leaf_node_start_or_count_is_refused(
    run: tuple[list[bytes], int, int], data: st.DataObject
) -> None:
    hashes, start, end = run
    root = root_of_hashes(hashes)
    proof = range_proof(hashes, start, end)
    leaves = hashes[start:end]
    bad = list(leaves)
    at = data.draw(st.integers(0, len(bad) - 1))
    bad[at] = leaf_hash(b"forged")
    with pytest.raises(MerkleProofError):
        verify_range_proof(root, bad, start, len(hashes), proof)
    if proof:
        forged = list(proof)
        i = data.draw(st.integers(0, len(forged) - 1))
        forged[i] = bytes([forged[i][0] ^ 1]) + forged[i][1:]
        with pytest.raises(MerkleProofError):
            verify_range_proof(root, leaves, start, len(hashes), forged)
        with pytest.raises(MerkleProofError):
            verify_range_proof(root, leaves, start, len(hashes), proof[:-1])
    with pytest.raises(MerkleProofError):
        verify_range_proof(root, leaves, start, len(hashes), [*proof, hashes[0]])
    if len(leaves) > 1:  # one leaf dropped from the run's end: a shorter run, same proof
        with pytest.raises(MerkleProofError):
            verify_range_proof(root, leaves[:-1], start, len(hashes), proof)
    shifted = start + 1 if end < len(hashes) else start - 1
    if shifted >= 0 and hashes[shifted] != hashes[start]:
        with pytest.raises(MerkleProofError):
            verify_range_proof(root, leaves, shifted, len(hashes), proof)
    with pytest.raises(MerkleProofError):
        verify_range_proof(root, leaves, start, len(hashes) + 1, proof)


def test_an_empty_run_or_one_past_the_end_is_refused() -> None:
    hashes = [leaf_hash(bytes([i])) for i in range(5)]
    root = root_of_hashes(hashes)
    with pytest.raises(MerkleProofError, match="not a run"):
        verify_range_proof(root, [], 2, 5, [])
    with pytest.raises(MerkleProofError, match="not a run"):
        verify_range_proof(root, hashes[3:], 4, 5, [])
    with pytest.raises(IndexError):
        range_proof(hashes, 3, 6)
