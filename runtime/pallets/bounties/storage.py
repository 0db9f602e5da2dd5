"""Bounties' records and storage items.

A bounty moves through these states (Substrate's pallet_bounties):

    proposed --approve--> funded --propose_curator--> curator_proposed --accept--> active
    active --award--> pending_payout --claim (after payout_delay)--> (removed, paid)

and back to `funded` when its curator is unassigned; `close_bounty` ends any but a pending
payout. A child bounty (a milestone) is `added` from its parent's funds, then has the same
curator states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime import fields
from runtime.accounts import pallet_sub_account
from runtime.framework import (
    U64_CODEC,
    BlockContext,
    StorageMap,
    StorageValue,
    record_codec,
    value_codec,
)
from runtime.pallets.bounties.errors import UnexpectedStatus, UnknownBounty, UnknownChildBounty
from runtime.pallets.bounties.params import (
    BOUNTY_ID,
    CHILD_ID,
    DEFAULT_BOUNTIES_PARAMS,
    MAX_CHILDREN,
    MAX_DESCRIPTION,
    NAME,
    BountiesParams,
)
from runtime.primitives import codec
from runtime.schema import Record, param

PROPOSED: Final = "proposed"
FUNDED: Final = "funded"
CURATOR_PROPOSED: Final = "curator_proposed"
ACTIVE: Final = "active"
PENDING_PAYOUT: Final = "pending_payout"
ADDED: Final = "added"
"""A child bounty funded from its parent, with no curator yet."""
BOUNTY_STATES: Final = (PROPOSED, FUNDED, CURATOR_PROPOSED, ACTIVE, PENDING_PAYOUT)
CHILD_STATES: Final = (ADDED, CURATOR_PROPOSED, ACTIVE, PENDING_PAYOUT)
CURATED: Final = (ACTIVE, PENDING_PAYOUT)
"""The states in which a curator holds its deposit."""

_OPTIONAL_ACCOUNT = fields.option_type(fields.ACCOUNT)


@dataclass(frozen=True, slots=True)
class Bounty(Record):
    """A bounty: what it pays, who proposed and curates it, and where it stands."""

    proposer: bytes = param(fields.ACCOUNT)
    value: int = param(fields.BALANCE)
    """What the treasury pays into the bounty's account at approval."""
    bond: int = param(fields.BALANCE)
    """Held from the proposer while the bounty is proposed."""
    status: str = param(fields.str_type(16))
    description: bytes = param(fields.bytes_type(MAX_DESCRIPTION))
    proposed_at: int = param(fields.U64)
    fee: int = param(fields.BALANCE, default=0)
    """The curator's fee, paid out of the value at the claim."""
    curator: bytes | None = param(_OPTIONAL_ACCOUNT, default=None)
    curator_deposit: int = param(fields.BALANCE, default=0)
    """Held from the curator while it is active or its award pending."""
    update_due: int = param(fields.U64, default=0)
    """The block after which anyone may unassign a silent curator."""
    beneficiary: bytes | None = param(_OPTIONAL_ACCOUNT, default=None)
    unlock_at: int = param(fields.U64, default=0)
    """The block from which an awarded bounty may be claimed."""


@dataclass(frozen=True, slots=True)
class ChildBounty(Record):
    """A child bounty (a milestone of its parent), funded out of the parent's account."""

    parent: int = param(fields.U64)
    value: int = param(fields.BALANCE)
    status: str = param(fields.str_type(16))
    description: bytes = param(fields.bytes_type(MAX_DESCRIPTION))
    fee: int = param(fields.BALANCE, default=0)
    curator: bytes | None = param(_OPTIONAL_ACCOUNT, default=None)
    curator_deposit: int = param(fields.BALANCE, default=0)
    beneficiary: bytes | None = param(_OPTIONAL_ACCOUNT, default=None)
    unlock_at: int = param(fields.U64, default=0)


def _u64_key(k: int) -> bytes:
    return k.to_bytes(8, "big")


Params: Final = StorageValue[BountiesParams](
    NAME, "Params", record_codec(BountiesParams), DEFAULT_BOUNTIES_PARAMS
)
BountyCount: Final = StorageValue[int](NAME, "BountyCount", U64_CODEC, 0)
"""The id the next proposal gets; ids are never reused."""
Bounties: Final = StorageMap[int, Bounty](NAME, "Bounties", _u64_key, record_codec(Bounty))
ChildBountyCount: Final = StorageValue[int](NAME, "ChildBountyCount", U64_CODEC, 0)
"""The id the next child bounty gets (one sequence for every parent)."""
ChildBounties: Final = StorageMap[int, ChildBounty](
    NAME, "ChildBounties", _u64_key, record_codec(ChildBounty)
)
Children: Final = StorageMap[int, tuple[int, ...]](
    NAME,
    "Children",
    _u64_key,
    value_codec(
        lambda ids: list(ids),
        lambda v: tuple(
            codec.expect_int(x, 0, codec.U64_MAX, "child id")
            for x in codec.expect_array(v, MAX_CHILDREN, "children")
        ),
    ),
)
"""The open child bounties of a bounty, in the order they were added (at most MAX_CHILDREN)."""


def bounty_account(bounty_id: int) -> bytes:
    """The account that holds a funded bounty's value."""
    return pallet_sub_account(BOUNTY_ID, bounty_id)


def child_account(child_id: int) -> bytes:
    """The account that holds a child bounty's value."""
    return pallet_sub_account(CHILD_ID, child_id)


def bounty(ctx: BlockContext, bounty_id: int) -> Bounty:
    """The bounty `bounty_id`; UnknownBounty if there is none."""
    found = Bounties.get(ctx.state, bounty_id)
    if found is None:
        raise UnknownBounty(f"no bounty {bounty_id}")
    return found


def child_bounty(ctx: BlockContext, parent: int, child_id: int) -> ChildBounty:
    """Child bounty `child_id` of bounty `parent`; UnknownChildBounty if there is none."""
    found = ChildBounties.get(ctx.state, child_id)
    if found is None or found.parent != parent:
        raise UnknownChildBounty(f"bounty {parent} has no child bounty {child_id}")
    return found


def expect_status(current: Bounty | ChildBounty, *states: str) -> None:
    """UnexpectedStatus unless `current` is in one of `states`."""
    if current.status not in states:
        raise UnexpectedStatus(f"it is {current.status}, not {' or '.join(states)}")
