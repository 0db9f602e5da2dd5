"""The treasury's events."""

from __future__ import annotations

from typing import Final

from runtime import fields
from runtime.framework import EventDef
from runtime.pallets.treasury.params import NAME

SpendApproved: Final = EventDef(
    NAME,
    "SpendApproved",
    (
        ("index", fields.U32),
        ("amount", fields.BALANCE),
        ("beneficiary", fields.ACCOUNT),
        ("valid_from", fields.U64),
        ("expire_at", fields.U64),
        ("origin", fields.str_type(16)),
    ),
    "A spend was approved: its amount is promised to the beneficiary, claimable from valid_from "
    "until expire_at.",
)
SpendPaid: Final = EventDef(
    NAME,
    "SpendPaid",
    (("index", fields.U32), ("beneficiary", fields.ACCOUNT), ("amount", fields.BALANCE)),
    "An approved spend was paid to its beneficiary.",
)
SpendLapsed: Final = EventDef(
    NAME,
    "SpendLapsed",
    (("index", fields.U32), ("amount", fields.BALANCE)),
    "An approved spend expired unclaimed; its amount is available again.",
)
SpendVoided: Final = EventDef(
    NAME,
    "SpendVoided",
    (("index", fields.U32), ("amount", fields.BALANCE)),
    "Root voided an approved spend before it was paid; its amount is available again.",
)
PaidOut: Final = EventDef(
    NAME,
    "PaidOut",
    (("purpose", fields.str_type(16)), ("to", fields.ACCOUNT), ("amount", fields.BALANCE)),
    "The treasury paid out of its funds: a spend, a bounty's funds or a compute grant.",
)
Burnt: Final = EventDef(
    NAME,
    "Burnt",
    (("amount", fields.BALANCE), ("available", fields.BALANCE)),
    "A spend period ended: this much of the unpromised funds was burned, this much is left.",
)
ParamsChanged: Final = EventDef(NAME, "ParamsChanged", (), "Root changed the treasury parameters.")

EVENTS = (SpendApproved, SpendPaid, SpendLapsed, SpendVoided, PaidOut, Burnt, ParamsChanged)
