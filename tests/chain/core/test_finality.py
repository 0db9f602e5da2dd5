"""Justifications: their encoding, and the check that precommits of more than 2/3 of the authority
set's weight, each voter once and each a member, support exactly this block, through the headers
that link their targets down to it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.core.finality import (
    InvalidJustification,
    Justification,
    Precommit,
    build_justification,
    decode_and_verify,
    sign_justification,
    verify_justification,
)
from runtime.block import Digest, Header
from runtime.consensus import PRECOMMIT, PREVOTE, SignedVote
from runtime.pallets.session import AuthoritySet
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import Keypair, dev_keypair

NAMES = ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")


def keys(n: int) -> list[Keypair]:
    return [dev_keypair(name) for name in NAMES[:n]]


def authorities(members: list[Keypair], weights: list[int] | None = None, set_id: int = 0):
    weights = weights or [1] * len(members)
    return AuthoritySet(set_id, tuple((k.public, w) for k, w in zip(members, weights, strict=True)))


def chain_of(length: int, *, salt: bytes = b"") -> list[Header]:
    """Headers #1..#length, each the parent of the next (seals are not needed here)."""
    headers = []
    parent = blake2b_256(b"genesis" + salt)
    for number in range(1, length + 1):
        header = Header(
            parent_hash=parent,
            number=number,
            state_root=blake2b_256(salt + bytes([number])),
            extrinsics_root=bytes(32),
            timestamp=number,
            digest=Digest(slot=number, author=bytes(32), seal=b""),
        )
        headers.append(header)
        parent = header.hash
    return headers


CHAIN = chain_of(10)
TARGET = CHAIN[6]  # block #7


def precommit(k: Keypair, header: Header, *, set_id: int = 0, round_: int = 3) -> SignedVote:
    return SignedVote.sign(
        k,
        phase=PRECOMMIT,
        set_id=set_id,
        round_=round_,
        block_hash=header.hash,
        number=header.number,
    )


def refusal(j: Justification, members: AuthoritySet, target: Header = TARGET) -> str:
    with pytest.raises(InvalidJustification) as refused:
        verify_justification(j, members, block_hash=target.hash, number=target.number)
    return str(refused.value)


def header_of(block_hash: bytes) -> Header | None:
    return next((h for h in CHAIN if h.hash == block_hash), None)


# Encoding


@settings(max_examples=60, deadline=None)
@given(
    set_id=st.integers(0, 2**64 - 1),
    round_=st.integers(0, 2**64 - 1),
    block_hash=st.binary(min_size=32, max_size=32),
    number=st.integers(0, 2**32 - 1),
    precommits=st.lists(
        st.builds(
            Precommit,
            st.binary(min_size=32, max_size=32),
            st.integers(0, 2**32 - 1),
            st.binary(min_size=32, max_size=32),
            st.binary(min_size=64, max_size=64),
        ),
        max_size=5,
    ).map(tuple),
    ancestry=st.lists(st.sampled_from(CHAIN), max_size=3).map(tuple),
)
def test_encode_decode_round_trip(set_id, round_, block_hash, number, precommits, ancestry):
    j = Justification(set_id, round_, block_hash, number, precommits, ancestry)
    raw = j.encode()
    assert Justification.decode(raw) == j
    assert Justification.decode(raw).encode() == raw


@pytest.mark.parametrize(
    "value",
    [
        [0, 0, TARGET.hash, 7, []],  # a field missing
        [0, 0, TARGET.hash[:31], 7, [], []],  # short block hash
        [0, 0, TARGET.hash, 2**32, [], []],  # number over u32
        [-1, 0, TARGET.hash, 7, [], []],  # negative set id
        [0, 0, TARGET.hash, 7, [[TARGET.hash, 7, bytes(31), bytes(64)]], []],  # short voter
        [0, 0, TARGET.hash, 7, [[TARGET.hash, 7, bytes(32), bytes(63)]], []],  # short signature
        [0, 0, TARGET.hash, 7, [[TARGET.hash, 7, bytes(32)]], []],  # no signature
        [0, 0, TARGET.hash, 7, [], [[1, 2, 3]]],  # an ancestry item that is no header
    ],
)
def test_malformed_justifications_do_not_decode(value):
    with pytest.raises(DecodeError):
        Justification.decode(codec.encode(value))
    with pytest.raises(InvalidJustification):
        decode_and_verify(
            codec.encode(value), authorities(keys(1)), block_hash=TARGET.hash, number=7
        )


# Verification


@pytest.mark.parametrize(
    ("validators", "signers", "enough"),
    [
        (1, 1, True),
        (2, 1, False),
        (2, 2, True),
        (3, 2, False),  # exactly 2/3 is not more than 2/3
        (3, 3, True),
        (4, 2, False),
        (4, 3, True),
        (6, 4, False),  # exactly 2/3 again
        (6, 5, True),
    ],
)
def test_more_than_two_thirds_must_sign(validators, signers, enough):
    members = keys(validators)
    j = sign_justification(members[:signers], set_id=0, round_=3, target=TARGET)
    if enough:
        verify_justification(j, authorities(members), block_hash=TARGET.hash, number=7)
    else:
        assert "more than 2/3" in refusal(j, authorities(members))


def test_weight_is_stake_not_head_count():
    alice, bob, charlie, dave = keys(4)
    # Alice holds 70 of 100: she alone is more than 2/3; the other three together are not.
    weighted = authorities([alice, bob, charlie, dave], [70, 10, 10, 10])
    verify_justification(
        sign_justification([alice], set_id=0, round_=1, target=TARGET),
        weighted,
        block_hash=TARGET.hash,
        number=7,
    )
    others = sign_justification([bob, charlie, dave], set_id=0, round_=1, target=TARGET)
    assert "30 of 100" in refusal(others, weighted)


def test_a_voter_counts_once():
    members = keys(3)
    alice, bob = members[0], members[1]
    twice = sign_justification([alice, bob, alice], set_id=0, round_=3, target=TARGET)
    assert "twice" in refusal(twice, authorities(members))


def test_a_non_member_does_not_count():
    members = keys(3)
    outsider = dev_keypair("Eve")
    j = sign_justification([*members[:2], outsider], set_id=0, round_=3, target=TARGET)
    assert "non-authority" in refusal(j, authorities(members))


def test_a_bad_signature_is_refused():
    members = keys(3)
    j = sign_justification(members, set_id=0, round_=3, target=TARGET)
    p = j.precommits[1]
    forged = Precommit(
        p.block_hash, p.number, p.voter, bytes([p.signature[0] ^ 1]) + p.signature[1:]
    )
    tampered = Justification(0, 3, TARGET.hash, 7, (j.precommits[0], forged, j.precommits[2]))
    assert "invalid" in refusal(tampered, authorities(members))


def test_signatures_bind_round_and_set():
    members = keys(3)
    j = sign_justification(members, set_id=0, round_=3, target=TARGET)
    moved_round = Justification(0, 4, TARGET.hash, 7, j.precommits)
    assert "invalid" in refusal(moved_round, authorities(members))
    moved_set = Justification(1, 3, TARGET.hash, 7, j.precommits)
    assert "set 1" in refusal(moved_set, authorities(members))
    assert "invalid" in refusal(moved_set, authorities(members, set_id=1))


def test_a_prevote_is_not_a_precommit():
    members = keys(3)
    prevotes = [
        SignedVote.sign(
            k, phase=PREVOTE, set_id=0, round_=3, block_hash=TARGET.hash, number=TARGET.number
        )
        for k in members
    ]
    j = Justification(0, 3, TARGET.hash, 7, tuple(Precommit.of(v) for v in prevotes))
    assert "invalid" in refusal(j, authorities(members))


def test_a_justification_for_another_block_is_refused():
    members = keys(3)
    j = sign_justification(members, set_id=0, round_=3, target=TARGET)
    assert "another block" in refusal(j, authorities(members), target=CHAIN[7])


def test_precommits_for_descendants_count_through_their_ancestry():
    alice, bob, charlie, dave = members = keys(4)
    votes = [
        precommit(alice, CHAIN[6]),  # #7 itself
        precommit(bob, CHAIN[8]),  # #9
        precommit(charlie, CHAIN[7]),  # #8
        precommit(dave, chain_of(8, salt=b"fork")[7]),  # a fork's #8: not for #7
    ]
    j = build_justification(
        set_id=0, round_=3, target=TARGET, precommits=votes, header_of=header_of
    )
    assert sorted(j.voters) == sorted([alice.public, bob.public, charlie.public])
    assert [h.number for h in j.ancestry] == [8, 9]
    verify_justification(j, authorities(members), block_hash=TARGET.hash, number=7)
    # Without the linking headers the descendants' precommits prove nothing about #7.
    bare = Justification(j.set_id, j.round, j.block_hash, j.number, j.precommits, ())
    assert "descendant" in refusal(bare, authorities(members))


def test_a_precommit_for_a_block_off_the_chain_is_refused_even_with_headers():
    members = keys(3)
    fork = chain_of(9, salt=b"fork")
    votes = [precommit(k, CHAIN[6]) for k in members[:2]]
    outsider_vote = Precommit.of(precommit(members[2], fork[8]))
    j = build_justification(
        set_id=0, round_=3, target=TARGET, precommits=votes, header_of=header_of
    )
    forged = Justification(0, 3, TARGET.hash, 7, (*j.precommits, outsider_vote), tuple(fork[6:9]))
    assert "descendant" in refusal(forged, authorities(members))


def test_build_takes_one_supporting_vote_of_an_equivocator():
    alice, bob, charlie = members = keys(3)
    fork = chain_of(8, salt=b"fork")
    votes = [
        precommit(alice, fork[7]),  # does not support #7 ...
        precommit(alice, CHAIN[7]),  # ... this one does
        precommit(bob, CHAIN[6]),
        precommit(charlie, CHAIN[6]),
    ]
    j = build_justification(
        set_id=0, round_=3, target=TARGET, precommits=votes, header_of=header_of
    )
    assert len(j.precommits) == 3
    verify_justification(j, authorities(members), block_hash=TARGET.hash, number=7)
