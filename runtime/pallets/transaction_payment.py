"""Transaction payment: the fee of every signed transaction and where it goes.

    fee = base_fee + length × byte_fee + weight × weight_fee × multiplier + tip

The multiplier follows block fullness as Substrate's targeted fee adjustment does: after each
block, with s the fullness of the normal-class weight (the transactions'; hooks' mandatory
weight is left out, as Substrate leaves it out) and s* the target,

    next = prev × (1 + v·(s − s*) + (v·(s − s*))² / 2), clamped to [MIN, MAX]

so fees rise while blocks are fuller than the target and fall back when they are emptier. All in
fixed point with FIXED_ONE = 10^18. The fee (without tip) is split `author_share_ppm` to the block
author and the rest to the treasury; tips go wholly to the author. The author's part goes to the
stash behind the author's session key (to the key's own account if no stash is behind it).

The terms (base, byte and weight fees, the author's share, the target fullness s*, the variable v
and the multiplier's bounds) are a parameter record in state (`TransactionPaymentParams`, from the
chain spec's `genesis.transactionPayment`), which Root changes with `set_params`; the constants
below are its defaults. Every place a fee is computed (block execution, the pool's check, the
`payment_queryInfo` RPC) reads the record of the state it computes on, so an estimate made on the
best block is what a transaction included on it pays.

A duty of the protocol (a call declared `pays=False`: a committee member's attestations, a
worker's response to a check) is free when it succeeds: its fee, withdrawn up front as every
fee is, is refunded after the dispatch (`refund_fee`), its tip kept, as Substrate's `Pays::No`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Protocol

from runtime import fields
from runtime.accounts import TREASURY
from runtime.framework import (
    U128_CODEC,
    WEIGHT_PER_MICROS,
    BlockContext,
    DispatchError,
    EventDef,
    Origin,
    Pallet,
    StorageValue,
    call,
    record_codec,
)
from runtime.pallets import balances, staking, system, treasury
from runtime.primitives.codec import U128_MAX
from runtime.schema import Record, param
from runtime.state import PrefixIterator, StateOverlay, StateReader

NAME: Final = "transaction_payment"

# Constants

PPM: Final = 1_000_000
PPB: Final = 1_000_000_000
FIXED_ONE: Final = 10**18
"""1 in the multiplier's fixed point."""

BASE_FEE: Final = 1_000_000_000
"""0.001 XPL charged on every transaction (the default `base_fee`)."""
BYTE_FEE: Final = 1_000_000
"""Per byte of the encoded transaction (the default `byte_fee`)."""
WEIGHT_FEE: Final = 10
"""Per picosecond of declared weight, before the multiplier (the default `weight_fee`)."""
TARGET_FULLNESS: Final = FIXED_ONE // 4
ADJUSTMENT_VARIABLE: Final = 40 * FIXED_ONE // 1_000_000
MIN_MULTIPLIER: Final = FIXED_ONE
MAX_MULTIPLIER: Final = 1_000 * FIXED_ONE
AUTHOR_FEE_PERCENT: Final = 20
"""The defaults of the multiplier's terms and of the author's share, in the units above."""

MAX_BASE_FEE: Final = 10 * 10**12
MAX_BYTE_FEE: Final = 10**10
MAX_WEIGHT_FEE: Final = 1_000
"""The most governance may charge: 10 XPL a transaction, 0.01 XPL a byte (a largest call of 4 KiB
then costs 41 XPL), 1,000 per picosecond (a full block's weight then costs 375 XPL at a
multiplier of 1). Fees above these would leave most accounts unable to send the very
transaction that lowers them again."""
MAX_ADJUSTMENT_PPB: Final = 10_000_000
"""v at most 0.01: the multiplier moves by at most about 1% a block."""
MAX_MULTIPLIER_PPM: Final = 10**12
"""The multiplier at most 10^6."""
SET_PARAMS_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
"""Decoding and checking the parameters, clamping the multiplier and writing both."""


@dataclass(frozen=True, slots=True)
class TransactionPaymentParams(Record):
    """The fee's terms (genesis; changed by Root through the `root` track)."""

    base_fee: int = param(
        fields.BALANCE,
        1,
        MAX_BASE_FEE,
        default=BASE_FEE,
        rule=f"must be positive (a free transaction costs a spammer nothing) and at most "
        f"{MAX_BASE_FEE}",
    )
    """Charged on every transaction."""
    byte_fee: int = param(fields.BALANCE, 0, MAX_BYTE_FEE, default=BYTE_FEE)
    """Per byte of the encoded transaction."""
    weight_fee: int = param(fields.U64, 0, MAX_WEIGHT_FEE, default=WEIGHT_FEE)
    """Per picosecond of declared weight, before the multiplier."""
    author_share_ppm: int = param(
        fields.U32, 0, PPM, default=AUTHOR_FEE_PERCENT * PPM // 100, rule=f"must be 0 to {PPM}"
    )
    """The block author's share of the fees (tips excluded: they are wholly the author's); the
    treasury gets the rest."""
    target_fullness_ppm: int = param(
        fields.U32, 1, PPM - 1, default=TARGET_FULLNESS * PPM // FIXED_ONE
    )
    """s*: the share of the normal-class weight above which the multiplier rises."""
    adjustment_ppb: int = param(
        fields.U32, 0, MAX_ADJUSTMENT_PPB, default=ADJUSTMENT_VARIABLE * PPB // FIXED_ONE
    )
    """v: how fast the multiplier follows fullness, in parts per billion (0: it stays put)."""
    min_multiplier_ppm: int = param(
        fields.U64, 1, MAX_MULTIPLIER_PPM, default=MIN_MULTIPLIER * PPM // FIXED_ONE
    )
    """The least the multiplier falls to, in parts per million of 1."""
    max_multiplier_ppm: int = param(
        fields.U64, 1, MAX_MULTIPLIER_PPM, default=MAX_MULTIPLIER * PPM // FIXED_ONE
    )
    """The most the multiplier rises to, in parts per million of 1."""

    @property
    def min_multiplier(self) -> int:
        """The least multiplier, in fixed point."""
        return self.min_multiplier_ppm * (FIXED_ONE // PPM)

    @property
    def max_multiplier(self) -> int:
        """The most multiplier, in fixed point."""
        return self.max_multiplier_ppm * (FIXED_ONE // PPM)

    def check(self) -> None:
        """ValueError naming the first parameter out of its range; the multiplier's bounds out of
        order; or a multiplier that could not move between them: at its least it must rise in
        full blocks, and at its most fall in empty ones (in integer arithmetic a small multiplier
        times a small adjustment rounds to no change: a target near 100% with a tiny v would
        leave it stuck at its least however full the blocks)."""
        Record.check(self)
        if self.min_multiplier_ppm > self.max_multiplier_ppm:
            raise ValueError("min_multiplier_ppm must not exceed max_multiplier_ppm")
        if self.adjustment_ppb == 0 or self.min_multiplier_ppm == self.max_multiplier_ppm:
            return
        most = system.MAX_NORMAL_WEIGHT
        if next_multiplier(self.min_multiplier, most, most, self) <= self.min_multiplier:
            raise ValueError(
                "the multiplier would stay at min_multiplier_ppm however full the blocks: raise "
                "min_multiplier_ppm or adjustment_ppb, or lower target_fullness_ppm"
            )
        if next_multiplier(self.max_multiplier, 0, most, self) >= self.max_multiplier:
            raise ValueError(
                "the multiplier would stay at max_multiplier_ppm however empty the blocks: raise "
                "adjustment_ppb or target_fullness_ppm"
            )


DEFAULT_TRANSACTION_PAYMENT_PARAMS: Final = TransactionPaymentParams()
"""0.001 XPL a transaction, 10^-6 XPL a byte and 10 units a picosecond of weight; 20% of the
fees to the block's author; the multiplier between 1 and 1,000, rising while blocks are more than
a quarter full, by v = 0.00004 (Substrate's)."""

# Storage

NextFeeMultiplier: Final = StorageValue[int](NAME, "NextFeeMultiplier", U128_CODEC, FIXED_ONE)
Params: Final = StorageValue[TransactionPaymentParams](
    NAME,
    "Params",
    record_codec(TransactionPaymentParams),
    DEFAULT_TRANSACTION_PAYMENT_PARAMS,
)

# Events

TransactionFeePaid: Final = EventDef(
    NAME,
    "TransactionFeePaid",
    (("who", fields.ACCOUNT), ("actual_fee", fields.BALANCE), ("tip", fields.BALANCE)),
    "A transaction paid its fee (tip included in actual_fee).",
)
ParamsChanged: Final = EventDef(NAME, "ParamsChanged", (), "Root changed the fee's terms.")

# Errors


class PaymentError(DispatchError):
    """Base of the transaction-payment pallet's dispatch errors."""

    pallet = NAME


class CannotPayFee(PaymentError):
    """The account cannot pay the fee out of its unlocked balance and keep the deposit."""


class BadParams(PaymentError):
    """The fee's terms are out of their ranges or would leave the multiplier stuck."""


# The fee formula


def compute_fee(
    multiplier: int,
    length: int,
    weight: int,
    tip: int,
    p: TransactionPaymentParams = DEFAULT_TRANSACTION_PAYMENT_PARAMS,
) -> int:
    """The fee of a transaction of `length` bytes and declared `weight`, tip included, on the
    terms `p` (read them from the state with `params_in`)."""
    return p.base_fee + length * p.byte_fee + weight * p.weight_fee * multiplier // FIXED_ONE + tip


def next_multiplier(
    previous: int,
    weight_used: int,
    max_weight: int,
    p: TransactionPaymentParams = DEFAULT_TRANSACTION_PAYMENT_PARAMS,
) -> int:
    """The targeted fee adjustment for the next block, given this block's normal weight."""
    fullness = min(weight_used, max_weight) * FIXED_ONE // max_weight
    diff = fullness - p.target_fullness_ppm * (FIXED_ONE // PPM)
    v_diff = p.adjustment_ppb * diff // PPB
    adjustment = v_diff + v_diff * v_diff // (2 * FIXED_ONE)
    updated = previous + previous * adjustment // FIXED_ONE
    return max(p.min_multiplier, min(p.max_multiplier, updated))


def current_multiplier(state: StateOverlay) -> int:
    """The fee multiplier that applies to this block, in fixed point (FIXED_ONE is 1)."""
    return NextFeeMultiplier.get(state)


def params_in(state: StateOverlay) -> TransactionPaymentParams:
    """The fee's terms in force in `state` (decoded once per state and cached with it)."""
    return Params.get(state)


def withdraw_fee(ctx: BlockContext, who: bytes, fee: int, tip: int) -> None:
    """Charge a transaction's fee (tip included); CannotPayFee if it cannot be paid."""
    try:
        balances.withdraw(ctx, who, fee, keep_alive=True)
    except balances.Frozen as exc:
        raise CannotPayFee(f"cannot pay the fee: {exc}") from exc
    except (balances.InsufficientBalance, balances.KeepAlive) as exc:
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
    usable = balances.usable_of(info, balances.frozen(ctx, who))
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


class TransactionPaymentGenesis(Protocol):
    """The part of the genesis config that transaction payment builds from."""

    @property
    def transaction_payment(self) -> TransactionPaymentParams: ...


class TransactionPayment(Pallet):
    """The transaction-payment pallet: fees, their payout, and the fee multiplier."""

    NAME = NAME
    PARAMS = TransactionPaymentParams
    EVENTS = (TransactionFeePaid, ParamsChanged)
    ERRORS = (CannotPayFee, BadParams)

    # Hooks

    def on_finalize(self, ctx: BlockContext) -> None:
        """Pay out the block's fees and set the next block's fee multiplier."""
        p = Params.get(ctx.state)
        author_share = ctx.fees_collected * p.author_share_ppm // PPM
        author = staking.stash_of(ctx.state, ctx.author) or ctx.author
        balances.deposit(ctx, author, author_share + ctx.tips_collected)
        to_treasury = balances.deposit(ctx, TREASURY, ctx.fees_collected - author_share)
        treasury.receive(ctx, treasury.FEES, to_treasury)
        ctx.fees_collected = ctx.tips_collected = 0
        previous = NextFeeMultiplier.get(ctx.state)
        updated = next_multiplier(previous, ctx.weight_used, system.MAX_NORMAL_WEIGHT, p)
        if updated != previous:
            NextFeeMultiplier.put(ctx.state, updated)

    # Calls

    @call(args=TransactionPaymentParams.call_args(), weight=SET_PARAMS_WEIGHT, outflow=0)
    def set_params(self, ctx: BlockContext, origin: Origin, *values: Any) -> None:
        """Change the fee's terms (Root only); the multiplier is brought within its new bounds
        at once, so the next block's fees follow them."""
        self.change_params(
            ctx, origin, TransactionPaymentParams(*values), Params, BadParams, ParamsChanged
        )
        p = Params.get(ctx.state)
        multiplier = NextFeeMultiplier.get(ctx.state)
        clamped = max(p.min_multiplier, min(p.max_multiplier, multiplier))
        if clamped != multiplier:
            NextFeeMultiplier.put(ctx.state, clamped)

    # Genesis

    def build_genesis(self, ctx: BlockContext, config: TransactionPaymentGenesis) -> None:
        """The fee's terms (ValueError if the config's break a rule); the fee multiplier starts
        at 1 (FIXED_ONE), within their bounds."""
        p = config.transaction_payment
        self.check_params(ctx.state, p)
        Params.put(ctx.state, p)
        NextFeeMultiplier.put(ctx.state, max(p.min_multiplier, min(p.max_multiplier, FIXED_ONE)))

    # Invariants

    def check_invariants(self, read: StateReader, iterate: PrefixIterator) -> list[str]:
        """The fee multiplier lies within the bounds of the terms in force."""
        state = StateOverlay(read)
        p, multiplier = Params.get(state), NextFeeMultiplier.get(state)
        if not p.min_multiplier <= multiplier <= p.max_multiplier:
            return [
                f"the fee multiplier {multiplier} is outside [{p.min_multiplier}, "
                f"{p.max_multiplier}]"
            ]
        return []
