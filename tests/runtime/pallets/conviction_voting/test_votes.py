"""Votes: how each kind counts, what is refused, and that a refused vote changes nothing."""

from __future__ import annotations

import pytest

from runtime.framework import BadOrigin
from runtime.pallets.conviction_voting import ConvictionVotingParams, Params, errors
from runtime.pallets.governance.tally import Tally
from runtime.state import StateOverlay
from tests.runtime.pallets.voting_helpers import (
    ALICE,
    BOB,
    CHARLIE,
    ENDOWMENT,
    UNIT,
    Bench,
    Refused,
)


def refused(bench: Bench, error: type[Exception], operation: object) -> None:
    """`operation` fails with `error` and leaves the state as it was."""
    before = dict(bench.state)
    with pytest.raises(Refused) as caught:
        operation()  # type: ignore[operator]
    assert isinstance(caught.value.error, error), caught.value
    assert bench.state == before


@pytest.mark.parametrize(
    ("conviction", "weight_tenths"), [(0, 1), (1, 10), (2, 20), (3, 30), (4, 40), (5, 50), (6, 60)]
)
def test_a_standard_vote_counts_its_conviction_and_locks_its_amount(
    bench: Bench, conviction: int, weight_tenths: int
) -> None:
    bench.open_poll(0)
    bench.vote(ALICE, 0, aye=100 * UNIT, c=conviction)
    bench.vote(BOB, 0, nay=50 * UNIT, c=conviction)
    assert bench.tally(0) == Tally(
        ayes=100 * UNIT * weight_tenths // 10,
        nays=50 * UNIT * weight_tenths // 10,
        support=100 * UNIT,
    )
    assert bench.freeze(ALICE) == 100 * UNIT
    assert bench.freeze(BOB) == 50 * UNIT
    assert ("Voted", (ALICE, 0, 100 * UNIT, 0, 0, conviction)) in bench.events


def test_split_and_abstain_votes_count_a_tenth_and_abstain_counts_as_support(bench: Bench) -> None:
    bench.open_poll(0)
    bench.vote(ALICE, 0, aye=30 * UNIT, nay=20 * UNIT)
    bench.vote(BOB, 0, aye=10 * UNIT, nay=10 * UNIT, abstain=40 * UNIT)
    assert bench.tally(0) == Tally(ayes=4 * UNIT, nays=3 * UNIT, support=80 * UNIT)
    assert bench.freeze(ALICE) == 50 * UNIT
    assert bench.freeze(BOB) == 60 * UNIT


def test_a_new_vote_on_the_same_poll_replaces_the_old_one(bench: Bench) -> None:
    bench.open_poll(0)
    bench.vote(ALICE, 0, aye=100 * UNIT, c=6)
    bench.vote(ALICE, 0, nay=10 * UNIT, c=1)
    assert bench.tally(0) == Tally(ayes=0, nays=10 * UNIT, support=0)
    # The lock only grows until unlock recomputes it from what is recorded.
    assert bench.freeze(ALICE) == 100 * UNIT
    bench.call(BOB, "unlock", 0, ALICE)
    assert bench.freeze(ALICE) == 10 * UNIT


@pytest.mark.parametrize("conviction", [7, 8, 255])
def test_conviction_out_of_range_is_refused(bench: Bench, conviction: int) -> None:
    bench.open_poll(0)
    refused(bench, errors.BadConviction, lambda: bench.vote(ALICE, 0, aye=UNIT, c=conviction))


def test_a_split_or_abstain_vote_with_conviction_is_refused(bench: Bench) -> None:
    bench.open_poll(0)
    refused(bench, errors.BadVote, lambda: bench.vote(ALICE, 0, aye=UNIT, nay=UNIT, c=1))
    refused(bench, errors.BadVote, lambda: bench.vote(ALICE, 0, abstain=UNIT, c=6))
    refused(bench, errors.BadVote, lambda: bench.vote(ALICE, 0, aye=UNIT, abstain=UNIT, c=2))


def test_an_empty_vote_is_refused(bench: Bench) -> None:
    bench.open_poll(0)
    refused(bench, errors.BadVote, lambda: bench.vote(ALICE, 0))


def test_votes_on_unknown_ended_or_cancelled_polls_are_refused(bench: Bench) -> None:
    refused(bench, errors.UnknownPoll, lambda: bench.vote(ALICE, 7, aye=UNIT, c=1))
    bench.open_poll(0)
    bench.end_poll(0, approved=True)
    refused(bench, errors.NotOngoing, lambda: bench.vote(ALICE, 0, aye=UNIT, c=1))
    bench.open_poll(1)
    bench.cancel_poll(1)
    refused(bench, errors.UnknownPoll, lambda: bench.vote(ALICE, 1, aye=UNIT, c=1))


def test_a_vote_above_the_lockable_balance_is_refused_split_parts_summed(bench: Bench) -> None:
    bench.open_poll(0)
    refused(bench, errors.InsufficientFunds, lambda: bench.vote(ALICE, 0, aye=ENDOWMENT + 1, c=1))
    # Each part fits; together they do not.
    half = ENDOWMENT // 2 + 1
    refused(bench, errors.InsufficientFunds, lambda: bench.vote(ALICE, 0, aye=half, nay=half))
    refused(
        bench,
        errors.InsufficientFunds,
        lambda: bench.vote(ALICE, 0, aye=half, nay=1, abstain=half),
    )
    bench.vote(ALICE, 0, aye=ENDOWMENT, c=1)  # the whole balance may vote
    assert bench.freeze(ALICE) == ENDOWMENT


def test_an_account_without_funds_cannot_vote(bench: Bench) -> None:
    bench.open_poll(0)
    nobody = bytes(31) + b"\x01"
    refused(bench, errors.InsufficientFunds, lambda: bench.vote(nobody, 0, aye=1, c=1))


def test_votes_are_limited_per_class_and_removing_ended_ones_makes_room(bench: Bench) -> None:
    for poll in range(9):
        bench.open_poll(poll)
    for poll in range(8):
        bench.vote(ALICE, poll, aye=UNIT)
    refused(bench, errors.MaxVotesReached, lambda: bench.vote(ALICE, 8, aye=UNIT))
    bench.vote(ALICE, 3, nay=UNIT)  # replacing a vote needs no room
    bench.end_poll(0, approved=False)
    bench.call(ALICE, "remove_vote", 0, 0)
    bench.vote(ALICE, 8, aye=UNIT)


def test_the_same_funds_vote_on_every_poll_of_every_track_and_lock_once(bench: Bench) -> None:
    bench.open_poll(0, track=0)
    bench.open_poll(1, track=0)
    bench.open_poll(2, track=1)
    bench.vote(ALICE, 0, aye=600 * UNIT, c=1)
    bench.vote(ALICE, 1, nay=900 * UNIT, c=2)
    bench.vote(ALICE, 2, aye=800 * UNIT, c=3)
    assert bench.tally(0).ayes == 600 * UNIT
    assert bench.tally(1).nays == 1_800 * UNIT
    assert bench.tally(2).ayes == 2_400 * UNIT
    assert bench.locks(ALICE) == {0: 900 * UNIT, 1: 800 * UNIT}
    assert bench.freeze(ALICE) == 900 * UNIT


def test_locked_funds_cannot_be_transferred_but_the_rest_can(bench: Bench) -> None:
    bench.open_poll(0)
    bench.vote(ALICE, 0, aye=900 * UNIT, c=1)
    with pytest.raises(Refused):
        bench.transfer(ALICE, CHARLIE, 200 * UNIT)
    bench.transfer(ALICE, CHARLIE, 50 * UNIT)
    assert bench.free(ALICE) == 950 * UNIT


def test_only_root_changes_the_parameters(bench: Bench) -> None:
    refused(bench, BadOrigin, lambda: bench.call(ALICE, "set_params", 10, 5))
    refused(bench, errors.BadParams, lambda: bench.call(None, "set_params", 10, 0, root=True))
    bench.call(None, "set_params", 10, 5, root=True)
    assert Params.get(StateOverlay(bench.state.get)) == ConvictionVotingParams(10, 5)


def test_a_refusal_says_what_was_asked_and_what_the_account_can_lock(bench: Bench) -> None:
    bench.open_poll(0)
    with pytest.raises(Refused) as caught:
        bench.vote(ALICE, 0, aye=1_500 * UNIT, c=1)
    reason = caught.value.error.reason()
    assert "1500" in reason.replace(",", "") and "1000" in reason.replace(",", ""), reason
    with pytest.raises(Refused) as caught:
        bench.vote(ALICE, 0, aye=UNIT, c=9)
    assert caught.value.error.reason() == "conviction 9 is not 0 to 6"
