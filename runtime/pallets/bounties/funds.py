"""How bounty money moves: from the treasury at approval, between a bounty's accounts, to its
curator and beneficiary, and back to the treasury; deposits held, released or slashed.

Every payment that a claim or a close makes succeeds whatever the receiver's state: an amount
too small to create a receiver's account goes to the treasury instead of failing the call (a
failing claim would leave the funds stranded in the bounty's account), and a bounty's account is
emptied in one step, so that no remainder below the existential deposit is burned with it.
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
        balances.withdraw(ctx, account, amount, keep_alive=False)
        _to_treasury(ctx, "returns", amount)
    return amount


def pay_from(ctx: BlockContext, source: bytes, payouts: list[tuple[bytes, int]]) -> list[int]:
    """Pay each (dest, amount) out of `source`'s free balance, in full and without failing: the
    total leaves `source` at once (reaping it if nothing is left), then each receiver is
    credited; an amount too small to create its receiver's account goes to the treasury as
    returns. Returns what each receiver got."""
    total = sum(amount for _, amount in payouts)
    if total:
        balances.withdraw(ctx, source, total, keep_alive=False)
    received = []
    for dest, amount in payouts:
        got = balances.deposit(ctx, dest, amount)
        if amount and not got:
            _to_treasury(ctx, "returns", amount)
        received.append(got)
    return received


def _to_treasury(ctx: BlockContext, source: str, amount: int) -> None:
    """Credit the treasury with `amount` that just left another account, recorded as `source`."""
    arrived = balances.deposit(ctx, TREASURY, amount)
    if arrived:
        treasury.receive(ctx, source, arrived)


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
    _to_treasury(ctx, "slashes", taken)
    return taken
