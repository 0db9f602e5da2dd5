"""Delegation: delegated votes count once, through the delegate's standard votes only, and ending
a delegation keeps its conviction lock."""

from __future__ import annotations

import pytest

from runtime.pallets.conviction_voting import errors
from runtime.pallets.governance.tally import Tally
from tests.runtime.pallets.voting_helpers import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    ENDOWMENT,
    PERIOD,
    UNIT,
    Bench,
    Refused,
)


def expect_refused(bench: Bench, error: type[Exception], operation: object) -> None:
    before = dict(bench.state)
    with pytest.raises(Refused) as caught:
        operation()  # type: ignore[operator]
    assert isinstance(caught.value.error, error), caught.value
    assert bench.state == before


def test_a_delegation_adds_to_the_delegates_votes_made_before_and_after(bench: Bench) -> None:
    bench.open_poll(0)
    bench.open_poll(1)
    bench.vote(BOB, 0, aye=10 * UNIT, c=1)
    bench.call(ALICE, "delegate", 0, BOB, 2, 100 * UNIT)
    assert bench.tally(0) == Tally(ayes=210 * UNIT, nays=0, support=110 * UNIT)
    bench.vote(BOB, 1, nay=10 * UNIT, c=3)
    assert bench.tally(1) == Tally(ayes=0, nays=230 * UNIT, support=0)
    assert bench.freeze(ALICE) == 100 * UNIT
    assert ("Delegated", (ALICE, BOB, 0, 2, 100 * UNIT)) in bench.events


def test_delegations_do_not_count_on_split_or_abstain_votes(bench: Bench) -> None:
    bench.open_poll(0)
    bench.call(ALICE, "delegate", 0, BOB, 6, 100 * UNIT)
    bench.vote(BOB, 0, aye=10 * UNIT, nay=10 * UNIT, abstain=10 * UNIT)
    assert bench.tally(0) == Tally(ayes=UNIT, nays=UNIT, support=20 * UNIT)


def test_undelegating_takes_the_votes_back_from_ongoing_polls_only(bench: Bench) -> None:
    bench.open_poll(0)
    bench.open_poll(1)
    bench.vote(BOB, 0, aye=10 * UNIT, c=1)
    bench.vote(BOB, 1, aye=10 * UNIT, c=1)
    bench.call(ALICE, "delegate", 0, BOB, 1, 100 * UNIT)
    bench.end_poll(1, approved=True)
    bench.call(ALICE, "undelegate", 0)
    assert bench.tally(0) == Tally(ayes=10 * UNIT, nays=0, support=10 * UNIT)
    bench.vote(ALICE, 0, nay=100 * UNIT, c=1)  # now it votes itself, counted once
    assert bench.tally(0) == Tally(ayes=10 * UNIT, nays=100 * UNIT, support=10 * UNIT)


def test_a_delegator_cannot_vote_in_the_class_it_delegates(bench: Bench) -> None:
    bench.open_poll(0, track=0)
    bench.open_poll(1, track=1)
    bench.call(ALICE, "delegate", 0, BOB, 1, 100 * UNIT)
    expect_refused(bench, errors.AlreadyDelegating, lambda: bench.vote(ALICE, 0, aye=UNIT, c=1))
    expect_refused(
        bench, errors.AlreadyDelegating, lambda: bench.call(ALICE, "delegate", 0, CHARLIE, 1, UNIT)
    )
    bench.vote(ALICE, 1, aye=900 * UNIT, c=1)  # another class: the same funds, as OpenGov
    assert bench.freeze(ALICE) == 900 * UNIT


def test_a_voter_cannot_delegate_the_class_it_votes_in_even_after_the_poll(bench: Bench) -> None:
    bench.open_poll(0)
    bench.vote(ALICE, 0, aye=UNIT, c=1)
    expect_refused(
        bench, errors.AlreadyVoting, lambda: bench.call(ALICE, "delegate", 0, BOB, 1, UNIT)
    )
    bench.end_poll(0, approved=False)
    expect_refused(
        bench, errors.AlreadyVoting, lambda: bench.call(ALICE, "delegate", 0, BOB, 1, UNIT)
    )
    bench.call(ALICE, "remove_vote", 0, 0)
    bench.call(ALICE, "delegate", 0, BOB, 1, UNIT)


def test_delegation_is_not_transitive(bench: Bench) -> None:
    bench.open_poll(0)
    bench.call(ALICE, "delegate", 0, BOB, 1, 100 * UNIT)
    bench.call(BOB, "delegate", 0, CHARLIE, 1, 50 * UNIT)
    bench.vote(CHARLIE, 0, aye=10 * UNIT, c=1)
    # Bob's own 50 counts through Charlie; Alice's 100, lent to a delegator, counts nowhere.
    assert bench.tally(0) == Tally(ayes=60 * UNIT, nays=0, support=60 * UNIT)
    bench.call(BOB, "undelegate", 0)
    assert bench.tally(0) == Tally(ayes=10 * UNIT, nays=0, support=10 * UNIT)
    bench.vote(BOB, 0, aye=50 * UNIT, c=1)  # Bob votes: now Alice's delegation counts, once
    assert bench.tally(0) == Tally(ayes=160 * UNIT, nays=0, support=160 * UNIT)


def test_a_delegation_cycle_counts_nothing_twice(bench: Bench) -> None:
    bench.open_poll(0)
    bench.call(ALICE, "delegate", 0, BOB, 1, 100 * UNIT)
    bench.call(BOB, "delegate", 0, ALICE, 1, 100 * UNIT)
    bench.vote(CHARLIE, 0, aye=10 * UNIT, c=1)
    assert bench.tally(0) == Tally(ayes=10 * UNIT, nays=0, support=10 * UNIT)


def test_bad_delegations_are_refused(bench: Bench) -> None:
    expect_refused(
        bench, errors.SelfDelegation, lambda: bench.call(ALICE, "delegate", 0, ALICE, 1, UNIT)
    )
    expect_refused(
        bench, errors.BadConviction, lambda: bench.call(ALICE, "delegate", 0, BOB, 7, UNIT)
    )
    expect_refused(
        bench, errors.UnknownClass, lambda: bench.call(ALICE, "delegate", 9, BOB, 1, UNIT)
    )
    expect_refused(bench, errors.BadVote, lambda: bench.call(ALICE, "delegate", 0, BOB, 1, 0))
    expect_refused(
        bench,
        errors.InsufficientFunds,
        lambda: bench.call(ALICE, "delegate", 0, BOB, 1, ENDOWMENT + 1),
    )
    expect_refused(bench, errors.NotDelegating, lambda: bench.call(ALICE, "undelegate", 0))


@pytest.mark.parametrize("conviction", [1, 3, 6])
def test_undelegating_keeps_the_conviction_lock_for_its_periods(
    bench: Bench, conviction: int
) -> None:
    periods = 1 << (conviction - 1)
    bench.call(ALICE, "delegate", 0, BOB, conviction, 400 * UNIT)
    bench.advance(3)
    bench.call(ALICE, "undelegate", 0)
    until = bench.number + periods * PERIOD
    assert ("Undelegated", (ALICE, 0, until)) in bench.events
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 400 * UNIT
    # Delegating again and undelegating at once does not cut the lock short.
    bench.call(ALICE, "delegate", 0, BOB, 0, 1 * UNIT)
    bench.call(ALICE, "undelegate", 0)
    bench.number = until - 1
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 400 * UNIT
    bench.number = until
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 0


def test_undelegating_at_no_conviction_unlocks_at_once(bench: Bench) -> None:
    bench.call(ALICE, "delegate", 0, BOB, 0, 400 * UNIT)
    bench.call(ALICE, "undelegate", 0)
    bench.call(ALICE, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 0


def test_many_delegators_add_up_on_one_delegate(bench: Bench) -> None:
    bench.open_poll(0)
    bench.call(ALICE, "delegate", 0, DAVE, 1, 100 * UNIT)
    bench.call(BOB, "delegate", 0, DAVE, 0, 100 * UNIT)
    bench.call(CHARLIE, "delegate", 0, DAVE, 6, 100 * UNIT)
    bench.vote(DAVE, 0, aye=UNIT, c=1)
    assert bench.tally(0) == Tally(ayes=(1 + 100 + 10 + 600) * UNIT, nays=0, support=301 * UNIT)
    bench.call(BOB, "undelegate", 0)
    assert bench.tally(0) == Tally(ayes=(1 + 100 + 600) * UNIT, nays=0, support=201 * UNIT)
    bench.vote(DAVE, 0, nay=UNIT, c=2)  # switching sides moves the delegations with the vote
    assert bench.tally(0) == Tally(ayes=0, nays=(2 + 100 + 600) * UNIT, support=0)
