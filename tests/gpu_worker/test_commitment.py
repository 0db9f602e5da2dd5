"""The worker's parallel commitment is the chain's Merkle root, whatever the threads."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker.commitment import PARALLEL_BYTES, leaf_hashes, result_root
from runtime.primitives.merkle import leaf_hash, merkle_root


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=30), st.integers(1, 5))
def test_small_results_commit_to_the_merkle_root(leaves: list[bytes], threads: int) -> None:
    assert result_root(leaves, threads=threads) == merkle_root(leaves)


def test_large_results_hashed_on_threads_keep_the_leaf_order() -> None:
    leaf = PARALLEL_BYTES // 8
    leaves = [os.urandom(leaf) for _ in range(13)]  # over the parallel threshold, odd count
    for threads in (1, 2, 3, 13, 64):
        assert leaf_hashes(leaves, threads=threads) == [leaf_hash(x) for x in leaves]
        assert result_root(leaves, threads=threads) == merkle_root(leaves)
    changed = [*leaves[:7], b"x" + leaves[7][1:], *leaves[8:]]
    assert result_root(changed, threads=2) != merkle_root(leaves)
