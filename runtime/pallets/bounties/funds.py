"""How bounty money moves: from the treasury at approval, between a bounty's accounts, to its
curator and beneficiary, and back to the treasury; deposits held, released or slashed.

Every payment that a claim or a close makes succeeds whatever the receiver's state: an amount
too small to create a receiver's account goes to the treasury instead of failing the call (a
failing claim would leave the funds stranded in the bounty's account), and a bounty's account is
emptied so that no remainder below the existential deposit is burned with it (`pay_from`).
"""

from __future__ import annotations

from runtime.accounts import TREASURY
from runtime.framework import BadOrigin, BlockContext, DispatchError, Origin
from runtime.pallets import balances, treasury
from runtime.pallets.bounties.errors import SpendTooLarge
from runtime.pallets.bounties.params import HOLD
from runtime.pallets.governance import tracks


def ensure_spender(
    ctx: BlockContext,
    origin: Origin,
    value: int,
    too_large: type[DispatchError] = SpendTooLarge,
) -> None:
    """BadOrigin unless `origin` is Root or a spending track; `too_large` if the track's
    `max_spend` is below `value`."""
    if origin.signer is not None or not (origin.root or origin.track):
        raise BadOrigin()
    limit = tracks.spend_limit(ctx.state, origin)
    if limit is not None and value > limit:
        raise too_large(f"the {origin.track} track may spend at most {limit}, not {value}")


def fund(ctx: BlockContext, purpose: str, account: bytes, value: int) -> None:
    """Pay `value` from the treasury into `account` (the treasury's InsufficientFunds names the
    shortfall)."""
    treasury.pay_out(ctx, purpose, account, value)


def return_all(ctx: BlockContext, account: bytes) -> int:
    """Move everything free in `account` back to the treasury as returns (reaping the account
    if it holds nothing else); returns the amount."""
    amount = balances.free_balance(ctx, account)
    if amount:
        balances.transfer(ctx, account, TREASURY, amount, keep_alive=False)
        treasury.receive(ctx, "returns", amount)
    return amount


def pay_from(ctx: BlockContext, source: bytes, payouts: list[tuple[bytes, int]]) -> list[int]:
    """Pay each (dest, amount) out of `source`'s free balance by transfers, without failing, and
    return what each receiver got.

    The payments are made smallest first, so that when they add up to everything `source` has
    (a claim, a close) the last one empties it and none leaves it below the existential deposit
    before, which would reap it and burn the rest. An amount too small to create its receiver's
    account goes to the treasury as returns. Should a payment still leave `source` below the
    deposit (parts below it that add up to less than two deposits), everything left goes to the
    treasury instead of being burned."""
    received = [0] * len(payouts)
    for i in sorted(range(len(payouts)), key=lambda i: payouts[i][1]):
        dest, amount = payouts[i]
        free = balances.free_balance(ctx, source)
        amount = min(amount, free)
        if amount == 0:
            continue
        if 0 < free - amount < balances.EXISTENTIAL_DEPOSIT:
            return_all(ctx, source)
            break
        if not balances.exists(ctx, dest) and amount < balances.EXISTENTIAL_DEPOSIT:
            balances.transfer(ctx, source, TREASURY, amount, keep_alive=False)
            treasury.receive(ctx, "returns", amount)
            continue
        balances.transfer(ctx, source, dest, amount, keep_alive=False)
        received[i] = amount
    return received


def hold_deposit(ctx: BlockContext, who: bytes, amount: int) -> None:
    """Hold a bond or a curator deposit (InsufficientBalance if `who` cannot)."""
    if amount:
        balances.hold(ctx, who, HOLD, amount)


def release_deposit(ctx: BlockContext, who: bytes, amount: int) -> int:
    """Give a bond or curator deposit back; returns what was released."""
    amount = min(amount, balances.held(ctx, who, HOLD))
    if amount:
        balances.release(ctx, who, HOLD, amount)
    return amount


def slash_deposit(ctx: BlockContext, who: bytes, amount: int) -> int:
    """Take a bond or curator deposit to the treasury as a slash; returns what was taken."""
    taken = balances.slash_held(ctx, who, HOLD, amount)
    arrived = balances.deposit(ctx, TREASURY, taken)
    if arrived:
        treasury.receive(ctx, "slashes", arrived)
    return taken
