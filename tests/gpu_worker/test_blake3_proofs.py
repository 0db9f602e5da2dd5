"""An audit's Merkle proofs checked together (`merkle.verify_hash_proofs`), walked in Python or
by the compiled kernel, decide exactly as checking them one by one, on good proofs and on every
way a worker could tamper with its response: a leaf hash, a sibling, an index, the leaf count, a
proof too short or too long, proofs swapped between leaves, another root."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_worker.kernels.blake3_proofs import proof_tops, walk_proofs
from runtime.primitives import merkle
from runtime.primitives.merkle import (
    MerkleProofError,
    leaf_hash,
    proof_from_levels,
    root_of_hashes,
    tree_levels,
    verify_hash_proof,
    verify_hash_proofs,
)

WALKS = {"python": merkle.walk_proofs, "compiled": walk_proofs}
TAMPERS = ("none", "hash", "sibling", "index", "count", "short", "long", "swap", "root", "size")


def one_by_one(root: bytes, hashes: list[bytes], indices: list[int], count: int,
               proofs: list[list[bytes]]) -> str | None:  # fmt: skip
    """The first failing proof's error, checking them one by one (None if all pass)."""
    for hashed, index, proof in zip(hashes, indices, proofs, strict=True):
        try:
            verify_hash_proof(root, hashed, index, count, proof)
        except MerkleProofError as exc:
            return str(exc)
    return None


def batch(walk: str, *args: object) -> str | None:
    try:
        verify_hash_proofs(*args, walk=WALKS[walk])  # type: ignore[arg-type]
    except MerkleProofError as exc:
        return str(exc)
    return None


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 70),
    st.data(),
    st.sampled_from(TAMPERS),
)
def test_a_batch_decides_as_each_proof_on_its_own(count: int, data: st.DataObject,
                                                   tamper: str) -> None:  # fmt: skip
    hashes_all = [leaf_hash(b"leaf %d" % i) for i in range(count)]
    levels = tree_levels(hashes_all)
    root = root_of_hashes(hashes_all)
    indices = data.draw(st.lists(st.integers(0, count - 1), min_size=1, max_size=16))
    hashes = [hashes_all[i] for i in indices]
    proofs = [list(proof_from_levels(levels, i)) for i in indices]
    at = data.draw(st.integers(0, len(indices) - 1))
    if tamper == "hash":
        hashes[at] = bytes([hashes[at][0] ^ 1]) + hashes[at][1:]
    elif tamper == "sibling" and proofs[at]:
        level = data.draw(st.integers(0, len(proofs[at]) - 1))
        proofs[at][level] = bytes(32)
    elif tamper == "index":
        indices[at] = data.draw(st.integers(0, count))
    elif tamper == "short" and proofs[at]:
        proofs[at].pop()
    elif tamper == "long":
        proofs[at].append(bytes(32))
    elif tamper == "swap" and len(indices) > 1:
        proofs[0], proofs[-1] = proofs[-1], proofs[0]
    elif tamper == "root":
        root = bytes(32)
    elif tamper == "size":
        hashes[at] = hashes[at][:31]
    leaf_count = count + 1 if tamper == "count" else count
    args = (root, hashes, indices, leaf_count, proofs)
    expected = one_by_one(*args)
    for walk in WALKS:
        assert batch(walk, *args) == expected
    if tamper == "none":
        assert expected is None


def test_counts_beyond_what_a_root_binds_and_empty_batches() -> None:
    hashed = leaf_hash(b"x")
    root = root_of_hashes([hashed])
    verify_hash_proofs(root, [], [], 1, [], walk=walk_proofs)
    with pytest.raises(MerkleProofError, match="beyond what a root binds"):
        verify_hash_proofs(root, [hashed], [0], 1 << 64, [[bytes(32)] * 64], walk=walk_proofs)
    with pytest.raises(MerkleProofError, match="1 leaf hashes, 2 indices"):
        verify_hash_proofs(root, [hashed], [0, 0], 1, [[]], walk=walk_proofs)


def test_the_kernel_gives_each_proofs_top_and_its_status() -> None:
    hashes_all = [leaf_hash(b"%d" % i) for i in range(5)]
    levels = tree_levels(hashes_all)
    proofs = [proof_from_levels(levels, i) for i in range(5)]
    tops, status = proof_tops(hashes_all, range(5), 5, proofs)
    assert status.tolist() == [0] * 5
    assert {row.tobytes() for row in tops} == {levels[-1][0]}
    tops, status = proof_tops(hashes_all[:2], [0, 4], 5, [proofs[0][:-1], proofs[4] + [b"\0" * 32]])
    assert status.tolist() == [1, 2]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.data())
def test_each_proofs_top_and_status_are_its_own_walks_across_lane_groups(
    count: int, data: st.DataObject
) -> None:
    """Proofs climb 16 side by side: with more than 16 proofs, and each proof cut short,
    lengthened or given a wrong sibling on its own, every proof's top and status are those of
    walking it alone (a neighbour in the lanes leaks nothing into it)."""
    hashes_all = [leaf_hash(b"n%d" % i) for i in range(count)]
    levels = tree_levels(hashes_all)
    indices = data.draw(st.lists(st.integers(0, count - 1), min_size=1, max_size=40))
    proofs = [list(proof_from_levels(levels, i)) for i in indices]
    for proof in proofs:
        change = data.draw(st.sampled_from(("none", "short", "long", "sibling")))
        if change == "short" and proof:
            proof.pop()
        elif change == "long":
            proof.append(bytes(32))
        elif change == "sibling" and proof:
            proof[data.draw(st.integers(0, len(proof) - 1))] = b"\x07" * 32
    hashes = [hashes_all[i] for i in indices]
    tops, status = proof_tops(hashes, indices, count, proofs)
    for p, (hashed, index, proof) in enumerate(zip(hashes, indices, proofs, strict=True)):
        alone = merkle.walk_proofs([hashed], [index], count, [proof])
        if alone is None:
            assert status[p] != 0
        else:
            assert status[p] == 0
            assert alone == {tops[p].tobytes()}


def test_the_compiled_walk_refuses_hashes_whose_length_is_not_their_bytes() -> None:
    """Called directly, the walk reads hashes by their bytes (a memoryview cast to 8-byte words,
    len() 4 over 32 bytes, walks as its bytes do) and refuses a short sibling or a count that
    does not match, rather than reading past its arrays."""
    leaves = [bytes([i]) * 40 for i in range(5)]
    levels = tree_levels([leaf_hash(leaf) for leaf in leaves])
    proofs = [proof_from_levels(levels, i) for i in range(5)]
    hashes = [leaf_hash(leaf) for leaf in leaves]
    words = [memoryview(h).cast("Q") for h in hashes]
    by_words, by_bytes = (
        proof_tops(words, range(5), 5, proofs),
        proof_tops(hashes, range(5), 5, proofs),
    )  # type: ignore[arg-type]
    assert by_words[0].tobytes() == by_bytes[0].tobytes() and not by_words[1].any()
    with pytest.raises(ValueError, match="32 bytes"):
        proof_tops(hashes, range(5), 5, [[*p[:-1], p[-1][:31]] for p in proofs])
    with pytest.raises(ValueError, match="indices"):
        proof_tops(hashes, range(4), 5, proofs)
