"""The market's events."""

from __future__ import annotations

from typing import Final

from runtime import fields
from runtime.framework import EventDef
from runtime.pallets.market.constants import NAME

_JOB = ("job", fields.U64)
WorkerRegistered: Final = EventDef(
    NAME, "WorkerRegistered", (("worker", fields.ACCOUNT), ("stake", fields.BALANCE))
)
WorkerUpdated: Final = EventDef(NAME, "WorkerUpdated", (("worker", fields.ACCOUNT),))
WorkerRetired: Final = EventDef(
    NAME, "WorkerRetired", (("worker", fields.ACCOUNT), ("stake", fields.BALANCE))
)
JobSubmitted: Final = EventDef(
    NAME,
    "JobSubmitted",
    (
        _JOB,
        ("requester", fields.ACCOUNT),
        ("workload", fields.str_type(32)),
        ("cost_units", fields.U64),
        ("escrow", fields.BALANCE),
    ),
)
JobMatched: Final = EventDef(
    NAME,
    "JobMatched",
    (_JOB, ("worker", fields.ACCOUNT), ("price", fields.BALANCE), ("commit_by", fields.U32)),
)
JobDeclined: Final = EventDef(
    NAME, "JobDeclined", (_JOB, ("worker", fields.ACCOUNT), ("penalty", fields.BALANCE))
)
AskRaised: Final = EventDef(
    NAME,
    "AskRaised",
    (
        ("worker", fields.ACCOUNT),
        ("workload", fields.str_type(32)),
        ("price", fields.BALANCE),
        ("in_force_at", fields.U32),
    ),
)
JobCancelled: Final = EventDef(NAME, "JobCancelled", (_JOB, ("refund", fields.BALANCE)))
JobExpired: Final = EventDef(NAME, "JobExpired", (_JOB, ("refund", fields.BALANCE)))
DeadlineMissed: Final = EventDef(
    NAME, "DeadlineMissed", (_JOB, ("worker", fields.ACCOUNT), ("penalty", fields.BALANCE))
)
JobSettled: Final = EventDef(
    NAME,
    "JobSettled",
    (
        _JOB,
        ("worker", fields.ACCOUNT),
        ("payment", fields.BALANCE),
        ("verification_fee", fields.BALANCE),
        ("protocol_fee", fields.BALANCE),
        ("refund", fields.BALANCE),
    ),
)
JobFailed: Final = EventDef(
    NAME,
    "JobFailed",
    (_JOB, ("worker", fields.ACCOUNT), ("slashed", fields.BALANCE), ("refund", fields.BALANCE)),
)
ParamsChanged: Final = EventDef(NAME, "ParamsChanged", (), "Root changed the market's parameters.")
ModelJobSubmitted: Final = EventDef(
    NAME,
    "ModelJobSubmitted",
    (_JOB, ("model", fields.U64), ("version", fields.U32), ("fee", fields.BALANCE)),
    "The job just submitted runs a registered model; its escrow holds the model's fee per use.",
)
ModelFeePaid: Final = EventDef(
    NAME,
    "ModelFeePaid",
    (
        _JOB,
        ("model", fields.U64),
        ("version", fields.U32),
        ("owner", fields.ACCOUNT),
        ("fee", fields.BALANCE),
    ),
    "A settled job paid the model it ran its fee per use, to the model's owner (what the owner "
    "was credited: a fee too small to create its account is burned).",
)
