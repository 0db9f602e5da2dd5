"""Transaction payment: the fee of every signed transaction and where it goes.

    fee = BASE_FEE + length × BYTE_FEE + weight × WEIGHT_FEE × multiplier + tip

The multiplier follows block fullness as Substrate's targeted fee adjustment does: after each
block, with s the fullness of the normal-class weight (the transactions'; hooks' mandatory
weight is left out, as Substrate leaves it out) and s* the target,

    next = prev × (1 + v·(s − s*) + (v·(s − s*))² / 2), clamped to [MIN, MAX]

so fees rise while blocks are fuller than the target and fall back when they are emptier. All in
fixed point with FIXED_ONE = 10^18. The fee (without tip) is split AUTHOR_FEE_PERCENT to the block
author and the rest to the treasury; tips go wholly to the author. The author's part goes to the
stash behind the author's session key (to the key's own account if no stash is behind it).

A duty of the protocol (a call declared `pays=False`: a committee member's attestations, a
worker's response to a check) is free when it succeeds: its fee, withdrawn up front as every
fee is, is refunded after the dispatch (`refund_fee`), its tip kept, as Substrate's `Pays::No`.
"""

from __future__ import annotations

from typing import Final

from runtime import fields
from runtime.accounts import TREASURY
from runtime.framework import (
    U128_CODEC,
    BlockContext,
    DispatchError,
    EventDef,
    Pallet,
    StorageValue,
)
from runtime.pallets import balances, staking, system, treasury
from runtime.primitives.codec import U128_MAX
from runtime.state import StateOverlay

NAME: Final = "transaction_payment"

# Constants

BASE_FEE: Final = 1_000_000_000
"""0.001 XPL charged on every transaction."""
BYTE_FEE: Final = 1_000_000
"""Per byte of the encoded transaction."""
WEIGHT_FEE: Final = 10
"""Per picosecond of declared weight, before the multiplier."""
FIXED_ONE: Final = 10**18
TARGET_FULLNESS: Final = FIXED_ONE // 4
ADJUSTMENT_VARIABLE: Final = 40 * FIXED_ONE // 1_000_000
MIN_MULTIPLIER: Final = FIXED_ONE
MAX_MULTIPLIER: Final = 1_000 * FIXED_ONE
AUTHOR_FEE_PERCENT: Final = 20

# Storage

NextFeeMultiplier: Final = StorageValue[int](NAME, "NextFeeMultiplier", U128_CODEC, FIXED_ONE)

# Events

TransactionFeePaid: Final = EventDef(
    NAME,
    "TransactionFeePaid",
    (("who", fields.ACCOUNT), ("actual_fee", fields.BALANCE), ("tip", fields.BALANCE)),
    "A transaction paid its fee (tip included in actual_fee).",
)

# Errors


class PaymentError(DispatchError):
    """Base of the transaction-payment pallet's dispatch errors."""

    pallet = NAME


class CannotPayFee(PaymentError):
    """The account cannot pay the fee and stay above the existential deposit (or its funds are
    frozen)."""


# The fee formula


def compute_fee(multiplier: int, length: int, weight: int, tip: int) -> int:
    """The fee of a transaction of `length` bytes and declared `weight`, tip included."""
    return BASE_FEE + length * BYTE_FEE + weight * WEIGHT_FEE * multiplier // FIXED_ONE + tip


def next_multiplier(previous: int, weight_used: int, max_weight: int) -> int:
    """The targeted fee adjustment for the next block, given this block's normal weight."""
    fullness = min(weight_used, max_weight) * FIXED_ONE // max_weight
    diff = fullness - TARGET_FULLNESS
    v_diff = ADJUSTMENT_VARIABLE * diff // FIXED_ONE
    adjustment = v_diff + v_diff * v_diff // (2 * FIXED_ONE)
    updated = previous + previous * adjustment // FIXED_ONE
    return max(MIN_MULTIPLIER, min(MAX_MULTIPLIER, updated))


def current_multiplier(state: StateOverlay) -> int:
    """The fee multiplier that applies to this block, in fixed point (FIXED_ONE is 1)."""
    return NextFeeMultiplier.get(state)


def withdraw_fee(ctx: BlockContext, who: bytes, fee: int, tip: int) -> None:
    """Charge a transaction's fee (tip included); CannotPayFee if it cannot be paid."""
    try:
        balances.withdraw(ctx, who, fee, keep_alive=True)
    except (balances.InsufficientBalance, balances.KeepAlive, balances.Frozen) as exc:
        raise CannotPayFee() from exc
    ctx.fees_collected += fee - tip
    ctx.tips_collected += tip
    ctx.deposit_event(TransactionFeePaid, who, fee, tip)


SPENDS_EVERYTHING: Final = U128_MAX
"""The outflow of a call that cannot say what it moves out of the free balance: more than any
balance, so the pool counts it as spending all its signer has left after its fee."""


def fee_budget(ctx: BlockContext, who: bytes) -> int:
    """What `who` can pay in fees and move out of its free balance in all now: as much of its
    free balance as `withdraw_fee` may take and leave the account alive (its free balance above
    the existential deposit, less what its holds already keep it above the deposit by), and no
    more than its freezes leave usable (`balances.usable_free`)."""
    info = system.account(ctx, who)
    if info is None:
        return 0
    usable = balances.usable_free(ctx, who)
    return max(0, min(usable, info.total - balances.EXISTENTIAL_DEPOSIT))


def priority(fee: int, weight: int, length: int) -> int:
    """A transaction's priority: its fee (tip included) per share of the block it takes.

    As Substrate's `ChargeTransactionPayment`, the fee is scaled by how many such transactions
    the block's normal class would hold (by weight or by length, whichever runs out first), so
    that a large transaction must pay in proportion to outrank small ones. What a sender can still
    do: buy priority with a tip, which it pays in full once included.
    """
    per_block = min(
        system.MAX_NORMAL_WEIGHT // max(weight, 1), system.MAX_NORMAL_LENGTH // max(length, 1)
    )
    return fee * max(per_block, 1)


def refund_fee(ctx: BlockContext, who: bytes, fee: int, tip: int, paid_event: int) -> None:
    """Refund the fee of a duty call that succeeded (see `framework.CallDef.pays`), keeping its
    tip: what `withdraw_fee` took, less the tip, goes back to `who` and out of the block's fees,
    and the transaction's TransactionFeePaid event (at `paid_event` in the block's events) is
    rewritten to what was finally paid, so that the event always tells what a transaction cost.

    What an attacker can still do: nothing free but its own duties. A duty call succeeds only for
    the one account whose duty it is, once per duty, so the free calls in a block are bounded by
    the open duties (committee members and responses per check); any other call of it fails and
    pays in full, and the pool still requires the whole fee to be payable before admitting it.
    """
    refunded = balances.refund(ctx, who, fee - tip)
    ctx.fees_collected -= refunded
    record = ctx.events[paid_event]
    assert record.event is TransactionFeePaid and record.args[0] == who
    ctx.events[paid_event] = record._replace(args=(who, fee - refunded, tip))


class TransactionPayment(Pallet):
    """The transaction-payment pallet: fees, their payout, and the fee multiplier."""

    NAME = NAME
    EVENTS = (TransactionFeePaid,)
    ERRORS = (CannotPayFee,)

    # Hooks

    def on_finalize(self, ctx: BlockContext) -> None:
        """Pay out the block's fees and set the next block's fee multiplier."""
        author_share = ctx.fees_collected * AUTHOR_FEE_PERCENT // 100
        author = staking.stash_of(ctx.state, ctx.author) or ctx.author
        balances.deposit(ctx, author, author_share + ctx.tips_collected)
        to_treasury = balances.deposit(ctx, TREASURY, ctx.fees_collected - author_share)
        treasury.receive(ctx, treasury.FEES, to_treasury)
        ctx.fees_collected = ctx.tips_collected = 0
        previous = NextFeeMultiplier.get(ctx.state)
        updated = next_multiplier(previous, ctx.weight_used, system.MAX_NORMAL_WEIGHT)
        if updated != previous:
            NextFeeMultiplier.put(ctx.state, updated)

    # Genesis

    def build_genesis(self, ctx: BlockContext, config: object) -> None:
        """The fee multiplier starts at 1 (FIXED_ONE)."""
        NextFeeMultiplier.put(ctx.state, FIXED_ONE)
