"""Paying out of holds (escrow and stake) without ever failing, as hooks must not."""

from __future__ import annotations

from collections.abc import Sequence

from runtime.framework import BlockContext
from runtime.pallets import balances, system


def pay_out(ctx: BlockContext, source: bytes, reason: str, dest: bytes, amount: int) -> int:
    """Pay from a hold without ever failing: hooks must not (a failing hook halts the chain).

    The invariants guarantee the hold covers `amount`; if it somehow does not, what is there
    is paid. Returns what left the hold (a payment too small to create `dest` is burned).
    """
    amount = min(amount, balances.held(ctx, source, reason))
    if amount:
        balances.transfer_held(ctx, source, reason, dest, amount)
    return amount


def pay_out_all(
    ctx: BlockContext, source: bytes, reason: str, payouts: Sequence[tuple[bytes, int]]
) -> list[int]:
    """Make each (dest, amount) payment from a hold, in full and without ever failing; what
    each receiver was credited, in order (the treasury records its own).

    Paid one by one, a source left below the existential deposit would be reaped by the payment
    that takes it there, and what it still held for the later receivers burned. So when the
    payments leave it below the deposit, they are taken from its hold at once (reaping it, with
    only its own dust burned) and then credited to their receivers.
    """
    info = system.account(ctx, source)
    if info is None:
        return [0] * len(payouts)
    total = sum(amount for _, amount in payouts)
    if info.total - total >= balances.EXISTENTIAL_DEPOSIT:
        return [pay_out(ctx, source, reason, dest, amount) for dest, amount in payouts]
    left = balances.slash_held(ctx, source, reason, total)
    credited = []
    for dest, amount in payouts:
        amount = min(amount, left)
        left -= amount
        credited.append(balances.deposit(ctx, dest, amount))
    return credited


def release_held(ctx: BlockContext, who: bytes, reason: str, amount: int) -> int:
    """Release up to `amount` of a hold back to free balance; returns what was released."""
    amount = min(amount, balances.held(ctx, who, reason))
    if amount:
        balances.release(ctx, who, reason, amount)
    return amount
