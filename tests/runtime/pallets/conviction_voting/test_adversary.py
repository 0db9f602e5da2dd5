"""Attacks on conviction voting that a rational voter might try after a slash or a reap, each
refused or without effect."""

from __future__ import annotations

import pytest

from runtime.framework import Origin
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.governance.tracks import MAX_TRACKS
from runtime.pallets.staking import Staking
from runtime.pallets.staking.slashing import slash_stash
from tests.runtime.pallets.voting_helpers import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    PERIOD,
    UNIT,
    Bench,
    Refused,
)


def bond(bench: Bench, who: bytes, value: int) -> None:
    function = Staking().calls()["bond"].function
    bench.run(lambda ctx: function(ctx, Origin(signer=who), value))


def test_a_vote_after_a_slash_locks_its_whole_amount_again(bench: Bench) -> None:
    """A slash cuts the freeze below the class lock; funds that arrive later and vote in that
    class again must be frozen, or they could vote here and then leave to vote from another
    account (the same funds counted twice)."""
    bench.open_poll(0)
    bench.open_poll(1)
    bond(bench, ALICE, 800 * UNIT)
    bench.vote(ALICE, 0, aye=1_000 * UNIT, c=6)
    bench.run(lambda ctx: slash_stash(ctx, ALICE, 500 * UNIT))
    assert bench.freeze(ALICE) == 500 * UNIT
    bench.transfer(BOB, ALICE, 900 * UNIT)
    bench.vote(ALICE, 1, aye=1_000 * UNIT, c=6)
    assert bench.freeze(ALICE) == 1_000 * UNIT
    with pytest.raises(Refused):
        bench.transfer(ALICE, CHARLIE, 500 * UNIT)


def test_a_vote_after_a_reap_is_frozen(bench: Bench) -> None:
    """A stash slashed to nothing is reaped with its freeze, but its class lock record stays;
    refunded and voting again in that class, its vote must freeze its funds."""
    bench.open_poll(0)
    bench.open_poll(1)
    bond(bench, ALICE, 1_000 * UNIT - ED // 2)
    bench.vote(ALICE, 0, aye=900 * UNIT, c=6)
    bench.run(lambda ctx: slash_stash(ctx, ALICE, 1_000 * UNIT))
    assert bench.free(ALICE) == 0 and bench.freeze(ALICE) == 0
    assert bench.locks(ALICE) == {0: 900 * UNIT}
    bench.transfer(BOB, ALICE, 950 * UNIT)
    bench.vote(ALICE, 1, aye=900 * UNIT, c=6)
    assert bench.freeze(ALICE) == 900 * UNIT
    with pytest.raises(Refused):
        bench.transfer(ALICE, CHARLIE, 100 * UNIT)


def test_locks_in_more_classes_than_tracks_stay_readable_and_unlock(bench: Bench) -> None:
    """Tracks renumbered by `set_tracks` (allowed once they have no ongoing referenda) leave
    voters locked in classes that no longer exist while they vote in the new ones: an account
    locked in more classes than there are tracks at once must still vote, unlock and keep its
    record readable, or its lock could never be released."""
    classes = 2 * MAX_TRACKS + 1
    for poll in range(classes):
        bench.open_poll(poll, track=poll)
        bench.vote(ALICE, poll, aye=(poll + 1) * UNIT, c=1)
    assert len(bench.locks(ALICE)) == classes
    assert bench.freeze(ALICE) == classes * UNIT
    for poll in range(classes):
        bench.end_poll(poll, approved=False)
        bench.call(ALICE, "remove_vote", poll, poll)
        bench.call(BOB, "unlock", poll, ALICE)
    assert bench.locks(ALICE) == {}
    assert bench.freeze(ALICE) == 0


def test_lowering_the_lock_period_does_not_shorten_the_locks_of_ended_polls(bench: Bench) -> None:
    """Whales vote 6x for a referendum that lowers `vote_locking_period`; once it is enacted
    they remove their votes. The locks of polls that ended before the change keep the period
    they ended under (the longest in force until then), or the change would free the very
    votes that passed it; a poll that ends after the change gets the new period."""
    bench.open_poll(0)
    bench.open_poll(1)
    bench.vote(ALICE, 0, aye=300 * UNIT, c=6)
    bench.vote(BOB, 1, aye=200 * UNIT, c=1)
    bench.end_poll(0, approved=True)
    end = bench.number
    bench.advance(3)  # the enactment delay
    bench.call(None, "set_params", 10, 8, root=True)
    bench.call(None, "set_params", 1, 8, root=True)  # lowered twice: the longest still counts
    bench.call(ALICE, "remove_vote", 0, 0)
    assert ("VoteRemoved", (ALICE, 0, end + 32 * PERIOD)) in bench.events
    bench.advance(32 * 10)
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 300 * UNIT
    with pytest.raises(Refused):
        bench.call(CHARLIE, "remove_other_vote", ALICE, 0, 0)
    bench.number = end + 32 * PERIOD
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 0
    bench.advance(1)
    bench.end_poll(1, approved=True)
    later = bench.number
    bench.call(BOB, "remove_vote", 0, 1)
    assert ("VoteRemoved", (BOB, 1, later + 1)) in bench.events


def test_lowering_the_lock_period_does_not_free_a_delegation_that_voted_for_it(
    bench: Bench,
) -> None:
    """A delegator lends 6x to the whale who passes a lower `vote_locking_period`, and ends its
    delegation once it is enacted: its lock keeps the old period for as long as the longest lock
    the old period gave from the change; later undelegations get the new one."""
    bench.open_poll(0)
    bench.call(CHARLIE, "delegate", 0, BOB, 6, 400 * UNIT)
    bench.vote(BOB, 0, aye=100 * UNIT, c=6)
    bench.end_poll(0, approved=True)
    bench.advance(3)
    bench.call(None, "set_params", 1, 8, root=True)
    changed = bench.number
    bench.advance(1)
    bench.call(CHARLIE, "undelegate", 0)
    assert ("Undelegated", (CHARLIE, 0, changed + 1 + 32 * PERIOD)) in bench.events
    bench.call(DAVE, "delegate", 0, BOB, 6, 400 * UNIT)
    bench.number = changed + 32 * PERIOD + 1
    bench.call(DAVE, "undelegate", 0)
    assert ("Undelegated", (DAVE, 0, bench.number + 32)) in bench.events


def test_staked_funds_that_voted_stay_frozen_once_unbonded_and_withdrawn(bench: Bench) -> None:
    """A stash votes with its bond at 6x, unbonds and withdraws it: the vote's funds come back
    to the free balance still frozen, so they cannot vote again from another account."""
    staking_calls = Staking().calls()
    bench.open_poll(0)
    bond(bench, ALICE, 999 * UNIT)
    bench.vote(ALICE, 0, aye=999 * UNIT, c=6)
    unbond = staking_calls["unbond"].function
    bench.run(lambda ctx: unbond(ctx, Origin(signer=ALICE), 999 * UNIT))
    withdraw = staking_calls["withdraw_unbonded"].function
    for _ in range(100):
        bench.advance(1_000)
        try:
            bench.run(lambda ctx: withdraw(ctx, Origin(signer=ALICE)))
        except Refused:
            continue
        if bench.free(ALICE) > 999 * UNIT:
            break
    assert bench.free(ALICE) == 1_000 * UNIT
    assert bench.freeze(ALICE) == 999 * UNIT
    with pytest.raises(Refused):
        bench.transfer(ALICE, CHARLIE, 2 * UNIT)
