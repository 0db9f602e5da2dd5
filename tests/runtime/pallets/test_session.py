"""Session: the weighted authority set from genesis, its supermajority, set changes that bump the
set id and clear the disabled list, the history of past sets, and the session keys that staking
elects into it.

Alice, Bob and Charlie are the genesis authorities with weights 3000, 2000 and 1000 XPL
(staking_helpers); the unit tests run the pallet's functions on that genesis state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from runtime.framework import BlockContext
from runtime.genesis import build_genesis_state
from runtime.pallets import session, staking
from runtime.pallets.session import AuthoritySet, Session
from runtime.primitives.hashing import ZERO_HASH
from runtime.primitives.keys import dev_keypair
from runtime.state import StateOverlay
from tests.runtime.pallets.market_helpers import SLOT_MS, UNIT, hook_events
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    BOB,
    BONDS,
    CHARLIE,
    DAVE,
    ERA_BLOCKS,
    REPORTER,
    SESSION_KEYS,
    staking_chain,
    staking_config,
    vote_equivocation,
)


@dataclass(frozen=True)
class SlotDuration:
    """The part of the genesis config that session reads."""

    slot_duration_ms: int


A, B, C, D = (k.public for k in (ALICE, BOB, CHARLIE, DAVE))
GENESIS_SET = ((A, BONDS[A]), (B, BONDS[B]), (C, BONDS[C]))
OTHERS = tuple(dev_keypair(f"Authority{i}").public for i in range(3))
"""Keys that are not in the genesis set."""


def block_context(state: dict[bytes, bytes] | None = None) -> BlockContext:
    """A block's context on `state` (by default the staking tests' genesis state)."""
    base = build_genesis_state(staking_config()) if state is None else state
    return BlockContext(
        state=StateOverlay(base.get),
        number=1,
        parent_hash=ZERO_HASH,
        timestamp=SLOT_MS,
        author=A,
        genesis_hash=ZERO_HASH,
    )


def events(ctx: BlockContext) -> list[tuple[str, tuple[Any, ...]]]:
    """(name, args) of the events the context has collected."""
    return [(record.event.name, record.args) for record in ctx.events]


def weighted(keys: Sequence[bytes], weight: int = 10 * UNIT) -> list[tuple[bytes, int]]:
    return [(key, weight) for key in keys]


# The authority set


def test_genesis_makes_the_validators_set_zero_weighted_by_their_bonds() -> None:
    ctx = block_context()
    current = session.authority_set(ctx.state)
    assert current == AuthoritySet(0, GENESIS_SET)
    assert current.keys == (A, B, C)
    assert current.total_weight == 6_000 * UNIT
    assert session.historical_set(ctx, 0) == current
    assert session.historical_set(ctx, 1) is None
    assert session.Disabled.get(ctx.state) == ()
    assert session.SlotDurationMs.get(ctx.state) == SLOT_MS


def test_weight_of_an_authority_and_of_a_stranger() -> None:
    current = AuthoritySet(0, GENESIS_SET)
    assert [current.weight_of(key) for key in (A, B, C)] == [
        3_000 * UNIT,
        2_000 * UNIT,
        1_000 * UNIT,
    ]
    assert current.weight_of(D) == 0


def test_a_supermajority_is_more_than_two_thirds_of_the_weight_not_of_the_count() -> None:
    current = AuthoritySet(0, GENESIS_SET)
    assert current.is_supermajority(current.weight_of(A) + current.weight_of(B))  # 5000 of 6000
    assert not current.is_supermajority(current.weight_of(A) + current.weight_of(C))  # 2/3 exactly
    assert not current.is_supermajority(current.weight_of(B) + current.weight_of(C))  # two of three
    assert current.is_supermajority(4_000 * UNIT + 1)
    assert current.is_supermajority(current.total_weight)
    assert not AuthoritySet(0, ()).is_supermajority(0)


@pytest.mark.parametrize(
    ("authorities", "message"),
    [
        ([], "at least one authority"),
        ([(A, 1), (B, 2), (A, 3)], "listed twice"),
        ([(A, 1), (B, 0)], "positive weight"),
        ([(A, 1), (B, -5)], "positive weight"),
        ([(A, 2**128)], "positive weight"),
        ([(A, 2**127), (B, 2**127)], "total weight is too large"),
        (weighted([bytes([i // 256, i % 256]) * 16 for i in range(1_001)]), "at most 1000"),
    ],
)
def test_a_set_that_breaks_a_rule_is_refused_at_genesis_and_later(
    authorities: list[tuple[bytes, int]], message: str
) -> None:
    fresh = block_context({})
    with pytest.raises(ValueError, match=message):
        session.set_genesis_authorities(fresh, authorities)
    ctx = block_context()
    with pytest.raises(ValueError, match=message):
        session.set_authorities(ctx, authorities)
    assert session.authority_set(ctx.state) == AuthoritySet(0, GENESIS_SET)
    assert ctx.events == []


@pytest.mark.parametrize(
    "slot_ms", [session.MIN_SLOT_DURATION_MS - 1, session.MAX_SLOT_DURATION_MS + 1]
)
def test_genesis_refuses_a_slot_duration_out_of_range(slot_ms: int) -> None:
    with pytest.raises(ValueError, match="slot duration"):
        Session().build_genesis(block_context({}), SlotDuration(slot_ms))


@pytest.mark.parametrize("slot_ms", [session.MIN_SLOT_DURATION_MS, session.MAX_SLOT_DURATION_MS])
def test_genesis_takes_the_slot_durations_at_the_bounds(slot_ms: int) -> None:
    ctx = block_context({})
    Session().build_genesis(ctx, SlotDuration(slot_ms))
    assert session.SlotDurationMs.get(ctx.state) == slot_ms


# Set changes


def test_a_new_set_bumps_the_id_and_is_recorded_with_the_old_one() -> None:
    ctx = block_context()
    new = [(C, 7 * UNIT), (D, 5 * UNIT)]
    assert session.set_authorities(ctx, new) is True
    assert session.authority_set(ctx.state) == AuthoritySet(1, tuple(new))
    assert events(ctx) == [("NewAuthorities", (1, [C, D]))]
    assert session.historical_set(ctx, 1) == AuthoritySet(1, tuple(new))
    assert session.historical_set(ctx, 0) == AuthoritySet(0, GENESIS_SET)


def test_the_same_set_again_changes_nothing() -> None:
    ctx = block_context()
    assert session.set_authorities(ctx, GENESIS_SET) is False
    assert session.authority_set(ctx.state).set_id == 0
    assert ctx.events == []
    assert session.historical_set(ctx, 1) is None


@pytest.mark.parametrize(
    "change",
    [
        ((B, BONDS[B]), (A, BONDS[A]), (C, BONDS[C])),  # another authoring order
        ((A, BONDS[A]), (B, BONDS[B]), (C, BONDS[C] + 1)),  # one weight
        ((A, BONDS[A]), (B, BONDS[B])),  # one fewer
    ],
)
def test_any_change_of_order_weight_or_members_is_a_new_set(
    change: tuple[tuple[bytes, int], ...],
) -> None:
    ctx = block_context()
    assert session.set_authorities(ctx, change) is True
    assert session.authority_set(ctx.state) == AuthoritySet(1, change)


def test_a_set_change_clears_the_disabled_list() -> None:
    ctx = block_context()
    assert session.disable(ctx, B)
    session.set_authorities(ctx, GENESIS_SET[:2])
    assert session.Disabled.get(ctx.state) == ()
    assert session.disable(ctx, B)  # B is an authority of the new set too, and can be again


def test_the_history_keeps_past_sets_until_told_to_forget_them() -> None:
    """Past sets stay however many changes come (each forced era end is one), until staking says
    which it no longer needs; the current set is never forgotten."""
    ctx = block_context()
    last = 70
    for n in range(1, last + 1):
        assert session.set_authorities(ctx, [(OTHERS[n % 3], n * UNIT)])
    assert session.authority_set(ctx.state) == AuthoritySet(
        last, ((OTHERS[last % 3], last * UNIT),)
    )
    kept = [n for n in range(last + 1) if session.historical_set(ctx, n) is not None]
    assert kept == list(range(last + 1))
    session.forget_sets_before(ctx, 60)
    kept = [n for n in range(last + 1) if session.historical_set(ctx, n) is not None]
    assert kept == list(range(60, last + 1))
    assert session.historical_set(ctx, 62) == AuthoritySet(62, ((OTHERS[2], 62 * UNIT),))
    session.forget_sets_before(ctx, last + 5)
    assert [n for n in range(last + 1) if session.historical_set(ctx, n)] == [last]


# Disabling


def test_a_disabled_authority_stays_in_the_set_with_its_weight() -> None:
    ctx = block_context()
    first, second = sorted((A, C))
    assert session.disable(ctx, second) is True
    assert session.disable(ctx, first) is True
    assert session.Disabled.get(ctx.state) == (first, second)  # sorted
    assert events(ctx) == [("AuthorityDisabled", (second,)), ("AuthorityDisabled", (first,))]
    assert session.authority_set(ctx.state) == AuthoritySet(0, GENESIS_SET)  # weights do not move


def test_disabling_twice_or_a_stranger_does_nothing() -> None:
    ctx = block_context()
    assert session.disable(ctx, B) is True
    assert session.disable(ctx, B) is False
    assert session.disable(ctx, D) is False
    assert session.Disabled.get(ctx.state) == (B,)
    assert events(ctx) == [("AuthorityDisabled", (B,))]


def test_an_authority_of_a_past_set_only_cannot_be_disabled() -> None:
    ctx = block_context()
    session.set_authorities(ctx, [(B, UNIT), (C, UNIT)])
    assert session.disable(ctx, A) is False
    assert session.Disabled.get(ctx.state) == ()


# The set that staking elects, by session key


def test_an_era_election_puts_session_keys_weighted_by_backing_into_a_new_set() -> None:
    chain = staking_chain()
    key = SESSION_KEYS[0].public
    assert chain.bond(DAVE, 1_500 * UNIT).error is None
    assert chain.validate(DAVE, 0, key).error is None
    result = chain.to_era_end()
    # Three are elected: Dave (1500) takes Charlie's (1000) place; Alice and Bob keep theirs and
    # the newcomer comes after them.
    expected = ((A, BONDS[A]), (B, BONDS[B]), (key, 1_500 * UNIT))
    assert ("NewAuthorities", (1, [A, B, key])) in hook_events(result, "session")
    assert chain.head.number == ERA_BLOCKS
    state = chain.overlay()
    assert session.authority_set(state) == AuthoritySet(1, expected)
    # The key in the set is Dave's session key, not his account; it leads back to him.
    assert D not in session.authority_set(state).keys
    assert staking.stash_of(state, key) == D
    assert all(staking.stash_of(state, k) == k for k in (A, B, C))
    assert session.HistoricalSets.get(state, 0) == GENESIS_SET
    assert chain.problems() == []


def test_an_unchanged_election_keeps_the_set_and_its_id() -> None:
    chain = staking_chain()
    for _ in range(2):
        assert hook_events(chain.to_era_end(), "session") == []
        assert chain.authorities() == AuthoritySet(0, GENESIS_SET)


def test_an_equivocation_disables_the_offender_until_the_next_set() -> None:
    chain = staking_chain()
    out = chain.report(REPORTER, vote_equivocation(CHARLIE))
    assert ("AuthorityDisabled", (C,)) in out.events
    assert chain.disabled() == (C,)
    assert chain.authorities().set_id == 0 and C in chain.authorities().keys
    chain.to_era_end()  # the offender is chilled: the next set is elected without it
    assert chain.disabled() == ()
    assert chain.authorities().set_id == 1 and C not in chain.authorities().keys
    assert session.HistoricalSets.get(chain.overlay(), 0) == GENESIS_SET
