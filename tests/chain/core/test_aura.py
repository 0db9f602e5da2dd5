"""Aura: slots from time, the author of each slot in rotation, and the header rules (slot order,
future slots, author, timestamp, seal)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chain.core.aura import MAX_FUTURE_SLOTS, BadSeal, check_header, slot_at, slot_author
from runtime.block import Digest, Header
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import dev_keypair

SLOT_MS = 1_000
ALICE, BOB, CHARLIE = (dev_keypair(n) for n in ("Alice", "Bob", "Charlie"))
VALIDATORS = (ALICE.public, BOB.public, CHARLIE.public)
KEYS = {k.public: k for k in (ALICE, BOB, CHARLIE)}


def header(parent: Header | None, slot: int, *, author=None, number=None) -> Header:
    """A header at `slot`, sealed by that slot's author (or `author`)."""
    author = author or KEYS[slot_author(VALIDATORS, slot)]
    return Header(
        parent_hash=b"\x00" * 32 if parent is None else parent.hash,
        number=(0 if parent is None else parent.number + 1) if number is None else number,
        state_root=blake2b_256(b"state %d" % slot),
        extrinsics_root=blake2b_256(b""),
        timestamp=slot * SLOT_MS,
        digest=Digest(slot=slot, author=author.public, seal=b""),
    ).sealed_by(author)


GENESIS = Header(
    parent_hash=b"\x00" * 32,
    number=0,
    state_root=blake2b_256(b"genesis"),
    extrinsics_root=blake2b_256(b""),
    timestamp=0,
    digest=Digest(slot=0, author=bytes(32), seal=b""),
)
PARENT = header(GENESIS, 100)  # block #1 at slot 100


def check(h: Header, *, parent: Header = PARENT, now_slot: int = 101) -> None:
    check_header(h, parent, VALIDATORS, SLOT_MS, now_slot * SLOT_MS)


def refusal(h: Header, **kwargs) -> str:
    with pytest.raises(BadSeal) as refused:
        check(h, **kwargs)
    return str(refused.value)


def test_a_slot_is_time_divided_by_the_slot_duration():
    assert [slot_at(ms, SLOT_MS) for ms in (0, 999, 1_000, 1_999, 123_456)] == [0, 0, 1, 1, 123]
    assert slot_at(5_999, 3_000) == 1


def test_slot_authors_rotate_through_the_validators():
    assert [slot_author(VALIDATORS, s) for s in range(7)] == [
        *VALIDATORS,
        *VALIDATORS,
        ALICE.public,
    ]
    assert {slot_author(VALIDATORS[:1], s) for s in range(5)} == {ALICE.public}
    assert slot_author(VALIDATORS, 10**12) == VALIDATORS[10**12 % 3]


def test_a_well_formed_header_passes():
    check(header(PARENT, 101))
    check(header(PARENT, 150), now_slot=149)  # slots may be skipped; clocks may differ a little


def test_the_slot_must_come_after_the_parents():
    for slot in (100, 99):
        assert "not after the parent's slot" in refusal(header(PARENT, slot))


def test_a_slot_too_far_ahead_of_the_clock_is_refused():
    check(header(PARENT, 101 + MAX_FUTURE_SLOTS), now_slot=101)
    assert "future" in refusal(header(PARENT, 102 + MAX_FUTURE_SLOTS), now_slot=101)


def test_only_the_slots_author_may_author_it():
    assert slot_author(VALIDATORS, 101) != ALICE.public
    assert "another validator" in refusal(header(PARENT, 101, author=ALICE))


def test_the_timestamp_is_the_start_of_the_slot():
    good = header(PARENT, 101)
    author = KEYS[good.digest.author]
    for ms in (good.timestamp + 1, good.timestamp - SLOT_MS):
        moved = replace(good, timestamp=ms, digest=replace(good.digest, seal=b"")).sealed_by(author)
        assert "timestamp" in refusal(moved)


def test_the_seal_must_be_the_authors_signature_over_this_header():
    good = header(PARENT, 101)
    other = header(PARENT, 104)  # same author, another header
    assert good.digest.author == other.digest.author
    for seal in (b"", other.digest.seal, bytes(64)):
        assert "seal" in refusal(replace(good, digest=replace(good.digest, seal=seal)))
    # Any sealed field changed after sealing breaks the seal.
    assert "seal" in refusal(replace(good, state_root=blake2b_256(b"tampered")))
