"""The compute pallet's events."""

from __future__ import annotations

from typing import Final

from runtime import fields
from runtime.framework import EventDef
from runtime.pallets.compute.params import MAX_AUDIT_LEAVES, MAX_COMMITTEE, NAME

_JOB = ("job", fields.U64)
_CHECK = ("check", fields.U32)

ResultCommitted: Final = EventDef(
    NAME,
    "ResultCommitted",
    (_JOB, ("worker", fields.ACCOUNT), ("root", fields.HASH), ("leaves", fields.U32)),
)
ChallengeDrawn: Final = EventDef(
    NAME,
    "ChallengeDrawn",
    (
        _JOB,
        _CHECK,
        ("audited", fields.BOOL),
        ("leaves", fields.list_type(fields.U32, MAX_AUDIT_LEAVES)),
        ("committee", fields.list_type(fields.ACCOUNT, MAX_COMMITTEE)),
        ("commit_deadline", fields.U32),
        ("reveal_deadline", fields.U32),
    ),
)
"""A committee drawn for a check (audited true: an audit's first round, a dispute or a fresh
round), or a commitment's audit roll that came out unaudited (audited false, nothing drawn)."""
DisputeOpened: Final = EventDef(
    NAME,
    "DisputeOpened",
    (_JOB, _CHECK, ("challenger", fields.ACCOUNT), ("leaf", fields.U32), ("draw_at", fields.U32)),
)
AttestationCommitted: Final = EventDef(
    NAME, "AttestationCommitted", (_JOB, _CHECK, ("member", fields.ACCOUNT))
)
AttestationRevealed: Final = EventDef(
    NAME,
    "AttestationRevealed",
    (_JOB, _CHECK, ("member", fields.ACCOUNT), ("matches", fields.BOOL)),
)
"""A member's reveal; `matches`: it equals the worker's response (false while there is none)."""
WorkerResponded: Final = EventDef(NAME, "WorkerResponded", (_JOB, _CHECK))
CheckDecided: Final = EventDef(
    NAME, "CheckDecided", (_JOB, _CHECK, ("outcome", fields.str_type(16)))
)
MemberPenalized: Final = EventDef(
    NAME,
    "MemberPenalized",
    (_JOB, _CHECK, ("member", fields.ACCOUNT), ("amount", fields.BALANCE)),
)
JobVoided: Final = EventDef(NAME, "JobVoided", (_JOB,))
"""No committee decided a check in `max_rounds` rounds: the requester is refunded in full."""
ParamsChanged: Final = EventDef(NAME, "ParamsChanged", ())

EVENTS: Final = (
    ResultCommitted,
    ChallengeDrawn,
    DisputeOpened,
    AttestationCommitted,
    AttestationRevealed,
    WorkerResponded,
    CheckDecided,
    MemberPenalized,
    JobVoided,
    ParamsChanged,
)
