"""Conviction voting's events."""

from __future__ import annotations

from typing import Final

from runtime import fields
from runtime.framework import EventDef
from runtime.pallets.conviction_voting.constants import NAME

_WHO = ("who", fields.ACCOUNT)
_POLL = ("poll", fields.U32)
_CLASS = ("class", fields.U8)

Voted: Final = EventDef(
    NAME,
    "Voted",
    (
        _WHO,
        _POLL,
        ("aye", fields.BALANCE),
        ("nay", fields.BALANCE),
        ("abstain", fields.BALANCE),
        ("conviction", fields.U8),
    ),
    "An account voted on a poll (replacing any vote it had on it).",
)
VoteRemoved: Final = EventDef(
    NAME,
    "VoteRemoved",
    (_WHO, _POLL, ("locked_until", fields.U64)),
    "A vote was removed; a winning vote's conviction lock stays until the block named (0: none).",
)
Delegated: Final = EventDef(
    NAME,
    "Delegated",
    (
        _WHO,
        ("target", fields.ACCOUNT),
        _CLASS,
        ("conviction", fields.U8),
        ("amount", fields.BALANCE),
    ),
    "An account delegated its votes in a class.",
)
Undelegated: Final = EventDef(
    NAME,
    "Undelegated",
    (_WHO, _CLASS, ("locked_until", fields.U64)),
    "An account ended its delegation; its conviction lock stays until the block named.",
)
Unlocked: Final = EventDef(
    NAME,
    "Unlocked",
    (_WHO, _CLASS, ("locked", fields.BALANCE)),
    "An account's lock in a class was recomputed; `locked` is what the class still locks.",
)
ParamsChanged: Final = EventDef(NAME, "ParamsChanged", ())
