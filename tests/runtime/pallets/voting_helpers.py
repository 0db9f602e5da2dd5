"""Builders for the conviction voting tests: a bench of funded accounts whose calls run one at a
time on a committed dict state, and polls of the tests' own (`BenchPolls`, kept in state so that a
failed call's tally change is undone with the rest), registered in place of referenda's.

Alice, Bob, Charlie, Dave, Eve and Ferdie have 1,000 XPL each; Victor validates and takes no part.
Polls are opened on track 0 (root) or 1 (treasurer) and ended by the test; one lock period is
`PERIOD` blocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from runtime.framework import (
    BlockContext,
    DispatchError,
    Origin,
    StorageMap,
    value_codec,
)
from runtime.genesis import GenesisConfig, build_genesis_state
from runtime.invariants import check_invariants
from runtime.pallets import balances, conviction_voting
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.conviction_voting import ConvictionVoting
from runtime.pallets.governance import polls
from runtime.pallets.governance.polls import Completed, Ongoing
from runtime.pallets.governance.tally import Tally
from runtime.pallets.staking import GenesisValidator
from runtime.primitives import codec
from runtime.primitives.codec import Value
from runtime.primitives.hashing import ZERO_HASH
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay
from tests.runtime.conftest import TEST_STAKING, apply_changes, prefix_iterator

UNIT: Final = 10**12
ENDOWMENT: Final = 1_000 * UNIT
PERIOD: Final = 100
"""Blocks of one lock period on the bench."""
ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE = VOTERS = tuple(
    dev_keypair(n).public for n in ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")
)
VICTOR: Final = dev_keypair("Victor").public
PALLET: Final = ConvictionVoting()


# Polls of the tests' own


def _poll_to_value(p: tuple[int, Tally, int | None, bool]) -> Value:
    track, tally, end, approved = p
    return [track, tally.to_value(), end, approved]


def _poll_from_value(v: Value) -> tuple[int, Tally, int | None, bool]:
    f = codec.expect_list(v, 4, "poll")
    end = None if f[2] is None else codec.expect_int(f[2], 0, codec.U64_MAX, "end")
    return (codec.expect_int(f[0], 0, 255, "track"), Tally.from_value(f[1]), end, bool(f[3]))


BenchPollsMap: Final = StorageMap[int, tuple[int, Tally, int | None, bool]](
    "bench_polls",
    "Polls",
    lambda i: i.to_bytes(4, "big"),
    value_codec(_poll_to_value, _poll_from_value),
)


class BenchPolls:
    """Polls kept in state: (track, tally, end block or None while ongoing, approved)."""

    def poll_status(self, state: StateOverlay, index: int) -> Ongoing | Completed | None:
        poll = BenchPollsMap.get(state, index)
        if poll is None:
            return None
        track, tally, end, approved = poll
        return Ongoing(track, tally) if end is None else Completed(end, approved)

    def set_tally(self, ctx: BlockContext, index: int, tally: Tally) -> None:
        poll = BenchPollsMap.get(ctx.state, index)
        assert poll is not None and poll[2] is None, "set_tally on a poll that is not ongoing"
        BenchPollsMap.insert(ctx.state, index, (poll[0], tally, None, False))


@contextmanager
def bench_polls() -> Iterator[BenchPolls]:
    """Register `BenchPolls` as the runtime's polls for the duration, then restore the previous."""
    before = list(polls._registered)
    registered = BenchPolls()
    polls.register(registered)
    try:
        yield registered
    finally:
        polls._registered[:] = before


class Refused(Exception):
    """A call failed; `error` is its DispatchError."""

    def __init__(self, error: DispatchError) -> None:
        super().__init__(f"{type(error).__name__}: {error.reason()}")
        self.error = error


class Bench:
    """Funded accounts, a block number, and the conviction voting pallet's calls on them."""

    def __init__(self, endowments: dict[bytes, int] | None = None) -> None:
        funded = endowments or {who: ENDOWMENT for who in VOTERS}
        config = GenesisConfig(
            validators=(GenesisValidator(VICTOR, ED),),
            slot_duration_ms=6_000,
            balances=((VICTOR, ED), *funded.items()),
            staking=TEST_STAKING,
        )
        self.state: dict[bytes, bytes] = build_genesis_state(config)
        self.number = 1
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self.run(
            lambda ctx: conviction_voting.Params.put(
                ctx.state,
                conviction_voting.ConvictionVotingParams(vote_locking_period=PERIOD, max_votes=8),
            )
        )

    def context(self) -> BlockContext:
        return BlockContext(
            state=StateOverlay(self.state.get),
            number=self.number,
            parent_hash=ZERO_HASH,
            timestamp=0,
            author=VICTOR,
            genesis_hash=ZERO_HASH,
        )

    def run(self, operation: Any) -> Any:
        """Run `operation(ctx)` and commit its writes; a DispatchError commits nothing and is
        raised as Refused."""
        ctx = self.context()
        try:
            result = operation(ctx)
        except DispatchError as exc:
            raise Refused(exc) from exc
        apply_changes(self.state, ctx.state.changes())
        self.events += [(r.event.name, r.args) for r in ctx.events]
        return result

    def call(self, who: bytes | None, name: str, *args: Any, root: bool = False) -> None:
        """Make a conviction voting call as `who` (or Root)."""
        origin = Origin(root=True) if root else Origin(signer=who)
        function = PALLET.calls()[name].function
        self.run(lambda ctx: function(ctx, origin, *args))

    def vote(
        self, who: bytes, poll: int, aye: int = 0, nay: int = 0, abstain: int = 0, c: int = 0
    ) -> None:
        self.call(who, "vote", poll, aye, nay, abstain, c)

    def advance(self, blocks: int) -> None:
        self.number += blocks

    # Polls

    def open_poll(self, index: int, track: int = 0) -> None:
        self.run(lambda ctx: BenchPollsMap.insert(ctx.state, index, (track, Tally(), None, False)))

    def end_poll(self, index: int, approved: bool) -> None:
        poll = BenchPollsMap.get(StateOverlay(self.state.get), index)
        assert poll is not None
        ended = (poll[0], poll[1], self.number, approved)
        self.run(lambda ctx: BenchPollsMap.insert(ctx.state, index, ended))

    def cancel_poll(self, index: int) -> None:
        self.run(lambda ctx: BenchPollsMap.remove(ctx.state, index))

    def tally(self, index: int) -> Tally:
        poll = BenchPollsMap.get(StateOverlay(self.state.get), index)
        assert poll is not None
        return poll[1]

    # Balances

    def read(self) -> BlockContext:
        return self.context()

    def freeze(self, who: bytes) -> int:
        return balances.freeze_of(self.read(), who, conviction_voting.LOCK_ID)

    def free(self, who: bytes) -> int:
        return balances.free_balance(self.read(), who)

    def transfer(self, who: bytes, dest: bytes, amount: int) -> None:
        self.run(lambda ctx: balances.transfer(ctx, who, dest, amount, keep_alive=True))

    def locks(self, who: bytes) -> dict[int, int]:
        return conviction_voting.class_locks(StateOverlay(self.state.get), who)

    def voting(self, who: bytes, cls: int) -> conviction_voting.Voting | None:
        return conviction_voting.VotingFor.get(StateOverlay(self.state.get), (who, cls))

    def problems(self) -> list[str]:
        """Every broken invariant of the runtime in the bench's state."""
        return check_invariants(self.state.get, prefix_iterator(self.state))
