"""The Treasury pallet: its parameters, hook, calls, genesis and invariants."""

from __future__ import annotations

from typing import Any, Protocol

from runtime import fields
from runtime.accounts import TREASURY
from runtime.framework import (
    WEIGHT_PER_MICROS,
    BlockContext,
    Origin,
    Pallet,
    Weight,
    call,
    ensure_root,
    ensure_signed,
)
from runtime.pallets import balances
from runtime.pallets.treasury import spends
from runtime.pallets.treasury.errors import ERRORS, BadParams
from runtime.pallets.treasury.events import EVENTS, ParamsChanged
from runtime.pallets.treasury.invariants import treasury_problems
from runtime.pallets.treasury.ledger import balance, burn
from runtime.pallets.treasury.params import NAME, TreasuryParams
from runtime.pallets.treasury.storage import Ledger, Ledgers, Params
from runtime.state import PrefixIterator, StateReader

SPEND_WEIGHT = 60 * WEIGHT_PER_MICROS
"""A spend: the track's limit, the pending list (at most MAX_PENDING_SPENDS indices), a record."""
PAYOUT_WEIGHT = 80 * WEIGHT_PER_MICROS
"""A payout: the record, the pending list and the history, a transfer."""
CLOSE_WEIGHT = 50 * WEIGHT_PER_MICROS
PARAMS_WEIGHT = 20 * WEIGHT_PER_MICROS
PERIOD_WEIGHT = 30 * WEIGHT_PER_MICROS
"""The end of a spend period: one burn, whatever the number of spends."""
IDLE_WEIGHT = 2 * WEIGHT_PER_MICROS


class TreasuryGenesis(Protocol):
    """The part of the genesis config the treasury builds from."""

    @property
    def treasury(self) -> TreasuryParams:
        """The treasury's parameters."""


class Treasury(Pallet):
    """The treasury: its income by source, approved spends and their payouts, the burn."""

    NAME = NAME
    EVENTS = EVENTS
    ERRORS = ERRORS
    PARAMS = TreasuryParams

    # Hooks

    def on_initialize(self, ctx: BlockContext) -> Weight:
        """At the end of each spend period (a block number that is a multiple of it), burn
        `burn_ppm` of the unpromised funds: one burn, whatever the number of spends."""
        if ctx.number == 0 or ctx.number % Params.get(ctx.state).spend_period:
            return IDLE_WEIGHT
        burn(ctx)
        return PERIOD_WEIGHT

    # Calls

    @call(
        args=(
            ("amount", fields.BALANCE),
            ("beneficiary", fields.ACCOUNT),
            ("valid_from", fields.U32),
        ),
        weight=SPEND_WEIGHT,
        outflow=0,
    )
    def spend(
        self, ctx: BlockContext, origin: Origin, amount: int, beneficiary: bytes, valid_from: int
    ) -> None:
        """Promise `amount` of the treasury's available funds to `beneficiary`, claimable from
        block `valid_from` for `payout_period` blocks (Root, or a spending track up to its
        max_spend)."""
        spends.approve(ctx, origin, amount, beneficiary, valid_from)

    @call(args=(("index", fields.U32),), weight=PAYOUT_WEIGHT, pays=False, outflow=0)
    def payout(self, ctx: BlockContext, origin: Origin, index: int) -> None:
        """Pay an approved spend to its beneficiary (anyone may; once, within its period)."""
        ensure_signed(origin)
        spends.payout(ctx, index)

    @call(args=(("index", fields.U32),), weight=CLOSE_WEIGHT, pays=False, outflow=0)
    def check_status(self, ctx: BlockContext, origin: Origin, index: int) -> None:
        """End an approved spend whose payout period is over, releasing its amount (anyone)."""
        ensure_signed(origin)
        spends.check_status(ctx, index)

    @call(args=(("index", fields.U32),), weight=CLOSE_WEIGHT, outflow=0)
    def void_spend(self, ctx: BlockContext, origin: Origin, index: int) -> None:
        """Cancel an approved spend before it is paid (Root only)."""
        ensure_root(origin)
        spends.void(ctx, index)

    @call(args=TreasuryParams.call_args(), weight=PARAMS_WEIGHT, outflow=0)
    def set_params(self, ctx: BlockContext, origin: Origin, *values: Any) -> None:
        """Change the treasury parameters (Root only); they apply from the next block on."""
        self.change_params(ctx, origin, TreasuryParams(*values), Params, BadParams, ParamsChanged)

    # Genesis

    def build_genesis(self, ctx: BlockContext, config: TreasuryGenesis) -> None:
        """Store the parameters and open the ledger with the treasury's genesis balance (built
        after balances, which endows it)."""
        self.check_params(ctx.state, config.treasury)
        Params.put(ctx.state, config.treasury)
        Ledgers.put(ctx.state, Ledger(genesis=balance(ctx.state)))
        if not balances.exists(ctx, TREASURY):
            raise ValueError("the treasury account was not endowed at genesis")

    # Invariants

    def check_invariants(self, read: StateReader, iterate: PrefixIterator) -> list[str]:
        """The treasury's balance is its ledger's; its promises are covered."""
        return treasury_problems(read)
