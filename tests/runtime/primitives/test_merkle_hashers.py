"""The Merkle tree's leaf and node hashes, made from copies of keyed hashers, are BLAKE3-keyed
of their input as the tree defines them, for bytes and for arrays read in place."""

from __future__ import annotations

import numpy as np
from blake3 import blake3
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.primitives.merkle import LEAF_KEY, NODE_KEY, leaf_hash, node_hash


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3000), st.binary(min_size=32, max_size=32))
def test_hashes_as_defined(data: bytes, other: bytes) -> None:
    assert leaf_hash(data) == blake3(data, key=LEAF_KEY).digest()
    assert leaf_hash(bytearray(data)) == blake3(data, key=LEAF_KEY).digest()
    top = leaf_hash(data)
    assert node_hash(top, other) == blake3(top + other, key=NODE_KEY).digest()
    # Each call starts from the key alone: nothing of the last input is carried over.
    assert leaf_hash(data) == top


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=300))
def test_array_leaves_hashed_in_place(values: list[int]) -> None:
    array = np.array(values, dtype=np.int32)
    assert leaf_hash(array) == blake3(array.tobytes(), key=LEAF_KEY).digest()
    assert leaf_hash(memoryview(array)) == blake3(array.tobytes(), key=LEAF_KEY).digest()
