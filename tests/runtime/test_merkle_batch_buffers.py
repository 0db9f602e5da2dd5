"""Proofs checked together are walked only when every hash is a bytes object of HASH_LEN bytes:
a buffer whose len() counts items of more than a byte (a memoryview cast to words) would have a
compiled walk read and write past its arrays, so such input is checked one by one."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

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
