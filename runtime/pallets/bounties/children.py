"""Child bounties: a bounty's milestones, each funded out of its parent's account and curated,
awarded and claimed on its own (Substrate's pallet_child_bounties).

The parent's curator adds a child with part of the parent's funds (never more than its account
holds above the existential deposit) and proposes its curator; the child's curator accepts
(holding a deposit, none if it is the parent's curator too) and awards it; anyone claims it after
the payout delay. Closing a child returns its funds to the parent's account. A parent may not be
awarded or closed while it has open children, and has at most MAX_CHILDREN of them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from runtime import fields
from runtime.framework import BadOrigin, BlockContext, Origin, call, ensure_signed
from runtime.pallets import balances
from runtime.pallets.bounties.errors import (
    DescriptionTooLong,
    InsufficientBountyBalance,
    InvalidFee,
    NotProposedCurator,
    PendingPayout,
    Premature,
    RequireCurator,
    TooManyChildBounties,
    ValueTooLow,
)
from runtime.pallets.bounties.events import (
    ChildBountyAdded,
    ChildBountyAwarded,
    ChildBountyClaimed,
    ChildBountyClosed,
    ChildCuratorAccepted,
    ChildCuratorProposed,
    ChildCuratorUnassigned,
)
from runtime.pallets.bounties.funds import (
    ensure_spender,
    hold_deposit,
    pay_from,
    release_deposit,
    slash_deposit,
)
from runtime.pallets.bounties.params import CALL_WEIGHT, CLOSE_WEIGHT, MAX_CHILDREN, MAX_DESCRIPTION
from runtime.pallets.bounties.storage import (
    ACTIVE,
    ADDED,
    CURATOR_PROPOSED,
    PENDING_PAYOUT,
    Bounty,
    ChildBounties,
    ChildBounty,
    ChildBountyCount,
    Children,
    Params,
    bounty,
    bounty_account,
    child_account,
    child_bounty,
    expect_status,
)

_PARENT = ("parent", fields.U64)
_CHILD = ("child", fields.U64)


def _active_parent(ctx: BlockContext, parent: int) -> Bounty:
    current = bounty(ctx, parent)
    expect_status(current, ACTIVE)
    return current


def _is_parent_curator(parent: Bounty, origin: Origin) -> bool:
    return parent.status == ACTIVE and origin.signer is not None and parent.curator == origin.signer


def _child_deposit(ctx: BlockContext, args: tuple[Any, ...]) -> int:
    """accept_child_curator's outflow: the deposit of the proposed fee (0 if nothing is
    proposed)."""
    found = ChildBounties.get(ctx.state, args[1])
    return 0 if found is None else Params.get(ctx.state).curator_deposit(found.fee)


def _unassigned(child: ChildBounty) -> ChildBounty:
    return replace(
        child,
        status=ADDED,
        curator=None,
        fee=0,
        curator_deposit=0,
        beneficiary=None,
        unlock_at=0,
    )


class ChildBountyCalls:
    """The child bounties' calls, part of the bounties pallet."""

    @call(
        args=(
            _PARENT,
            ("value", fields.BALANCE),
            ("description", fields.bytes_type(MAX_DESCRIPTION)),
        ),
        weight=CALL_WEIGHT,
        outflow=0,
    )
    def add_child_bounty(
        self, ctx: BlockContext, origin: Origin, parent: int, value: int, description: bytes
    ) -> None:
        """The parent's curator sets `value` of an active bounty apart as a child bounty (a
        milestone): it moves from the parent's account to the child's. Refused above what the
        parent's account holds beyond the existential deposit."""
        who = ensure_signed(origin)
        current = _active_parent(ctx, parent)
        if current.curator != who:
            raise RequireCurator()
        if len(description) > MAX_DESCRIPTION:
            raise DescriptionTooLong()
        least = Params.get(ctx.state).child_value_minimum
        if value < least:
            raise ValueTooLow(f"a child bounty is at least {least}")
        children = Children.get(ctx.state, parent) or ()
        if len(children) >= MAX_CHILDREN:
            raise TooManyChildBounties(f"a bounty has at most {MAX_CHILDREN} open children")
        source = bounty_account(parent)
        spare = balances.free_balance(ctx, source) - balances.EXISTENTIAL_DEPOSIT
        if value > spare:
            raise InsufficientBountyBalance(
                f"the bounty's account can fund at most {max(0, spare)}"
            )
        child_id = ChildBountyCount.get(ctx.state)
        ChildBountyCount.put(ctx.state, child_id + 1)
        balances.transfer(ctx, source, child_account(child_id), value, keep_alive=True)
        ChildBounties.insert(ctx.state, child_id, ChildBounty(parent, value, ADDED, description))
        Children.insert(ctx.state, parent, (*children, child_id))
        ctx.deposit_event(ChildBountyAdded, parent, child_id, value)

    @call(
        args=(_PARENT, _CHILD, ("curator", fields.ACCOUNT), ("fee", fields.BALANCE)),
        weight=CALL_WEIGHT,
        outflow=0,
    )
    def propose_child_curator(
        self,
        ctx: BlockContext,
        origin: Origin,
        parent: int,
        child_id: int,
        curator: bytes,
        fee: int,
    ) -> None:
        """The parent's curator proposes a curator for a child bounty, paid `fee` (below the
        child's value) out of it at the claim."""
        who = ensure_signed(origin)
        current = _active_parent(ctx, parent)
        if current.curator != who:
            raise RequireCurator()
        child = child_bounty(ctx, parent, child_id)
        expect_status(child, ADDED)
        if fee >= child.value:
            raise InvalidFee(f"the fee must be below the child bounty's value {child.value}")
        ChildBounties.insert(
            ctx.state, child_id, replace(child, status=CURATOR_PROPOSED, curator=curator, fee=fee)
        )
        ctx.deposit_event(ChildCuratorProposed, parent, child_id, curator, fee)

    @call(args=(_PARENT, _CHILD), weight=CALL_WEIGHT, outflow=_child_deposit)
    def accept_child_curator(
        self, ctx: BlockContext, origin: Origin, parent: int, child_id: int
    ) -> None:
        """Accept the child curatorship proposed to the caller, holding the curator deposit of
        its fee (none for the parent's own curator, whose deposit already answers for it)."""
        who = ensure_signed(origin)
        current = bounty(ctx, parent)
        child = child_bounty(ctx, parent, child_id)
        expect_status(child, CURATOR_PROPOSED)
        if child.curator != who:
            raise NotProposedCurator()
        deposit = 0 if current.curator == who else Params.get(ctx.state).curator_deposit(child.fee)
        hold_deposit(ctx, who, deposit)
        ChildBounties.insert(
            ctx.state, child_id, replace(child, status=ACTIVE, curator_deposit=deposit)
        )
        ctx.deposit_event(ChildCuratorAccepted, parent, child_id, who, deposit)

    @call(args=(_PARENT, _CHILD), weight=CALL_WEIGHT, outflow=0)
    def unassign_child_curator(
        self, ctx: BlockContext, origin: Origin, parent: int, child_id: int
    ) -> None:
        """Remove a child bounty's curator; the child waits for another.

        A proposed curator may be withdrawn by governance or the parent's curator, or decline.
        An active curator that resigns gets its deposit back; removed by governance or the
        parent's curator, or by anyone once the parent's curator is itself past its update due,
        its deposit is slashed to the treasury. An awarded child's curator may be removed by
        governance or the parent's curator only, its deposit slashed."""
        current = bounty(ctx, parent)
        child = child_bounty(ctx, parent, child_id)
        expect_status(child, CURATOR_PROPOSED, ACTIVE, PENDING_PAYOUT)
        curator = child.curator
        assert curator is not None
        if origin.signer is None:
            ensure_spender(ctx, origin, current.value)
        overseer = origin.signer is None or _is_parent_curator(current, origin)
        refunded = slashed = 0
        if child.status == CURATOR_PROPOSED:
            if not overseer and origin.signer != curator:
                raise BadOrigin()
        elif child.status == ACTIVE and origin.signer == curator:
            refunded = release_deposit(ctx, curator, child.curator_deposit)
        elif child.status == ACTIVE and not overseer:
            # A stranger may unassign only under a parent curator that has gone silent; under
            # no parent curator at all, only governance may (nobody can grief a diligent one).
            if current.status != ACTIVE:
                raise BadOrigin()
            if ctx.number <= current.update_due:
                raise Premature(f"the parent's curator is active until block {current.update_due}")
            slashed = slash_deposit(ctx, curator, child.curator_deposit)
        elif child.status == PENDING_PAYOUT and not overseer:
            raise BadOrigin()
        else:
            slashed = slash_deposit(ctx, curator, child.curator_deposit)
        ChildBounties.insert(ctx.state, child_id, _unassigned(child))
        ctx.deposit_event(ChildCuratorUnassigned, parent, child_id, curator, refunded, slashed)

    @call(args=(_PARENT, _CHILD, ("beneficiary", fields.ACCOUNT)), weight=CALL_WEIGHT, outflow=0)
    def award_child_bounty(
        self, ctx: BlockContext, origin: Origin, parent: int, child_id: int, beneficiary: bytes
    ) -> None:
        """The child's curator awards it to `beneficiary`, payable after `payout_delay` blocks
        (once: an awarded child is no longer active)."""
        who = ensure_signed(origin)
        child = child_bounty(ctx, parent, child_id)
        expect_status(child, ACTIVE)
        if child.curator != who:
            raise RequireCurator()
        unlock_at = ctx.number + Params.get(ctx.state).payout_delay
        ChildBounties.insert(
            ctx.state,
            child_id,
            replace(child, status=PENDING_PAYOUT, beneficiary=beneficiary, unlock_at=unlock_at),
        )
        ctx.deposit_event(ChildBountyAwarded, parent, child_id, beneficiary, unlock_at)

    @call(args=(_PARENT, _CHILD), weight=CLOSE_WEIGHT, outflow=0)
    def claim_child_bounty(
        self, ctx: BlockContext, origin: Origin, parent: int, child_id: int
    ) -> None:
        """Pay an awarded child bounty once its payout delay has passed (anyone may): its
        curator the fee and its deposit back, the beneficiary the rest of the child's account."""
        ensure_signed(origin)
        child = child_bounty(ctx, parent, child_id)
        expect_status(child, PENDING_PAYOUT)
        if ctx.number < child.unlock_at:
            raise Premature(f"the child bounty may be claimed from block {child.unlock_at}")
        curator, beneficiary = child.curator, child.beneficiary
        assert curator is not None and beneficiary is not None
        release_deposit(ctx, curator, child.curator_deposit)
        account = child_account(child_id)
        total = balances.free_balance(ctx, account)
        fee = min(child.fee, total)
        fee_paid, payout = pay_from(ctx, account, [(curator, fee), (beneficiary, total - fee)])
        _remove_child(ctx, parent, child_id)
        ctx.deposit_event(ChildBountyClaimed, parent, child_id, beneficiary, payout, fee_paid)

    @call(args=(_PARENT, _CHILD), weight=CLOSE_WEIGHT, outflow=0)
    def close_child_bounty(
        self, ctx: BlockContext, origin: Origin, parent: int, child_id: int
    ) -> None:
        """End a child bounty that is not awarded (Root, or the parent's curator): its funds go
        back to the parent's account, and an active curator (not at fault) gets its deposit
        back. An awarded child's curator must be unassigned first."""
        if not origin.root:
            ensure_signed(origin)
        current = bounty(ctx, parent)
        if not origin.root and not _is_parent_curator(current, origin):
            raise RequireCurator()
        child = child_bounty(ctx, parent, child_id)
        if child.status == PENDING_PAYOUT:
            raise PendingPayout()
        if child.status == ACTIVE and child.curator is not None:
            release_deposit(ctx, child.curator, child.curator_deposit)
        account = child_account(child_id)
        total = balances.free_balance(ctx, account)
        (returned,) = pay_from(ctx, account, [(bounty_account(parent), total)])
        _remove_child(ctx, parent, child_id)
        ctx.deposit_event(ChildBountyClosed, parent, child_id, returned)


def _remove_child(ctx: BlockContext, parent: int, child_id: int) -> None:
    ChildBounties.remove(ctx.state, child_id)
    left = tuple(c for c in Children.get(ctx.state, parent) or () if c != child_id)
    if left:
        Children.insert(ctx.state, parent, left)
    else:
        Children.remove(ctx.state, parent)
