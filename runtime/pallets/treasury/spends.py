"""Approved spends: a Root or spending-track origin promises an amount to a beneficiary, who
claims it once between `valid_from` and its expiry; an unclaimed spend lapses.

Each spend is one record, kept under its index for good (indices are never reused), so a spend
can be paid once only: a second claim finds it paid, a claim of an index that was never
approved finds nothing. A pending spend's amount is promised (`Promised`), out of the available
funds, so the burn, bounties and grants cannot take it, and a spend is refused if the available
funds do not cover it.
"""

from __future__ import annotations

from dataclasses import replace

from runtime.accounts import TREASURY
from runtime.framework import BadOrigin, BlockContext, Origin
from runtime.pallets.governance import tracks
from runtime.pallets.treasury.errors import (
    AlreadyPaid,
    BadBeneficiary,
    EarlyPayout,
    InsufficientFunds,
    SpendAboveLimit,
    SpendEnded,
    SpendExpired,
    SpendNotExpired,
    StartTooLate,
    TooManySpends,
    UnknownSpend,
    ZeroSpend,
)
from runtime.pallets.treasury.events import SpendApproved, SpendLapsed, SpendPaid, SpendVoided
from runtime.pallets.treasury.ledger import available, pay_out
from runtime.pallets.treasury.params import MAX_HISTORY, MAX_PENDING_SPENDS, MAX_PERIOD
from runtime.pallets.treasury.storage import (
    History,
    Params,
    Pending,
    Promised,
    Spend,
    SpendCount,
    Spends,
)
from runtime.primitives.amount import format_amount
from runtime.primitives.codec import U32_MAX


def origin_name(origin: Origin) -> str:
    """What approves a spend: "root" or the track's name; BadOrigin for anything else."""
    if origin.root:
        return "root"
    if origin.track and origin.signer is None:
        return origin.track
    raise BadOrigin()


def check_limit(ctx: BlockContext, origin: Origin, amount: int) -> None:
    """SpendAboveLimit unless `origin` may pay `amount` at once (`tracks.spend_limit`)."""
    name = origin_name(origin)
    limit = tracks.spend_limit(ctx.state, origin)
    if limit is not None and amount > limit:
        raise SpendAboveLimit(
            f"the {name} track may spend at most {format_amount(limit)} at once; "
            f"this spend is {format_amount(amount)}"
        )


def approve(
    ctx: BlockContext, origin: Origin, amount: int, beneficiary: bytes, valid_from: int
) -> int:
    """Approve a spend of `amount` to `beneficiary`, claimable from `valid_from` (or now, if
    that has passed) for `payout_period` blocks; its index."""
    check_limit(ctx, origin, amount)
    if amount == 0:
        raise ZeroSpend()
    if beneficiary == TREASURY:
        raise BadBeneficiary()
    if valid_from > ctx.number + MAX_PERIOD:
        raise StartTooLate(f"valid_from may be at most block {ctx.number + MAX_PERIOD}")
    state = ctx.state
    free = available(state)
    if amount > free:
        raise InsufficientFunds(
            f"the treasury has {format_amount(free)} not promised to other spends, "
            f"{format_amount(amount - free)} short of {format_amount(amount)}"
        )
    pending = Pending.get(state)
    index = SpendCount.get(state)
    if len(pending) >= MAX_PENDING_SPENDS or index > U32_MAX:
        raise TooManySpends()
    start = max(valid_from, ctx.number)
    expire_at = start + Params.get(state).payout_period
    spend = Spend(amount, beneficiary, start, expire_at, ctx.number, origin_name(origin))
    Spends.insert(state, index, spend)
    SpendCount.put(state, index + 1)
    Pending.put(state, (*pending, index))
    Promised.put(state, Promised.get(state) + amount)
    ctx.deposit_event(SpendApproved, index, amount, beneficiary, start, expire_at, spend.origin)
    return index


def pending_spend(ctx: BlockContext, index: int) -> Spend:
    """The spend `index` if it is still pending; UnknownSpend, AlreadyPaid or SpendEnded."""
    spend = Spends.get(ctx.state, index)
    if spend is None:
        raise UnknownSpend()
    if spend.status == "paid":
        raise AlreadyPaid()
    if not spend.pending:
        raise SpendEnded(f"spend {index} {spend.status} at block {spend.ended_at}")
    return spend


def _end(ctx: BlockContext, index: int, spend: Spend, status: str) -> None:
    """Record how a pending spend ended and release its promise."""
    state = ctx.state
    Spends.insert(state, index, replace(spend, status=status, ended_at=ctx.number))
    Pending.put(state, tuple(i for i in Pending.get(state) if i != index))
    Promised.put(state, Promised.get(state) - spend.amount)
    History.put(state, (*History.get(state), index)[-MAX_HISTORY:])


def payout(ctx: BlockContext, index: int) -> None:
    """Pay the pending spend `index` to its beneficiary, once, between its valid_from and its
    expiry."""
    spend = pending_spend(ctx, index)
    if ctx.number < spend.valid_from:
        raise EarlyPayout(f"spend {index} may be claimed from block {spend.valid_from}")
    if ctx.number >= spend.expire_at:
        raise SpendExpired(f"spend {index} expired at block {spend.expire_at}")
    _end(ctx, index, spend, "paid")
    pay_out(ctx, "spends", spend.beneficiary, spend.amount)  # now out of the released promise
    ctx.deposit_event(SpendPaid, index, spend.beneficiary, spend.amount)


def check_status(ctx: BlockContext, index: int) -> None:
    """End the pending spend `index` if its payout period is over, making its amount available
    again; SpendNotExpired while it may still be claimed."""
    spend = pending_spend(ctx, index)
    if ctx.number < spend.expire_at:
        raise SpendNotExpired(f"spend {index} may be claimed until block {spend.expire_at}")
    _end(ctx, index, spend, "expired")
    ctx.deposit_event(SpendLapsed, index, spend.amount)


def void(ctx: BlockContext, index: int) -> None:
    """End the pending spend `index` unpaid (Root's decision), making its amount available."""
    spend = pending_spend(ctx, index)
    _end(ctx, index, spend, "voided")
    ctx.deposit_event(SpendVoided, index, spend.amount)


def spend_amount(_state: object, args: tuple[object, ...]) -> int:
    """What a `treasury.spend` call would pay: its amount (for the referenda's track check)."""
    amount = args[0]
    assert isinstance(amount, int)
    return amount
