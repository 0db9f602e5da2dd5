"""The treasury's ledger: what other pallets call when money enters or leaves the treasury.

Every path that credits the TREASURY account records the amount it credited with `receive`,
under its source; every payment out goes through `pay_out`, and every burn through `burn`, so
that the treasury's balance always equals its genesis balance plus its income less what it paid
and burned (`invariants`). `available` is what no approved spend is promised: bounties, grants
and the burn take only from it.
"""

from __future__ import annotations

from typing import Final

from runtime.accounts import TREASURY
from runtime.framework import BlockContext
from runtime.pallets import balances, system
from runtime.pallets.treasury.errors import BadBeneficiary, InsufficientFunds
from runtime.pallets.treasury.events import Burnt, PaidOut
from runtime.pallets.treasury.params import PPM, PURPOSES, SOURCES
from runtime.pallets.treasury.storage import Ledgers, Params, Promised
from runtime.primitives.amount import format_amount
from runtime.state import StateOverlay

FEES: Final = "fees"
SLASHES: Final = "slashes"
INFLATION: Final = "inflation"
PROTOCOL: Final = "protocol"
RENT: Final = "rent"
RETURNS: Final = "returns"
DONATIONS: Final = "donations"


def balance(state: StateOverlay) -> int:
    """The treasury account's free balance (it holds nothing)."""
    info = system.Account.get(state, TREASURY)
    return 0 if info is None else info.free


def available(state: StateOverlay) -> int:
    """What the treasury may pay or burn: its balance less the existential deposit (it is never
    reaped) and less what approved spends are promised."""
    return max(0, balance(state) - balances.EXISTENTIAL_DEPOSIT - Promised.get(state))


def receive(ctx: BlockContext, source: str, amount: int) -> None:
    """Record `amount` that was just credited to the TREASURY account, as income from `source`
    (one of `SOURCES`). Callers pass what the credit returned, so that a credit that did not
    happen is not counted. Never fails for a known source (hooks call it)."""
    if source not in SOURCES:
        raise ValueError(f"unknown treasury income source {source!r}")
    if amount:
        Ledgers.put(ctx.state, Ledgers.get(ctx.state).plus(source, amount))


def pay_out(ctx: BlockContext, purpose: str, dest: bytes, amount: int) -> None:
    """Move `amount` of the treasury's available funds to `dest` and record it under `purpose`
    (one of `PURPOSES`); InsufficientFunds naming the shortfall if the available funds do not
    cover it (the promised funds and the existential deposit are never paid this way), the
    balances error if `dest` cannot receive it (a new account below the existential deposit)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown treasury purpose {purpose!r}")
    if dest == TREASURY:
        raise BadBeneficiary()
    free = available(ctx.state)
    if amount > free:
        raise InsufficientFunds(
            f"the treasury has {format_amount(free)} available, "
            f"{format_amount(amount - free)} short of {format_amount(amount)}"
        )
    if amount == 0:
        return
    balances.transfer(ctx, TREASURY, dest, amount, keep_alive=True)
    Ledgers.put(ctx.state, Ledgers.get(ctx.state).plus(purpose, amount))
    ctx.deposit_event(PaidOut, purpose, dest, amount)


def next_burn(state: StateOverlay) -> int:
    """What the end of a spend period would burn now: `burn_ppm` of the available funds."""
    return available(state) * Params.get(state).burn_ppm // PPM


def burn(ctx: BlockContext) -> int:
    """Burn `burn_ppm` of the available funds (the end of a spend period); what was burned.
    Promised funds are never touched. Never fails."""
    amount = next_burn(ctx.state)
    if amount:
        balances.withdraw(ctx, TREASURY, amount, keep_alive=True)
        Ledgers.put(ctx.state, Ledgers.get(ctx.state).plus("burned", amount))
    ctx.deposit_event(Burnt, amount, available(ctx.state))
    return amount


def inflation_share(state: StateOverlay, reward: int) -> int:
    """The part of an era's `reward` that is minted to the treasury (`inflation_share_ppm`)."""
    return reward * Params.get(state).inflation_share_ppm // PPM


def note_donation(ctx: BlockContext, amount: int) -> None:
    """A transfer call paid `amount` into the treasury: a donation."""
    receive(ctx, DONATIONS, amount)
