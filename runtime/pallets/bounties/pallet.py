"""The bounties pallet: a bounty's calls, its genesis and invariants (the child bounties' calls
are in `children`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from runtime import fields
from runtime.framework import (
    BadOrigin,
    BlockContext,
    Origin,
    Pallet,
    call,
    ensure_root,
    ensure_signed,
)
from runtime.pallets import balances
from runtime.pallets.bounties.children import ChildBountyCalls
from runtime.pallets.bounties.errors import (
    ERRORS,
    BadParams,
    DescriptionTooLong,
    HasActiveChildBounty,
    InvalidFee,
    NotProposedCurator,
    PendingPayout,
    Premature,
    RequireCurator,
    ValueTooLow,
)
from runtime.pallets.bounties.events import (
    EVENTS,
    BountyAwarded,
    BountyClaimed,
    BountyClosed,
    BountyExtended,
    BountyFunded,
    BountyProposed,
    BountyRejected,
    BountyWithdrawn,
    CuratorAccepted,
    CuratorProposed,
    CuratorUnassigned,
    ParamsChanged,
)
from runtime.pallets.bounties.funds import (
    ensure_spender,
    fund,
    hold_deposit,
    pay_from,
    release_deposit,
    return_all,
    slash_deposit,
)
from runtime.pallets.bounties.invariants import broken_invariants
from runtime.pallets.bounties.params import (
    CALL_WEIGHT,
    CLOSE_WEIGHT,
    MAX_DESCRIPTION,
    NAME,
    BountiesParams,
)
from runtime.pallets.bounties.storage import (
    ACTIVE,
    CURATOR_PROPOSED,
    FUNDED,
    PENDING_PAYOUT,
    PROPOSED,
    Bounties,
    Bounty,
    BountyCount,
    Children,
    Params,
    bounty,
    bounty_account,
    expect_status,
)
from runtime.pallets.governance.spending import register_spending_call
from runtime.state import PrefixIterator, StateOverlay, StateReader


def _proposal_bond(ctx: BlockContext, args: tuple[Any, ...]) -> int:
    """A proposal's outflow: its bond."""
    return Params.get(ctx.state).bond_for(args[1])


def _curator_deposit(ctx: BlockContext, args: tuple[Any, ...]) -> int:
    """accept_curator's outflow: the deposit of the proposed fee (0 if nothing is proposed)."""
    found = Bounties.get(ctx.state, args[0])
    return 0 if found is None else Params.get(ctx.state).curator_deposit(found.fee)


class BountiesPallet(ChildBountyCalls, Pallet):
    """Bounties funded by the treasury, curated, awarded and claimed after a delay, with child
    bounties as milestones."""

    NAME = NAME
    PARAMS = BountiesParams
    EVENTS = EVENTS
    ERRORS = ERRORS

    # Calls

    @call(
        args=(("value", fields.BALANCE), ("description", fields.bytes_type(MAX_DESCRIPTION))),
        weight=CALL_WEIGHT,
        outflow=_proposal_bond,
    )
    def propose_bounty(
        self, ctx: BlockContext, origin: Origin, value: int, description: bytes
    ) -> None:
        """Propose a bounty of `value`, holding a bond of `bond_base` plus `bond_per_byte` for
        each byte of `description`: refunded at approval (or withdrawal after the proposal
        period), slashed to the treasury if governance rejects it."""
        proposer = ensure_signed(origin)
        p = Params.get(ctx.state)
        if len(description) > MAX_DESCRIPTION:
            raise DescriptionTooLong()
        if value < p.value_minimum:
            raise ValueTooLow(f"a bounty is at least {p.value_minimum}")
        bond = p.bond_for(description)
        hold_deposit(ctx, proposer, bond)
        bounty_id = BountyCount.get(ctx.state)
        BountyCount.put(ctx.state, bounty_id + 1)
        Bounties.insert(
            ctx.state,
            bounty_id,
            Bounty(proposer, value, bond, PROPOSED, description, proposed_at=ctx.number),
        )
        ctx.deposit_event(BountyProposed, bounty_id, proposer, value, bond)

    @call(args=(("bounty", fields.U64),), weight=CALL_WEIGHT, outflow=0)
    def approve_bounty(self, ctx: BlockContext, origin: Origin, bounty_id: int) -> None:
        """Fund a proposed bounty (Root, or a track whose max_spend covers its value): the
        treasury pays its value into the bounty's account; the proposer's bond is refunded."""
        current = bounty(ctx, bounty_id)
        ensure_spender(ctx, origin, current.value)
        expect_status(current, PROPOSED)
        account = bounty_account(bounty_id)
        fund(ctx, "bounties", account, current.value)
        release_deposit(ctx, current.proposer, current.bond)
        Bounties.insert(ctx.state, bounty_id, replace(current, status=FUNDED, bond=0))
        ctx.deposit_event(BountyFunded, bounty_id, current.value, account)

    @call(
        args=(("bounty", fields.U64), ("curator", fields.ACCOUNT), ("fee", fields.BALANCE)),
        weight=CALL_WEIGHT,
        outflow=0,
    )
    def propose_curator(
        self, ctx: BlockContext, origin: Origin, bounty_id: int, curator: bytes, fee: int
    ) -> None:
        """Propose a curator for a funded bounty, to be paid `fee` (below the value) out of it
        at the claim (Root, or a track whose max_spend covers the bounty's value)."""
        current = bounty(ctx, bounty_id)
        ensure_spender(ctx, origin, current.value)
        expect_status(current, FUNDED)
        if fee >= current.value:
            raise InvalidFee(f"the fee must be below the bounty's value {current.value}")
        Bounties.insert(
            ctx.state,
            bounty_id,
            replace(current, status=CURATOR_PROPOSED, curator=curator, fee=fee),
        )
        ctx.deposit_event(CuratorProposed, bounty_id, curator, fee)

    @call(args=(("bounty", fields.U64),), weight=CALL_WEIGHT, outflow=_curator_deposit)
    def accept_curator(self, ctx: BlockContext, origin: Origin, bounty_id: int) -> None:
        """Accept the curatorship proposed to the caller, holding the curator deposit
        (`curator_deposit_ppm` of the fee, within its bounds) until the bounty is claimed or
        closed, or the curator resigns."""
        who = ensure_signed(origin)
        current = bounty(ctx, bounty_id)
        expect_status(current, CURATOR_PROPOSED)
        if current.curator != who:
            raise NotProposedCurator()
        p = Params.get(ctx.state)
        deposit = p.curator_deposit(current.fee)
        hold_deposit(ctx, who, deposit)
        due = ctx.number + p.update_period
        Bounties.insert(
            ctx.state,
            bounty_id,
            replace(current, status=ACTIVE, curator_deposit=deposit, update_due=due),
        )
        ctx.deposit_event(CuratorAccepted, bounty_id, who, deposit, due)

    @call(args=(("bounty", fields.U64),), weight=CALL_WEIGHT, outflow=0)
    def unassign_curator(self, ctx: BlockContext, origin: Origin, bounty_id: int) -> None:
        """Remove a bounty's curator; the bounty is funded again, waiting for another.

        A proposed curator may be withdrawn by governance or decline. An active curator that
        resigns gets its deposit back; governance (Root or a track covering the value) removing
        it, or anyone once its `update_due` passed without `extend_bounty_expiry`, slashes its
        deposit to the treasury. An awarded bounty's curator may be removed by governance only,
        its deposit slashed (the award was wrong)."""
        current = bounty(ctx, bounty_id)
        expect_status(current, CURATOR_PROPOSED, ACTIVE, PENDING_PAYOUT)
        curator = current.curator
        assert curator is not None
        governance = origin.signer is None
        if governance:
            ensure_spender(ctx, origin, current.value)
        refunded = slashed = 0
        if current.status == CURATOR_PROPOSED:
            if not governance and origin.signer != curator:
                raise BadOrigin()
        elif current.status == ACTIVE and origin.signer == curator:
            refunded = release_deposit(ctx, curator, current.curator_deposit)
        elif current.status == ACTIVE and not governance and ctx.number <= current.update_due:
            raise Premature(f"the curator is active until block {current.update_due}")
        elif current.status == PENDING_PAYOUT and not governance:
            raise BadOrigin()
        else:
            slashed = slash_deposit(ctx, curator, current.curator_deposit)
        Bounties.insert(
            ctx.state,
            bounty_id,
            replace(
                current,
                status=FUNDED,
                curator=None,
                fee=0,
                curator_deposit=0,
                update_due=0,
                beneficiary=None,
                unlock_at=0,
            ),
        )
        ctx.deposit_event(CuratorUnassigned, bounty_id, curator, refunded, slashed)

    @call(args=(("bounty", fields.U64),), weight=CALL_WEIGHT, outflow=0)
    def extend_bounty_expiry(self, ctx: BlockContext, origin: Origin, bounty_id: int) -> None:
        """The curator shows it is active: nobody may unassign it for another `update_period`."""
        who = ensure_signed(origin)
        current = bounty(ctx, bounty_id)
        expect_status(current, ACTIVE)
        if current.curator != who:
            raise RequireCurator()
        due = ctx.number + Params.get(ctx.state).update_period
        Bounties.insert(ctx.state, bounty_id, replace(current, update_due=due))
        ctx.deposit_event(BountyExtended, bounty_id, due)

    @call(
        args=(("bounty", fields.U64), ("beneficiary", fields.ACCOUNT)),
        weight=CALL_WEIGHT,
        outflow=0,
    )
    def award_bounty(
        self, ctx: BlockContext, origin: Origin, bounty_id: int, beneficiary: bytes
    ) -> None:
        """The curator awards the bounty to `beneficiary`, payable after `payout_delay` blocks
        (refused while child bounties are open, and once awarded: an award is made once)."""
        who = ensure_signed(origin)
        current = bounty(ctx, bounty_id)
        expect_status(current, ACTIVE)
        if current.curator != who:
            raise RequireCurator()
        if Children.get(ctx.state, bounty_id):
            raise HasActiveChildBounty()
        unlock_at = ctx.number + Params.get(ctx.state).payout_delay
        Bounties.insert(
            ctx.state,
            bounty_id,
            replace(current, status=PENDING_PAYOUT, beneficiary=beneficiary, unlock_at=unlock_at),
        )
        ctx.deposit_event(BountyAwarded, bounty_id, beneficiary, unlock_at)

    @call(args=(("bounty", fields.U64),), weight=CLOSE_WEIGHT, outflow=0)
    def claim_bounty(self, ctx: BlockContext, origin: Origin, bounty_id: int) -> None:
        """Pay an awarded bounty once its payout delay has passed (anyone may): the curator its
        fee and its deposit back, the beneficiary the rest of the bounty's account. The bounty
        is then gone, so it cannot be claimed twice."""
        ensure_signed(origin)
        current = bounty(ctx, bounty_id)
        expect_status(current, PENDING_PAYOUT)
        if ctx.number < current.unlock_at:
            raise Premature(f"the bounty may be claimed from block {current.unlock_at}")
        curator, beneficiary = current.curator, current.beneficiary
        assert curator is not None and beneficiary is not None
        release_deposit(ctx, curator, current.curator_deposit)
        account = bounty_account(bounty_id)
        total = balances.free_balance(ctx, account)
        fee = min(current.fee, total)
        fee_paid, payout = pay_from(ctx, account, [(curator, fee), (beneficiary, total - fee)])
        Bounties.remove(ctx.state, bounty_id)
        Children.remove(ctx.state, bounty_id)
        ctx.deposit_event(BountyClaimed, bounty_id, beneficiary, payout, fee_paid)

    @call(args=(("bounty", fields.U64),), weight=CLOSE_WEIGHT, outflow=0)
    def close_bounty(self, ctx: BlockContext, origin: Origin, bounty_id: int) -> None:
        """End a bounty (Root only: a referendum on the root track): a proposal is rejected, its
        bond slashed to the treasury; a funded bounty's account goes back to the treasury, and
        an active curator (not at fault) gets its deposit back. Refused while child bounties are
        open and while an award waits (unassign its curator first)."""
        ensure_root(origin)
        current = bounty(ctx, bounty_id)
        if current.status == PROPOSED:
            slashed = slash_deposit(ctx, current.proposer, current.bond)
            Bounties.remove(ctx.state, bounty_id)
            ctx.deposit_event(BountyRejected, bounty_id, slashed)
            return
        if current.status == PENDING_PAYOUT:
            raise PendingPayout()
        if Children.get(ctx.state, bounty_id):
            raise HasActiveChildBounty()
        if current.status == ACTIVE and current.curator is not None:
            release_deposit(ctx, current.curator, current.curator_deposit)
        returned = return_all(ctx, bounty_account(bounty_id))
        Bounties.remove(ctx.state, bounty_id)
        ctx.deposit_event(BountyClosed, bounty_id, returned)

    @call(args=(("bounty", fields.U64),), weight=CALL_WEIGHT, outflow=0)
    def withdraw_proposal(self, ctx: BlockContext, origin: Origin, bounty_id: int) -> None:
        """Withdraw a proposal that nobody approved or rejected within `proposal_period` blocks
        (anyone may): its bond is refunded, so that no bond waits on governance forever."""
        ensure_signed(origin)
        current = bounty(ctx, bounty_id)
        expect_status(current, PROPOSED)
        expires = current.proposed_at + Params.get(ctx.state).proposal_period
        if ctx.number < expires:
            raise Premature(f"the proposal may be withdrawn from block {expires}")
        refunded = release_deposit(ctx, current.proposer, current.bond)
        Bounties.remove(ctx.state, bounty_id)
        ctx.deposit_event(BountyWithdrawn, bounty_id, refunded)

    @call(args=BountiesParams.call_args(), weight=CALL_WEIGHT, outflow=0)
    def set_params(self, ctx: BlockContext, origin: Origin, *values: Any) -> None:
        """Change the bounties' parameters (Root only); deposits already held stay as they
        were."""
        self.change_params(ctx, origin, BountiesParams(*values), Params, BadParams, ParamsChanged)

    # Invariants

    def check_invariants(self, read: StateReader, iterate: PrefixIterator) -> list[str]:
        """Deposits held equal deposits owed; every open bounty's and child's account exists;
        each bounty's list of children matches them (`invariants.broken_invariants`)."""
        return broken_invariants(read, iterate)


def _bounty_value(state: StateOverlay, args: tuple[Any, ...]) -> int:
    """What a governance call on bounty `args[0]` answers for: its value (0 for no bounty; the
    call then fails at enactment, and checks the origin against the value it finds then)."""
    found = Bounties.get(state, args[0])
    return 0 if found is None else found.value


for _name in (
    "approve_bounty",
    "propose_curator",
    "unassign_curator",
    "unassign_child_curator",
):
    register_spending_call(NAME, _name, _bounty_value)
