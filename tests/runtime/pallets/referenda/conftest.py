"""Builders for the referenda tests: a governance chain driven block by block over one overlay.

`GovChain` builds a genesis with the fast tracks (see `referenda.fast_tracks`), runs the
scheduler's and referenda's on_initialize at each block (as the executive does, in that order),
dispatches calls as the executive would (each in a transactional layer, undone when refused), and
sets tallies through the polls interface conviction voting uses. Alice, Bob, Charlie and Dave
hold 1,000,000 XPL each; Victor validates and takes no part.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest

from runtime import dispatch
from runtime.framework import BlockContext, Origin
from runtime.genesis import GenesisConfig, build_genesis_state
from runtime.pallets import balances
from runtime.pallets.governance import polls
from runtime.pallets.governance.spending import SPENDING_CALLS
from runtime.pallets.governance.tally import Tally
from runtime.pallets.governance.tracks import TrackInfo, Tracks
from runtime.pallets.referenda import (
    Referenda,
    Referendum,
    ReferendumCount,
    ReferendumInfo,
    fast_tracks,
)
from runtime.pallets.referenda.invariants import broken_invariants
from runtime.pallets.scheduler import Scheduler
from runtime.pallets.staking import GenesisValidator
from runtime.primitives.hashing import ZERO_HASH
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay
from tests.runtime.conftest import TEST_STAKING

UNIT = 10**12
ENDOWMENT = 1_000_000 * UNIT
ALICE, BOB, CHARLIE, DAVE = (dev_keypair(n).public for n in ("Alice", "Bob", "Charlie", "Dave"))
POOR = dev_keypair("Eve").public
"""Eve holds 5 XPL: less than any root deposit."""
VICTOR = dev_keypair("Victor").public
ROOT_TRACK, TREASURER, SMALL = 0, 1, 2

SCHEDULER = Scheduler()
REFERENDA = Referenda()


def set_params_call(era_blocks: int) -> bytes:
    """A Root call whose enactment is easy to see: staking's era length changes."""
    params = replace(TEST_STAKING, era_blocks=era_blocks)
    args = tuple(getattr(params, f.name) for f in params.schema().fields)
    return dispatch.encode_call("staking", "set_params", args)


class GovChain:
    """A chain's state in one overlay, advanced block by block."""

    def __init__(self, tracks: Sequence[TrackInfo] | None = None) -> None:
        config = GenesisConfig(
            validators=(GenesisValidator(VICTOR, balances.EXISTENTIAL_DEPOSIT),),
            slot_duration_ms=1_000,
            balances=(
                (VICTOR, balances.EXISTENTIAL_DEPOSIT),
                *((who, ENDOWMENT) for who in (ALICE, BOB, CHARLIE, DAVE)),
                (POOR, 5 * UNIT),
            ),
            staking=TEST_STAKING,
            tracks=tuple(fast_tracks() if tracks is None else tracks),
        )
        self.genesis = build_genesis_state(config)
        self.ctx = BlockContext(
            state=StateOverlay(self.genesis.get),
            number=0,
            parent_hash=ZERO_HASH,
            timestamp=0,
            author=VICTOR,
            genesis_hash=ZERO_HASH,
        )
        self.hook_log: list[int] = []
        """How many alarms on_initialize serviced at each block."""

    @property
    def state(self) -> StateOverlay:
        return self.ctx.state

    @property
    def now(self) -> int:
        return self.ctx.number

    def track(self, track_id: int) -> TrackInfo:
        return next(t for t in Tracks.get(self.state) if t.id == track_id)

    def electorate(self) -> int:
        return balances.TotalIssuance.get(self.state)

    # Blocks

    def next_block(self) -> list[tuple[str, tuple[Any, ...]]]:
        """Run the next block's hooks; the events they emitted."""
        self.ctx.number += 1
        self.ctx.events.clear()
        SCHEDULER.on_initialize(self.ctx)
        REFERENDA.on_initialize(self.ctx)
        return self.events()

    def run_to(self, block: int) -> list[tuple[str, tuple[Any, ...]]]:
        """Run blocks up to `block`; every event of their hooks."""
        seen = []
        while self.now < block:
            seen.extend(self.next_block())
        return seen

    def events(self) -> list[tuple[str, tuple[Any, ...]]]:
        return [(r.event.name, r.args) for r in self.ctx.events]

    # Calls

    def call(self, origin: Origin | bytes, name: str, *args: Any) -> None:
        """Dispatch a referenda call (raises its DispatchError, with its writes undone)."""
        who = Origin(signer=origin) if isinstance(origin, bytes) else origin
        raw = dispatch.encode_call("referenda", name, args)
        dispatch.dispatch(self.ctx, who, raw)

    def submit(
        self, who: bytes = ALICE, track: int = ROOT_TRACK, proposal: bytes = b"", after: int = 0
    ) -> int:
        index = self.count()
        self.call(who, "submit", track, proposal or set_params_call(50), after)
        return index

    def count(self) -> int:
        return ReferendumCount.get(self.state)

    def set_tally(self, index: int, ayes: int, nays: int = 0, support: int | None = None) -> None:
        """What conviction voting does after a vote."""
        polls.polls().set_tally(
            self.ctx, index, Tally(ayes, nays, ayes if support is None else support)
        )

    # Reading

    def ref(self, index: int) -> Referendum:
        ref = ReferendumInfo.get(self.state, index)
        assert ref is not None
        return ref

    def held(self, who: bytes) -> int:
        return balances.held(self.ctx, who, "referenda")

    def free(self, who: bytes) -> int:
        return balances.free_balance(self.ctx, who)

    def committed(self) -> dict[bytes, bytes]:
        """The state as committed so far."""
        committed = dict(self.genesis)
        for key, value in self.state.changes().items():
            if value is None:
                committed.pop(key, None)
            else:
                committed[key] = value
        return committed

    def problems(self) -> list[str]:
        committed = self.committed()

        def iterate(prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
            return iter(sorted((k, v) for k, v in committed.items() if k.startswith(prefix)))

        return broken_invariants(committed.get, iterate)


@pytest.fixture
def gov() -> GovChain:
    return GovChain()


@pytest.fixture
def spend_call() -> Iterator[None]:
    """Treat balances.transfer as a spending call of its value, for the track checks."""
    SPENDING_CALLS[("balances", "transfer")] = lambda _state, args: int(args[1])
    yield
    del SPENDING_CALLS[("balances", "transfer")]
