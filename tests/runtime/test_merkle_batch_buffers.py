"""Proofs checked together are walked only when every hash is a bytes object of HASH_LEN bytes:
a buffer whose len() counts items of more than a byte (a memoryview cast to words) would have a
compiled walk read and write past its arrays, so such input is checked one by one."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.primitives import merkle
from runtime.primitives.merkle import HASH_LEN, MerkleProofError, verify_hash_proof


def tree(count: int) -> tuple[bytes, list[bytes], list[list[bytes]]]:
    hashes = [merkle.leaf_hash(bytes([i]) * 40) for i in range(count)]
    levels = merkle.tree_levels(hashes)
    proofs = [merkle.proof_from_levels(levels, i) for i in range(count)]
    return merkle.root_of_hashes(hashes), hashes, proofs


def wide(data: bytes) -> memoryview:
    """`data` eight times over, as 8-byte words: len() is len(data), the buffer 8 times that."""
    return memoryview(data * 8).cast("Q")


@pytest.mark.parametrize("where", ["hash", "sibling"])
def test_a_buffer_of_words_is_never_handed_to_a_walk_and_decides_as_one_by_one(
    where: str,
) -> None:
    root, hashes, proofs = tree(8)
    picks = [1, 5]
    given = [hashes[i] for i in picks]
    chosen = [list(proofs[i]) for i in picks]
    if where == "hash":
        given[1] = wide(given[1])  # type: ignore[call-overload]
    else:
        chosen[0][1] = wide(chosen[0][1])  # type: ignore[call-overload]
    seen: list[int] = []

    def walk(
        hs: Sequence[bytes], ix: Sequence[int], count: int, ps: Sequence[Sequence[bytes]]
    ) -> set[bytes] | None:
        seen.extend(memoryview(h).nbytes for h in hs)
        seen.extend(memoryview(s).nbytes for p in ps for s in p)
        return merkle.walk_proofs(hs, ix, count, ps)

    with pytest.raises(MerkleProofError) as batch:
        merkle.verify_hash_proofs(root, given, picks, 8, chosen, walk=walk)
    assert set(seen) <= {HASH_LEN}
    with pytest.raises(MerkleProofError) as single:
        for hashed, index, proof in zip(given, picks, chosen, strict=True):
            verify_hash_proof(root, hashed, index, 8, proof)
    assert str(batch.value) == str(single.value)


def _walkable_by_definition(
    hashes: Sequence[object],
    indices: Sequence[object],
    leaf_count: int,
    proofs: Sequence[Sequence[object]],
) -> bool:
    """What a walk assumes, item by item."""
    return (
        1 <= leaf_count < 1 << 63
        and all(type(i) is int and 0 <= i < leaf_count for i in indices)  # type: ignore[operator]
        and all(type(h) is bytes and len(h) == HASH_LEN for h in hashes)
        and all(type(s) is bytes and len(s) == HASH_LEN for proof in proofs for s in proof)
    )


_KINDS: list[object] = [
    bytes(32),
    b"\1" * 32,
    bytes(31),
    bytes(33),
    bytearray(32),
    memoryview(bytes(32)),
    wide(bytes(4)),
]
# Mostly good hashes, so that a single bad item or index decides.
_ITEMS = st.integers(0, 3 * len(_KINDS)).map(lambda i: _KINDS[i] if i < len(_KINDS) else bytes(32))
_INDICES = st.one_of(st.integers(0, 4), st.integers(-2, 9), st.sampled_from([True, False, 2.0]))


@settings(max_examples=100, deadline=None)
@given(
    hashes=st.lists(_ITEMS, min_size=1, max_size=4),
    indices=st.lists(_INDICES, min_size=1, max_size=4),
    leaf_count=st.sampled_from([5, 5, 5, 0, 1, 8, (1 << 63) - 1, 1 << 63]),
    proofs=st.lists(st.lists(_ITEMS, max_size=3), min_size=1, max_size=4),
)
def test_the_walks_input_check_is_its_definition(
    hashes: list[object], indices: list[object], leaf_count: int, proofs: list[list[object]]
) -> None:
    expected = _walkable_by_definition(hashes, indices, leaf_count, proofs)
    assert merkle._walkable(hashes, indices, leaf_count, proofs) == expected  # type: ignore[arg-type]
