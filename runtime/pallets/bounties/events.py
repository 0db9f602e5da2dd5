"""Bounties' events: one for every transition of a bounty or child bounty, with the amounts
that moved."""

from __future__ import annotations

from typing import Final

from runtime import fields
from runtime.framework import EventDef
from runtime.pallets.bounties.params import NAME

_ID = ("bounty", fields.U64)
_CHILD = ("child", fields.U64)
_CURATOR = ("curator", fields.ACCOUNT)

BountyProposed: Final = EventDef(
    NAME,
    "BountyProposed",
    (_ID, ("proposer", fields.ACCOUNT), ("value", fields.BALANCE), ("bond", fields.BALANCE)),
    "A bounty was proposed; its bond is held.",
)
BountyRejected: Final = EventDef(
    NAME,
    "BountyRejected",
    (_ID, ("slashed", fields.BALANCE)),
    "A proposal was rejected; its bond went to the treasury.",
)
BountyWithdrawn: Final = EventDef(
    NAME,
    "BountyWithdrawn",
    (_ID, ("refunded", fields.BALANCE)),
    "A proposal nobody decided on within the proposal period was withdrawn; its bond refunded.",
)
BountyFunded: Final = EventDef(
    NAME,
    "BountyFunded",
    (_ID, ("value", fields.BALANCE), ("account", fields.ACCOUNT)),
    "A bounty was approved: the treasury paid its value into its account; the bond refunded.",
)
CuratorProposed: Final = EventDef(
    NAME,
    "CuratorProposed",
    (_ID, _CURATOR, ("fee", fields.BALANCE)),
    "A curator was proposed for a funded bounty, at this fee.",
)
CuratorAccepted: Final = EventDef(
    NAME,
    "CuratorAccepted",
    (_ID, _CURATOR, ("deposit", fields.BALANCE), ("update_due", fields.U64)),
    "The curator accepted and holds its deposit; it must act before `update_due`.",
)
CuratorUnassigned: Final = EventDef(
    NAME,
    "CuratorUnassigned",
    (_ID, _CURATOR, ("refunded", fields.BALANCE), ("slashed", fields.BALANCE)),
    "The curator was unassigned; its deposit refunded (it resigned, or was never at fault) or "
    "slashed to the treasury (removed by governance, or silent past its update due).",
)
BountyExtended: Final = EventDef(
    NAME,
    "BountyExtended",
    (_ID, ("update_due", fields.U64)),
    "The curator showed it is active: nobody may unassign it before `update_due`.",
)
BountyAwarded: Final = EventDef(
    NAME,
    "BountyAwarded",
    (_ID, ("beneficiary", fields.ACCOUNT), ("unlock_at", fields.U64)),
    "The curator awarded the bounty; it may be claimed from block `unlock_at`.",
)
BountyClaimed: Final = EventDef(
    NAME,
    "BountyClaimed",
    (_ID, ("beneficiary", fields.ACCOUNT), ("payout", fields.BALANCE), ("fee", fields.BALANCE)),
    "An awarded bounty was paid: its curator's fee and deposit, the rest to the beneficiary.",
)
BountyClosed: Final = EventDef(
    NAME,
    "BountyClosed",
    (_ID, ("returned", fields.BALANCE)),
    "A bounty was closed; what its account held went back to the treasury.",
)
ChildBountyAdded: Final = EventDef(
    NAME,
    "ChildBountyAdded",
    (_ID, _CHILD, ("value", fields.BALANCE)),
    "The curator set a milestone apart: the value moved from the bounty's account to the child's.",
)
ChildCuratorProposed: Final = EventDef(
    NAME,
    "ChildCuratorProposed",
    (_ID, _CHILD, _CURATOR, ("fee", fields.BALANCE)),
    "A curator was proposed for a child bounty, at this fee.",
)
ChildCuratorAccepted: Final = EventDef(
    NAME,
    "ChildCuratorAccepted",
    (_ID, _CHILD, _CURATOR, ("deposit", fields.BALANCE)),
    "The child bounty's curator accepted and holds its deposit.",
)
ChildCuratorUnassigned: Final = EventDef(
    NAME,
    "ChildCuratorUnassigned",
    (_ID, _CHILD, _CURATOR, ("refunded", fields.BALANCE), ("slashed", fields.BALANCE)),
    "The child bounty's curator was unassigned; its deposit refunded or slashed.",
)
ChildBountyAwarded: Final = EventDef(
    NAME,
    "ChildBountyAwarded",
    (_ID, _CHILD, ("beneficiary", fields.ACCOUNT), ("unlock_at", fields.U64)),
    "A child bounty was awarded; it may be claimed from block `unlock_at`.",
)
ChildBountyClaimed: Final = EventDef(
    NAME,
    "ChildBountyClaimed",
    (
        _ID,
        _CHILD,
        ("beneficiary", fields.ACCOUNT),
        ("payout", fields.BALANCE),
        ("fee", fields.BALANCE),
    ),
    "A child bounty was paid: its curator's fee and deposit, the rest to the beneficiary.",
)
ChildBountyClosed: Final = EventDef(
    NAME,
    "ChildBountyClosed",
    (_ID, _CHILD, ("returned", fields.BALANCE)),
    "A child bounty was closed; its funds went back to the parent bounty's account.",
)
ParamsChanged: Final = EventDef(NAME, "ParamsChanged", (), "The bounties' parameters changed.")

EVENTS: Final = (
    BountyProposed,
    BountyRejected,
    BountyWithdrawn,
    BountyFunded,
    CuratorProposed,
    CuratorAccepted,
    CuratorUnassigned,
    BountyExtended,
    BountyAwarded,
    BountyClaimed,
    BountyClosed,
    ChildBountyAdded,
    ChildCuratorProposed,
    ChildCuratorAccepted,
    ChildCuratorUnassigned,
    ChildBountyAwarded,
    ChildBountyClaimed,
    ChildBountyClosed,
    ParamsChanged,
)
