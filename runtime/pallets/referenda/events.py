"""Referenda's events: one for every transition of a referendum."""

from __future__ import annotations

from typing import Final

from runtime import dispatch, fields
from runtime.framework import EventDef
from runtime.pallets.referenda.constants import NAME

_INDEX = ("index", fields.U32)
_TRACK = ("track", fields.U8)
_WHO = ("who", fields.ACCOUNT)
_AMOUNT = ("amount", fields.BALANCE)
_TALLY = (("ayes", fields.BALANCE), ("nays", fields.BALANCE), ("support", fields.BALANCE))

Submitted: Final = EventDef(
    NAME,
    "Submitted",
    (_INDEX, _TRACK, ("proposal", dispatch.CALL), _WHO, _AMOUNT),
    "A referendum was submitted on a track; its submission deposit is held.",
)
DecisionDepositPlaced: Final = EventDef(
    NAME,
    "DecisionDepositPlaced",
    (_INDEX, _WHO, _AMOUNT),
    "The decision deposit was placed: the referendum may decide once its prepare period ends.",
)
DecisionDepositRefunded: Final = EventDef(
    NAME, "DecisionDepositRefunded", (_INDEX, _WHO, _AMOUNT), "A decision deposit was returned."
)
SubmissionDepositRefunded: Final = EventDef(
    NAME,
    "SubmissionDepositRefunded",
    (_INDEX, _WHO, _AMOUNT),
    "A submission deposit was returned.",
)
DepositSlashed: Final = EventDef(
    NAME,
    "DepositSlashed",
    (_INDEX, _WHO, _AMOUNT),
    "A killed referendum's deposit went to the treasury.",
)
Queued: Final = EventDef(
    NAME,
    "Queued",
    (_INDEX, _TRACK, ("position", fields.U32)),
    "The track's deciding places are taken; the referendum waits in its queue (by ayes).",
)
LeftQueue: Final = EventDef(
    NAME,
    "LeftQueue",
    (_INDEX,),
    "A full queue took in a referendum with more ayes; this one waits outside it (nudge it to "
    "try again) until it times out.",
)
DecisionStarted: Final = EventDef(
    NAME,
    "DecisionStarted",
    (_INDEX, _TRACK, *_TALLY),
    "The referendum started deciding: the curves fall from this block.",
)
ConfirmStarted: Final = EventDef(
    NAME,
    "ConfirmStarted",
    (_INDEX, ("until", fields.U32)),
    "The referendum passes: it is approved if it keeps passing until the block named.",
)
ConfirmAborted: Final = EventDef(
    NAME,
    "ConfirmAborted",
    (_INDEX,),
    "The referendum stopped passing while confirming; it is deciding again.",
)
Approved: Final = EventDef(
    NAME,
    "Approved",
    (_INDEX, ("enactment", fields.U32), *_TALLY),
    "The referendum kept passing for its whole confirmation period; its proposal is scheduled "
    "for the block named.",
)
EnactmentDeferred: Final = EventDef(
    NAME,
    "EnactmentDeferred",
    (_INDEX, ("reason", fields.str_type(512))),
    "The approved proposal could not be scheduled yet (the scheduler says why); retried at the "
    "next block.",
)
Rejected: Final = EventDef(
    NAME,
    "Rejected",
    (_INDEX, *_TALLY),
    "The decision period ended without the referendum passing.",
)
TimedOut: Final = EventDef(
    NAME,
    "TimedOut",
    (_INDEX,),
    "The referendum never started deciding before its track's time-out; its deposits are "
    "refundable.",
)
Cancelled: Final = EventDef(
    NAME, "Cancelled", (_INDEX,), "Root cancelled the referendum; its deposits are refundable."
)
Killed: Final = EventDef(
    NAME,
    "Killed",
    (_INDEX,),
    "Root killed the referendum; its deposits went to the treasury.",
)
TracksSet: Final = EventDef(NAME, "TracksSet", (("count", fields.U8),), "Root replaced the tracks.")
