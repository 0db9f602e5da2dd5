"""Builders for the bounties' and grants' tests: a state with funded accounts and a funded
treasury, on which calls run as a block runs them: each in a transactional layer (its writes and
events undone if it fails), the block number advanced by the test. `Env.problems` checks the
state against every pallet's invariants (the treasury's ledger, the deposits held and owed)."""

from __future__ import annotations

from typing import Any, Final

from runtime.accounts import TREASURY
from runtime.executive import CALLS
from runtime.framework import ROOT, BlockContext, DispatchError, Origin
from runtime.genesis import GenesisConfig, build_genesis_state
from runtime.invariants import check_invariants
from runtime.pallets import balances, system
from runtime.pallets.staking import GenesisValidator
from runtime.primitives.hashing import ZERO_HASH
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay
from tests.runtime.conftest import TEST_STAKING, apply_changes, prefix_iterator

UNIT: Final = 10**12
ED: Final = balances.EXISTENTIAL_DEPOSIT
ALICE, BOB, CHARLIE, DAVE, EVE = (
    dev_keypair(n).public for n in ("Alice", "Bob", "Charlie", "Dave", "Eve")
)
"""Alice proposes, Bob curates, Charlie curates milestones, Dave is paid; Eve has no account."""
VALIDATOR: Final = dev_keypair("Victor").public
ENDOWMENT: Final = 10_000 * UNIT
TREASURY_FUNDS: Final = 1_000_000 * UNIT
SMALL: Final = Origin(track="small_spender")
"""A track that may spend up to 10,000 XPL."""
TREASURER: Final = Origin(track="treasurer")

Who = bytes | Origin


class Env:
    """A block's context over a genesis state, calls made in it, and readers."""

    def __init__(self) -> None:
        endowed = [(who, ENDOWMENT) for who in (ALICE, BOB, CHARLIE, DAVE)]
        config = GenesisConfig(
            validators=(GenesisValidator(VALIDATOR, ED),),
            slot_duration_ms=6_000,
            balances=((VALIDATOR, ED), (TREASURY, TREASURY_FUNDS), *endowed),
            staking=TEST_STAKING,
        )
        self.genesis = build_genesis_state(config)
        self.ctx = BlockContext(
            state=StateOverlay(self.genesis.get),
            number=1,
            parent_hash=ZERO_HASH,
            timestamp=0,
            author=VALIDATOR,
            genesis_hash=ZERO_HASH,
        )

    def call(self, who: Who, pallet: str, name: str, *args: Any) -> str | None:
        """Make a call as `who` (an account signs; an Origin as is); the error's name, or None."""
        origin = who if isinstance(who, Origin) else Origin(signer=who)
        state, events = self.ctx.state, len(self.ctx.events)
        state.begin()
        try:
            CALLS[(pallet, name)].function(self.ctx, origin, *args)
        except DispatchError as exc:
            state.rollback()
            del self.ctx.events[events:]
            return exc.error_name()
        state.commit()
        return None

    def ok(self, who: Who, pallet: str, name: str, *args: Any) -> None:
        """Make a call that must succeed."""
        error = self.call(who, pallet, name, *args)
        assert error is None, f"{pallet}.{name} failed: {error}"

    def advance(self, blocks: int) -> None:
        self.ctx.number += blocks

    def free(self, who: bytes) -> int:
        return balances.free_balance(self.ctx, who)

    def held(self, who: bytes, reason: str = "bounties") -> int:
        return balances.held(self.ctx, who, reason)

    def total(self, who: bytes) -> int:
        info = system.account(self.ctx, who)
        return 0 if info is None else info.total

    def issuance(self) -> int:
        return balances.TotalIssuance.get(self.ctx.state)

    def events(self, pallet: str) -> list[tuple[str, tuple[Any, ...]]]:
        return [(r.event.name, r.args) for r in self.ctx.events if r.event.pallet == pallet]

    def last(self, pallet: str) -> tuple[str, tuple[Any, ...]]:
        return self.events(pallet)[-1]

    def committed(self) -> dict[bytes, bytes]:
        after = dict(self.genesis)
        apply_changes(after, self.ctx.state.changes())
        return after

    def problems(self) -> list[str]:
        state = self.committed()
        return check_invariants(state.get, prefix_iterator(state))


__all__ = ["ROOT", "Env"]
