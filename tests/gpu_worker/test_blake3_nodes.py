"""The Numba BLAKE3 node kernel: each node is exactly the blake3 package's keyed hash."""

from __future__ import annotations

import numpy as np
from blake3 import blake3
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker.kernels.blake3_nodes import levels_above, parent_level
from runtime.primitives.merkle import LEAF_KEY, NODE_KEY, node_hash, tree_levels

hashes = st.binary(min_size=32, max_size=32)


@settings(max_examples=60, deadline=None)
@given(st.lists(hashes, min_size=1, max_size=40))
def test_a_level_is_the_node_hashes_of_its_pairs_a_lone_last_node_promoted(
    level: list[bytes],
) -> None:
    array = np.frombuffer(b"".join(level), np.uint8).reshape(-1, 32)
    up = parent_level(array, NODE_KEY)
    expected = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        expected.append(level[-1])
    assert [bytes(row) for row in up] == expected


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=64, max_size=64), st.binary(min_size=32, max_size=32))
def test_any_key_and_block_match_the_blake3_package(block: bytes, key: bytes) -> None:
    array = np.frombuffer(block, np.uint8).reshape(2, 32)
    assert bytes(parent_level(array, key)[0]) == blake3(block, key=key).digest()


def test_the_node_key_is_what_separates_a_node_from_a_leaf() -> None:
    block = bytes(range(64))
    array = np.frombuffer(block, np.uint8).reshape(2, 32)
    as_node = bytes(parent_level(array, NODE_KEY)[0])
    assert as_node == node_hash(block[:32], block[32:])
    assert (
        as_node != bytes(parent_level(array, LEAF_KEY)[0]) == blake3(block, key=LEAF_KEY).digest()
    )


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 80), st.integers(0, 2**16))
def test_the_levels_above_in_one_call_are_merkles_levels(count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    leaves = rng.integers(0, 256, size=(count, 32), dtype=np.uint8)
    expected = tree_levels([bytes(row) for row in leaves])[1:] if count else []
    got = levels_above(leaves, NODE_KEY)
    assert [[bytes(row) for row in level] for level in got] == [list(lv) for lv in expected]
