"""Justifications: their encoding, and the check that more than 2/3 of the validators, each once
and each a member, signed a precommit for exactly this block."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.core.finality import (
    InvalidJustification,
    Justification,
    precommit_message,
    sign_precommit,
    single_validator_justification,
    verify_justification,
)
from runtime.primitives import codec
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import dev_keypair, verify

NAMES = ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")
BLOCK = blake2b_256(b"some block")
NUMBER = 7


def keys(n: int) -> list:
    return [dev_keypair(name) for name in NAMES[:n]]


def justify(signers, *, block_hash=BLOCK, number=NUMBER, set_id=0, round_=3) -> Justification:
    sigs = tuple(
        sign_precommit(k, set_id=set_id, round_=round_, block_hash=block_hash, number=number)
        for k in signers
    )
    return Justification(set_id, round_, block_hash, number, sigs)


def refusal(justification: Justification, validators, **target) -> str:
    target = {"block_hash": BLOCK, "number": NUMBER, **target}
    with pytest.raises(InvalidJustification) as refused:
        verify_justification(justification, [k.public for k in validators], **target)
    return str(refused.value)


# Encoding


@settings(max_examples=60, deadline=None)
@given(
    set_id=st.integers(0, 2**64 - 1),
    round_=st.integers(0, 2**64 - 1),
    block_hash=st.binary(min_size=32, max_size=32),
    number=st.integers(0, 2**32 - 1),
    signatures=st.lists(
        st.tuples(st.binary(min_size=32, max_size=32), st.binary(min_size=64, max_size=64)),
        max_size=5,
    ).map(tuple),
)
def test_encode_decode_round_trip(set_id, round_, block_hash, number, signatures):
    j = Justification(set_id, round_, block_hash, number, signatures)
    assert Justification.decode(j.encode()) == j


def test_a_signed_justification_survives_encoding_and_still_verifies():
    validators = keys(4)
    j = Justification.decode(justify(validators[:3]).encode())
    verify_justification(j, [k.public for k in validators], block_hash=BLOCK, number=NUMBER)


@pytest.mark.parametrize(
    "value",
    [
        [0, 0, BLOCK, NUMBER],  # a field missing
        [0, 0, BLOCK[:31], NUMBER, []],  # short block hash
        [0, 0, BLOCK, 2**32, []],  # number over u32
        [-1, 0, BLOCK, NUMBER, []],  # negative set id
        [0, 0, BLOCK, NUMBER, [[bytes(31), bytes(64)]]],  # short validator key
        [0, 0, BLOCK, NUMBER, [[bytes(32), bytes(63)]]],  # short signature
        [0, 0, BLOCK, NUMBER, [[bytes(32)]]],  # a pair without its signature
    ],
)
def test_malformed_justifications_do_not_decode(value):
    with pytest.raises(DecodeError):
        Justification.decode(codec.encode(value))


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
    j = justify(members[:signers])
    if enough:
        verify_justification(j, [k.public for k in members], block_hash=BLOCK, number=NUMBER)
    else:
        assert "more than 2/3" in refusal(j, members)


def test_a_validator_counts_once():
    members = keys(3)
    alice, bob = members[0], members[1]
    twice = justify([alice, bob, alice])
    assert "twice" in refusal(twice, members)


def test_a_non_member_does_not_count():
    members = keys(3)
    outsider = dev_keypair("Eve")
    assert "non-validator" in refusal(justify([*members[:2], outsider]), members)


def test_a_bad_signature_is_refused():
    members = keys(3)
    j = justify(members)
    validator, signature = j.signatures[1]
    forged = signature[:10] + bytes([signature[10] ^ 1]) + signature[11:]
    tampered = Justification(
        j.set_id,
        j.round,
        j.block_hash,
        j.number,
        (j.signatures[0], (validator, forged), j.signatures[2]),
    )
    assert "invalid" in refusal(tampered, members)


def test_signatures_bind_round_and_set():
    members = keys(3)
    j = justify(members, round_=3)
    for moved in (
        Justification(j.set_id, 4, j.block_hash, j.number, j.signatures),
        Justification(1, j.round, j.block_hash, j.number, j.signatures),
    ):
        assert "invalid" in refusal(moved, members)


def test_a_justification_for_another_block_is_refused():
    members = keys(3)
    other = blake2b_256(b"another block")
    assert "another block" in refusal(justify(members), members, block_hash=other)
    assert "another block" in refusal(justify(members), members, number=NUMBER + 1)
    # Relabelled to claim this block, its signatures no longer match.
    relabelled = Justification(0, 3, BLOCK, NUMBER, justify(members, block_hash=other).signatures)
    assert "invalid" in refusal(relabelled, members)


def test_the_sole_validator_justifies_its_own_blocks():
    alice = dev_keypair("Alice")
    j = single_validator_justification(alice, block_hash=BLOCK, number=NUMBER)
    verify_justification(j, [alice.public], block_hash=BLOCK, number=NUMBER)
    [(validator, signature)] = j.signatures
    assert validator == alice.public
    assert verify(alice.public, precommit_message(j.set_id, j.round, BLOCK, NUMBER), signature)
    assert "more than 2/3" in refusal(j, keys(2))
