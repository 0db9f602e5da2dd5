"""Proofs from precomputed leaf hashes and tree levels: the same proofs `merkle_proof` gives."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.primitives.merkle import (
    leaf_hash,
    merkle_proof,
    merkle_root,
    proof_from_hashes,
    proof_from_levels,
    root_of_hashes,
    tree_levels,
    verify_merkle_proof,
)


def distinct_leaves(n: int) -> list[bytes]:
    return [b"leaf-%d" % i for i in range(n)]


def test_proofs_from_hashes_equal_proofs_from_leaves_for_every_size_up_to_70() -> None:
    for n in range(1, 71):
        leaves = distinct_leaves(n)
        hashes = [leaf_hash(leaf) for leaf in leaves]
        levels = tree_levels(hashes)
        for index in range(n):
            expected = merkle_proof(leaves, index)
            assert proof_from_hashes(hashes, index) == expected
            assert proof_from_levels(levels, index) == expected


def test_levels_run_from_the_leaf_hashes_to_the_top() -> None:
    for n in (1, 2, 3, 5, 8, 33):
        hashes = [leaf_hash(leaf) for leaf in distinct_leaves(n)]
        levels = tree_levels(hashes)
        assert levels[0] == hashes
        assert len(levels[-1]) == 1
        # Each level halves the one below, a lone last node promoted.
        for below, above in itertools.pairwise(levels):
            assert len(above) == (len(below) + 1) // 2
        assert root_of_hashes(hashes) == merkle_root(distinct_leaves(n))


def test_no_leaves_give_no_levels_and_no_proofs() -> None:
    assert tree_levels([]) == []
    with pytest.raises(IndexError):
        proof_from_hashes([], 0)


@pytest.mark.parametrize("index", [-1, 3, 100])
def test_an_index_out_of_range_is_refused(index: int) -> None:
    hashes = [leaf_hash(leaf) for leaf in distinct_leaves(3)]
    with pytest.raises(IndexError, match="out of range for 3 leaves"):
        proof_from_hashes(hashes, index)
    with pytest.raises(IndexError, match="out of range for 3 leaves"):
        proof_from_levels(tree_levels(hashes), index)


def test_a_single_leaf_has_an_empty_proof() -> None:
    hashes = [leaf_hash(b"only")]
    assert proof_from_hashes(hashes, 0) == []
    verify_merkle_proof(merkle_root([b"only"]), b"only", 0, 1, [])


def test_the_proof_of_a_large_tree_is_logarithmic() -> None:
    n = 5_000
    leaves = distinct_leaves(n)
    hashes = [leaf_hash(leaf) for leaf in leaves]
    root = root_of_hashes(hashes)
    levels = tree_levels(hashes)
    for index in (0, 1, 2_047, 2_048, 4_095, 4_096, n - 1):
        proof = proof_from_levels(levels, index)
        assert len(proof) <= 13  # ceil(log2(5000))
        verify_merkle_proof(root, leaves[index], index, n, proof)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=12), min_size=1, max_size=90), st.data())
def test_any_tree_gives_the_same_proofs_from_hashes(
    leaves: list[bytes], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    hashes = [leaf_hash(leaf) for leaf in leaves]
    proof = proof_from_hashes(hashes, index)
    assert proof == merkle_proof(leaves, index)
    verify_merkle_proof(merkle_root(leaves), leaves[index], index, len(leaves), proof)
