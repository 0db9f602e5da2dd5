"""Conviction locks: how long a vote keeps funds locked, and the ways a voter might try to get
out of a lock early (each refused or without effect)."""

from __future__ import annotations

import pytest

from runtime.framework import Origin
from runtime.pallets.conviction_voting import errors
from runtime.pallets.governance.tally import Tally
from runtime.pallets.staking import Staking
from runtime.pallets.staking.slashing import slash_stash
from tests.runtime.pallets.voting_helpers import ALICE, BOB, CHARLIE, PERIOD, UNIT, Bench, Refused


def expect_refused(error: type[Exception], operation: object) -> None:
    with pytest.raises(Refused) as caught:
        operation()  # type: ignore[operator]
    assert isinstance(caught.value.error, error), caught.value


@pytest.mark.parametrize("conviction", [1, 2, 3, 4, 5, 6])
def test_a_winning_vote_stays_locked_for_its_periods_after_the_poll(
    bench: Bench, conviction: int
) -> None:
    periods = 1 << (conviction - 1)
    bench.open_poll(0)
    bench.vote(ALICE, 0, aye=300 * UNIT, c=conviction)
    bench.advance(5)
    bench.end_poll(0, approved=True)
    end = bench.number
    bench.call(ALICE, "remove_vote", 0, 0)
    assert ("VoteRemoved", (ALICE, 0, end + periods * PERIOD)) in bench.events
    bench.number = end + periods * PERIOD - 1
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 300 * UNIT
    with pytest.raises(Refused):
        bench.transfer(ALICE, CHARLIE, 701 * UNIT)
    bench.number = end + periods * PERIOD
    bench.call(BOB, "unlock", 0, ALICE)  # anyone may unlock another account
    assert bench.freeze(ALICE) == 0
    assert bench.locks(ALICE) == {}
    assert bench.voting(ALICE, 0) is None
    bench.transfer(ALICE, CHARLIE, 999 * UNIT)


@pytest.mark.parametrize(
    ("aye", "approved", "conviction"),
    [(True, False, 6), (False, True, 6), (True, True, 0)],
    ids=["aye-rejected", "nay-approved", "no-conviction"],
)
def test_a_losing_or_unconvinced_vote_leaves_no_lock(
    bench: Bench, aye: bool, approved: bool, conviction: int
) -> None:
    bench.open_poll(0)
    side = {"aye": 300 * UNIT} if aye else {"nay": 300 * UNIT}
    bench.vote(ALICE, 0, c=conviction, **side)
    bench.end_poll(0, approved=approved)
    bench.call(ALICE, "remove_vote", 0, 0)
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 0


def test_a_split_vote_leaves_no_lock_after_its_poll(bench: Bench) -> None:
    bench.open_poll(0)
    bench.vote(ALICE, 0, aye=200 * UNIT, nay=100 * UNIT)
    bench.end_poll(0, approved=True)
    bench.call(ALICE, "remove_vote", 0, 0)
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 0


def test_an_ended_vote_not_removed_keeps_its_whole_amount_locked(bench: Bench) -> None:
    bench.open_poll(0)
    bench.vote(ALICE, 0, nay=400 * UNIT, c=1)
    bench.end_poll(0, approved=True)  # lost: no conviction lock, but the vote is still recorded
    bench.advance(1_000 * PERIOD)
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 400 * UNIT
    bench.call(ALICE, "remove_vote", 0, 0)
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 0


def test_unlock_before_the_vote_is_removed_or_expires_releases_nothing(bench: Bench) -> None:
    bench.open_poll(0)
    bench.vote(ALICE, 0, aye=500 * UNIT, c=6)
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 500 * UNIT
    bench.end_poll(0, approved=True)
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 500 * UNIT
    bench.call(ALICE, "remove_vote", 0, 0)
    bench.advance(32 * PERIOD - 1)
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 500 * UNIT


def test_removing_a_vote_while_ongoing_takes_it_out_of_the_tally_so_nothing_escapes(
    bench: Bench,
) -> None:
    bench.open_poll(0)
    bench.vote(ALICE, 0, aye=500 * UNIT, c=6)
    bench.call(ALICE, "remove_vote", 0, 0)
    assert bench.tally(0) == Tally()
    # The lock it had stays until unlock; unlocking now frees it, since the vote counts nothing.
    assert bench.freeze(ALICE) == 500 * UNIT
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 0
    # Voting again counts again and locks again; when the poll wins, the lock runs in full.
    bench.vote(ALICE, 0, aye=500 * UNIT, c=6)
    assert bench.tally(0) == Tally(3_000 * UNIT, 0, 500 * UNIT)
    bench.end_poll(0, approved=True)
    end = bench.number
    bench.call(ALICE, "remove_vote", 0, 0)
    bench.number = end + 32 * PERIOD - 1
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 500 * UNIT


def test_a_prior_lock_is_not_cut_by_a_shorter_or_smaller_one(bench: Bench) -> None:
    bench.open_poll(0)
    bench.open_poll(1)
    bench.vote(ALICE, 0, aye=100 * UNIT, c=6)
    bench.vote(ALICE, 1, aye=400 * UNIT, c=1)
    bench.end_poll(0, approved=True)
    bench.end_poll(1, approved=True)
    end = bench.number
    bench.call(ALICE, "remove_vote", 0, 0)
    bench.call(ALICE, "remove_vote", 0, 1)
    bench.number = end + PERIOD  # the 1x lock has expired; the 6x one has not
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) >= 100 * UNIT
    bench.number = end + 32 * PERIOD
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 0


def test_another_account_removes_a_vote_only_once_no_lock_is_due(bench: Bench) -> None:
    bench.open_poll(0)
    bench.vote(ALICE, 0, aye=100 * UNIT, c=2)
    expect_refused(errors.NoPermission, lambda: bench.call(BOB, "remove_other_vote", ALICE, 0, 0))
    bench.end_poll(0, approved=True)
    end = bench.number
    expect_refused(
        errors.NoPermissionYet, lambda: bench.call(BOB, "remove_other_vote", ALICE, 0, 0)
    )
    bench.number = end + 2 * PERIOD
    bench.call(BOB, "remove_other_vote", ALICE, 0, 0)
    bench.call(BOB, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 0


def test_another_account_removes_a_losing_vote_or_one_on_a_cancelled_poll_at_once(
    bench: Bench,
) -> None:
    bench.open_poll(0)
    bench.open_poll(1)
    bench.vote(ALICE, 0, nay=100 * UNIT, c=6)
    bench.vote(ALICE, 1, aye=200 * UNIT, c=6)
    bench.end_poll(0, approved=True)
    bench.cancel_poll(1)
    bench.call(BOB, "remove_other_vote", ALICE, 0, 0)
    bench.call(BOB, "remove_other_vote", ALICE, 0, 1)
    bench.call(BOB, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 0


def test_removing_a_vote_names_its_class_and_poll(bench: Bench) -> None:
    bench.open_poll(0, track=1)
    bench.vote(ALICE, 0, aye=100 * UNIT, c=1)
    expect_refused(errors.WrongClass, lambda: bench.call(ALICE, "remove_vote", 0, 0))
    expect_refused(errors.NotVoter, lambda: bench.call(BOB, "remove_vote", 1, 0))
    expect_refused(errors.NotVoter, lambda: bench.call(ALICE, "remove_vote", 1, 5))
    bench.call(ALICE, "remove_vote", 1, 0)
    expect_refused(errors.NotVoter, lambda: bench.call(ALICE, "remove_vote", 1, 0))


def test_a_lock_in_one_class_is_kept_when_another_class_unlocks(bench: Bench) -> None:
    bench.open_poll(0, track=0)
    bench.open_poll(1, track=1)
    bench.vote(ALICE, 0, aye=300 * UNIT, c=1)
    bench.vote(ALICE, 1, aye=700 * UNIT, c=1)
    bench.end_poll(1, approved=False)
    bench.call(ALICE, "remove_vote", 1, 1)
    bench.call(ALICE, "unlock", 1, ALICE)
    assert bench.locks(ALICE) == {0: 300 * UNIT}
    assert bench.freeze(ALICE) == 300 * UNIT


def bond(bench: Bench, who: bytes, value: int) -> None:
    function = Staking().calls()["bond"].function
    bench.run(lambda ctx: function(ctx, Origin(signer=who), value))


def test_staked_funds_can_vote_and_voted_funds_can_be_bonded(bench: Bench) -> None:
    bench.open_poll(0)
    bond(bench, ALICE, 600 * UNIT)
    bench.vote(ALICE, 0, aye=900 * UNIT, c=1)
    assert bench.freeze(ALICE) == 900 * UNIT
    # Of the 400 free, 300 are locked beyond the stake.
    with pytest.raises(Refused):
        bench.transfer(ALICE, CHARLIE, 101 * UNIT)
    bench.transfer(ALICE, CHARLIE, 99 * UNIT)
    bench.vote(BOB, 0, nay=800 * UNIT, c=1)
    bond(bench, BOB, 700 * UNIT)  # locked funds may still be staked
    assert bench.tally(0) == Tally(900 * UNIT, 800 * UNIT, 900 * UNIT)


def test_a_slash_below_the_lock_breaks_no_later_call(bench: Bench) -> None:
    bench.open_poll(0)
    bench.open_poll(1)
    bond(bench, ALICE, 800 * UNIT)
    bench.vote(ALICE, 0, aye=1_000 * UNIT, c=1)
    bench.run(lambda ctx: slash_stash(ctx, ALICE, 500 * UNIT))
    lockable = 500 * UNIT
    refused = pytest.raises(Refused)
    with refused:
        bench.vote(ALICE, 1, aye=lockable + 1, c=1)
    bench.vote(ALICE, 1, aye=100 * UNIT, c=1)  # the class lock stays; the freeze covers all left
    assert bench.locks(ALICE) == {0: 1_000 * UNIT}
    assert bench.freeze(ALICE) == lockable
    bench.call(ALICE, "remove_vote", 0, 0)
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 100 * UNIT
