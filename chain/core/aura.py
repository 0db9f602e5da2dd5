"""Aura slots: time is cut into slots, and each slot has exactly one author.

slot = unix time in ms // slot duration; the author of a slot is validators[slot mod n]. A block
must come from its slot's author, carry a timestamp equal to the start of its slot, have a slot
later than its parent's, and not be from a slot too far in the future of this node's clock. An
authority disabled for an offence authors no more blocks until the authority set changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from runtime.block import Header

MAX_FUTURE_SLOTS: Final = 2
"""Blocks from further ahead than this are refused (clocks may differ by a little)."""


class BadSeal(Exception):
    """A header that breaks the slot rules or whose seal is not its author's."""


def slot_at(now_ms: int, slot_duration_ms: int) -> int:
    """The Aura slot that the time `now_ms` falls in."""
    return now_ms // slot_duration_ms


def slot_author(validators: Sequence[bytes], slot: int) -> bytes:
    """The session key of the authority that authors `slot`: validators[slot mod n]."""
    return validators[slot % len(validators)]


def check_header(
    header: Header,
    parent: Header,
    validators: Sequence[bytes],
    slot_duration_ms: int,
    now_ms: int,
    *,
    disabled: Sequence[bytes] = (),
) -> None:
    """Check a header's slot, author, timestamp and seal against its parent and the clock."""
    slot = header.digest.slot
    if slot <= parent.digest.slot:
        raise BadSeal(f"slot {slot} is not after the parent's slot {parent.digest.slot}")
    if slot > slot_at(now_ms, slot_duration_ms) + MAX_FUTURE_SLOTS:
        raise BadSeal(f"slot {slot} is too far in the future")
    expected = slot_author(validators, slot)
    if header.digest.author != expected:
        raise BadSeal(f"slot {slot} belongs to another validator")
    if expected in disabled:
        raise BadSeal(f"the author of slot {slot} is disabled for an offence")
    if header.timestamp != slot * slot_duration_ms:
        raise BadSeal("the timestamp is not the start of the block's slot")
    if not header.seal_is_valid():
        raise BadSeal("the seal is not the author's signature")
