"""The worker's fast commitment is the chain's Merkle root, whatever the buffers and threads.

Every fast path (views instead of bytes, leaves hashed on threads or by blake3's own threads, the
Numba kernel for inner levels) is compared with the plain definition in runtime.primitives.merkle.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker import commitment
from gpu_worker.commitment import (
    KERNEL_NODES,
    HashLevel,
    leaf_hashes,
    result_root,
    root_of_levels,
    tree_of,
)
from runtime.primitives.merkle import (
    MerkleProofError,
    leaf_hash,
    merkle_root,
    proof_from_levels,
    tree_levels,
    verify_hash_proof,
    verify_merkle_proof,
)


def hashes_of(count: int) -> list[bytes]:
    return [leaf_hash(b"leaf-%d" % i) for i in range(count)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=30), st.integers(1, 5))
def test_small_results_commit_to_the_merkle_root(leaves: list[bytes], threads: int) -> None:
    assert result_root(leaves, threads=threads) == merkle_root(leaves)


def test_large_results_hashed_on_threads_keep_the_leaf_order() -> None:
    leaf = commitment.PARALLEL_BYTES // 8
    leaves = [os.urandom(leaf) for _ in range(13)]  # over the parallel threshold, odd count
    for threads in (1, 2, 3, 13, 64):
        assert leaf_hashes(leaves, threads=threads) == [leaf_hash(x) for x in leaves]
        assert result_root(leaves, threads=threads) == merkle_root(leaves)
    changed = [*leaves[:7], b"x" + leaves[7][1:], *leaves[8:]]
    assert result_root(changed, threads=2) != merkle_root(leaves)


@settings(max_examples=30, deadline=None)
@given(
    rows=st.integers(1, 40),
    cols=st.integers(1, 24),
    row_block=st.integers(1, 40),
    threads=st.integers(1, 4),
    parallel_bytes=st.sampled_from([0, 1 << 30]),
    rayon_bytes=st.sampled_from([1, 1 << 30]),
)
def test_views_into_one_result_array_commit_like_its_encoded_leaves(
    rows: int,
    cols: int,
    row_block: int,
    threads: int,
    parallel_bytes: int,
    rayon_bytes: int,
) -> None:
    # Every path (one thread, runs of leaves on the pool, blake3's own threads) on row blocks
    # given as numpy arrays, int32 memoryviews and byte memoryviews of the same result.
    rng = np.random.default_rng(rows * 1000 + cols)
    result = rng.integers(-(2**31), 2**31, size=(rows, cols), dtype=np.int32)
    blocks = [slice(s, min(s + row_block, rows)) for s in range(0, rows, row_block)]
    encoded = [result[b].astype("<i4").tobytes() for b in blocks]
    expected = merkle_root(encoded)
    views = [
        [result[b] for b in blocks],
        [memoryview(result[b]) for b in blocks],
        [memoryview(result).cast("B")[b.start * cols * 4 : b.stop * cols * 4] for b in blocks],
    ]
    saved = commitment.PARALLEL_BYTES, commitment.RAYON_LEAF_BYTES
    commitment.PARALLEL_BYTES, commitment.RAYON_LEAF_BYTES = parallel_bytes, rayon_bytes
    try:
        for leaves in views:
            assert leaf_hashes(leaves, threads=threads) == [leaf_hash(e) for e in encoded]
            assert result_root(leaves, threads=threads) == expected
    finally:
        commitment.PARALLEL_BYTES, commitment.RAYON_LEAF_BYTES = saved


def test_a_strided_leaf_is_refused_not_copied() -> None:
    result = np.arange(64, dtype=np.int32).reshape(8, 8)
    with pytest.raises(BufferError, match="C-contiguous"):
        leaf_hashes([result[:, :4]], threads=1)  # a column block: its bytes are not contiguous
    with pytest.raises(BufferError, match="C-contiguous"):
        result_root([result[0], result[:, 0]], threads=1)


@pytest.mark.parametrize("count", [1, 2, 3, KERNEL_NODES - 1, KERNEL_NODES, KERNEL_NODES + 1, 1025])
def test_the_tree_of_the_kernel_is_the_plain_tree(count: int) -> None:
    hashes = hashes_of(count)
    levels = tree_of(hashes)
    plain = tree_levels(hashes)
    assert len(levels) == len(plain)
    for mine, theirs in zip(levels, plain, strict=True):
        assert list(mine) == theirs
    assert root_of_levels(levels) == merkle_root([b"leaf-%d" % i for i in range(count)])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.data())
def test_proofs_from_the_kernels_tree_verify_and_refuse_what_is_wrong(
    count: int, data: st.DataObject
) -> None:
    hashes = hashes_of(count)
    levels = tree_of(hashes)
    root = root_of_levels(levels)
    index = data.draw(st.integers(0, count - 1), label="index")
    proof = proof_from_levels(levels, index)
    verify_merkle_proof(root, b"leaf-%d" % index, index, count, proof)
    with pytest.raises(MerkleProofError):
        verify_merkle_proof(root, b"leaf-x", index, count, proof)
    if count > 1:
        other = data.draw(st.integers(0, count - 1).filter(lambda i: i != index), label="other")
        with pytest.raises(MerkleProofError):
            verify_hash_proof(root, hashes[index], other, count, proof)
    for claimed in {count + 1, 2 * count, max(1, count - 1)} - {count}:
        if index < claimed:
            with pytest.raises(MerkleProofError):
                verify_hash_proof(root, hashes[index], index, claimed, proof)


def test_the_root_binds_the_leaf_count_where_the_top_node_is_the_same() -> None:
    # Three leaves and the two-leaf tree of (node(h0, h1), h2) have the same top node: the
    # count bound into the root tells them apart.
    hashes = hashes_of(3)
    three = tree_of(hashes)
    two = tree_of(list(three[1]))
    assert three[-1][0] == two[-1][0]
    assert root_of_levels(three) != root_of_levels(two)


def test_no_leaves_give_the_empty_root() -> None:
    assert tree_of([]) == []
    assert result_root([]) == root_of_levels([]) == merkle_root([])


def test_a_hash_level_reads_like_a_list_of_its_hashes() -> None:
    hashes = hashes_of(5)
    level = HashLevel(b"".join(hashes))
    assert len(level) == 5
    assert list(level) == hashes == level[:]
    assert level[-1] == hashes[4] and level[1:3] == hashes[1:3]
    assert level == hashes and level != hashes[:4]
    with pytest.raises(IndexError, match="out of range for a level of 5"):
        level[5]
    with pytest.raises(ValueError, match="32-byte hashes"):
        HashLevel(b"x" * 33)
