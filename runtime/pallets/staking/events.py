"""Staking's events."""

from __future__ import annotations

from typing import Final

from runtime import fields
from runtime.framework import EventDef
from runtime.pallets import session
from runtime.pallets.staking.constants import MAX_NOMINATIONS, NAME

_STASH = ("stash", fields.ACCOUNT)
_AMOUNT = ("amount", fields.BALANCE)
Bonded: Final = EventDef(NAME, "Bonded", (_STASH, _AMOUNT), "A stash bonded more.")
Unbonded: Final = EventDef(
    NAME,
    "Unbonded",
    (_STASH, _AMOUNT, ("unlocks_at_block", fields.U64)),
    "Part of a bond starts unbonding; it can be withdrawn from the block named.",
)
Withdrawn: Final = EventDef(
    NAME, "Withdrawn", (_STASH, _AMOUNT), "Unlocked chunks were released to the free balance."
)
ValidatorPrefsSet: Final = EventDef(
    NAME,
    "ValidatorPrefsSet",
    (_STASH, ("commission_ppm", fields.U32), ("session_key", fields.ACCOUNT)),
    "A stash is a validator candidate with this commission and session key.",
)
CommissionRaisePending: Final = EventDef(
    NAME,
    "CommissionRaisePending",
    (_STASH, ("commission_ppm", fields.U32), ("from_block", fields.U64)),
    "A candidate raised its commission; the raise is used from the first era starting at or "
    "after the block named.",
)
Nominated: Final = EventDef(
    NAME,
    "Nominated",
    (_STASH, ("targets", fields.list_type(fields.ACCOUNT, MAX_NOMINATIONS))),
)
Chilled: Final = EventDef(NAME, "Chilled", (_STASH,), "A stash stopped validating or nominating.")
NewEra: Final = EventDef(
    NAME,
    "NewEra",
    (
        ("era", fields.U64),
        ("validators", fields.list_type(fields.ACCOUNT, session.MAX_AUTHORITIES)),
    ),
    "A new era began with these validators (stashes).",
)
EraPaid: Final = EventDef(
    NAME,
    "EraPaid",
    (("era", fields.U64), ("minted", fields.BALANCE)),
    "An era's reward was minted and paid out (the treasury's share of it included).",
)
Rewarded: Final = EventDef(NAME, "Rewarded", (_STASH, _AMOUNT))
Slashed: Final = EventDef(NAME, "Slashed", (_STASH, _AMOUNT), "A stash's bond was slashed.")
Offline: Final = EventDef(
    NAME,
    "Offline",
    (_STASH, _AMOUNT),
    "A validator neither authored a block nor voted in an era, and was slashed this much.",
)
Equivocation: Final = EventDef(
    NAME,
    "Equivocation",
    (("offender", fields.ACCOUNT), ("kind", fields.str_type(8))),
    'A validator was punished for an equivocation ("vote" or "slot").',
)
VotesNoted: Final = EventDef(
    NAME,
    "VotesNoted",
    (("set_id", fields.U64), ("round", fields.U64), ("voters", fields.U32)),
    "The precommits of a finalized round earned their voters points.",
)
ParamsChanged: Final = EventDef(NAME, "ParamsChanged", ())
