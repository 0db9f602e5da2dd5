"""Builders for the treasury tests: a genesis state with a funded treasury, and blocks run on it
one call or hook at a time, each committed to a dict as the node commits a block.

Alice is the validator; Bob and Charlie are endowed; Ben (a builder) and Nobody do not exist.
The treasury holds TREASURY_FUNDS. Spend periods are 10 blocks, burning 10% of the unpromised
funds; spends may be claimed for 20 blocks.
"""

from __future__ import annotations

from typing import Any, Final

from runtime import dispatch
from runtime.accounts import TREASURY
from runtime.framework import BlockContext, DispatchError, Origin
from runtime.genesis import GenesisConfig, build_genesis_state
from runtime.pallets import balances, system, treasury
from runtime.pallets.staking import GenesisValidator
from runtime.pallets.treasury import Ledger, Spend, TreasuryParams
from runtime.primitives.hashing import ZERO_HASH
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay
from tests.runtime.conftest import SLOT_MS, TEST_STAKING, UNIT, apply_changes

ALICE, BOB, CHARLIE = (dev_keypair(n).public for n in ("Alice", "Bob", "Charlie"))
BEN, NOBODY = dev_keypair("Ben").public, dev_keypair("Nobody").public
ED: Final = balances.EXISTENTIAL_DEPOSIT
TREASURY_FUNDS: Final = 100_000 * UNIT
PARAMS: Final = TreasuryParams(
    spend_period=10, burn_ppm=100_000, payout_period=20, inflation_share_ppm=0
)
SMALL_LIMIT: Final = 10_000 * UNIT
"""The default small_spender track's max_spend."""
SMALL: Final = Origin(track="small_spender")
TREASURER: Final = Origin(track="treasurer")


def treasury_config(params: TreasuryParams = PARAMS, funds: int = TREASURY_FUNDS) -> GenesisConfig:
    endowed = [(who, 1_000 * UNIT) for who in (ALICE, BOB, CHARLIE)]
    return GenesisConfig(
        validators=(GenesisValidator(ALICE, 100 * ED),),
        slot_duration_ms=SLOT_MS,
        balances=(*endowed, (TREASURY, funds)),
        staking=TEST_STAKING,
        treasury=params,
    )


_GENESIS: dict[tuple[TreasuryParams, int], dict[bytes, bytes]] = {}


class TreasuryChain:
    """A genesis state and the block number the next call or hook runs in."""

    def __init__(self, params: TreasuryParams = PARAMS, funds: int = TREASURY_FUNDS) -> None:
        genesis = _GENESIS.get((params, funds))
        if genesis is None:
            genesis = _GENESIS[(params, funds)] = build_genesis_state(
                treasury_config(params, funds)
            )
        self.state: dict[bytes, bytes] = dict(genesis)
        self.last_reason = ""
        self.number = 1
        self.events: list[tuple[str, str, tuple[Any, ...]]] = []
        """Every event of the calls and hooks run, as (pallet, name, args)."""

    def overlay(self) -> StateOverlay:
        return StateOverlay(self.state.get)

    def context(self) -> BlockContext:
        return BlockContext(
            state=self.overlay(),
            number=self.number,
            parent_hash=ZERO_HASH,
            timestamp=self.number * SLOT_MS,
            author=ALICE,
            genesis_hash=ZERO_HASH,
        )

    def _commit(self, ctx: BlockContext) -> None:
        apply_changes(self.state, ctx.state.changes())
        self.events.extend((r.event.pallet, r.event.name, r.args) for r in ctx.events)

    def call(self, origin: Origin, pallet: str, name: str, *args: Any) -> str | None:
        """Dispatch a call in the current block; the error's name if it failed (nothing kept)."""
        ctx = self.context()
        try:
            dispatch.dispatch(ctx, origin, dispatch.encode_call(pallet, name, args))
        except DispatchError as exc:
            self.last_reason = exc.reason()
            return exc.error_name()
        self._commit(ctx)
        return None

    def spend(
        self, amount: int, beneficiary: bytes = BEN, valid_from: int = 0, origin: Origin = SMALL
    ) -> str | None:
        return self.call(origin, "treasury", "spend", amount, beneficiary, valid_from)

    def payout(self, index: int, who: bytes = CHARLIE) -> str | None:
        return self.call(Origin(signer=who), "treasury", "payout", index)

    def run(self, operation: Any) -> Any:
        """Run `operation(ctx)` as a hook or another pallet would, in the current block."""
        ctx = self.context()
        result = operation(ctx)
        self._commit(ctx)
        return result

    def advance_to(self, number: int) -> None:
        """Run the treasury's hook in each block up to `number`, which becomes the current."""
        pallet = treasury.Treasury()
        while self.number < number:
            self.number += 1
            self.run(lambda ctx: system.Number.put(ctx.state, ctx.number))  # as the executive
            self.run(pallet.on_initialize)

    # Reading

    def balance(self, who: bytes) -> int:
        info = system.Account.get(self.overlay(), who)
        return 0 if info is None else info.free

    def available(self) -> int:
        return treasury.available(self.overlay())

    def ledger(self) -> Ledger:
        return treasury.Ledgers.get(self.overlay())

    def spend_record(self, index: int) -> Spend | None:
        return treasury.Spends.get(self.overlay(), index)

    def issuance(self) -> int:
        return balances.TotalIssuance.get(self.overlay())

    def problems(self) -> list[str]:
        return treasury.Treasury().check_invariants(self.state.get, lambda _p: iter(()))

    def named(self, pallet: str, name: str) -> list[tuple[Any, ...]]:
        return [args for p, n, args in self.events if (p, n) == (pallet, name)]
