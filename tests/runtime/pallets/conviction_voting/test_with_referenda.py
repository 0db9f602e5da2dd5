"""Conviction voting on the runtime's referenda: votes and delegations move a referendum through
its states, ended and cancelled referenda refuse votes, and a winning vote's lock outlasts the
referendum. The referenda are the real ones (fast tracks: a few blocks per period)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runtime import dispatch
from runtime.framework import ROOT, DispatchError, Origin
from runtime.invariants import check_invariants
from runtime.pallets import balances, conviction_voting
from runtime.pallets.conviction_voting import errors
from runtime.pallets.governance.tally import Tally
from runtime.pallets.referenda.storage import (
    APPROVED,
    CONFIRMING,
    DECIDING,
    REJECTED,
    TIMED_OUT,
)
from tests.runtime.pallets.referenda.conftest import ALICE, BOB, CHARLIE, DAVE, UNIT, GovChain

PERIOD = conviction_voting.DEFAULT_CONVICTION_VOTING_PARAMS.vote_locking_period


@pytest.fixture
def gov() -> Iterator[GovChain]:
    chain = GovChain()
    yield chain
    assert problems(chain) == []


def problems(gov: GovChain) -> list[str]:
    """Every runtime invariant over the chain's state as if committed now."""
    committed = dict(gov.genesis)
    for key, value in gov.state.changes().items():
        if value is None:
            committed.pop(key, None)
        else:
            committed[key] = value

    def iterate(prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        return iter(sorted((k, v) for k, v in committed.items() if k.startswith(prefix)))

    return check_invariants(committed.get, iterate)


def voting(gov: GovChain, who: bytes, name: str, *args: Any) -> None:
    """Dispatch a conviction voting call as the executive would (undone if refused)."""
    origin = ROOT if who == b"root" else Origin(signer=who)
    dispatch.dispatch(gov.ctx, origin, dispatch.encode_call("conviction_voting", name, args))


def deciding(gov: GovChain) -> int:
    """A root referendum by Alice, Bob's decision deposit placed, run until it decides."""
    gov.next_block()
    index = gov.submit(ALICE)
    gov.call(BOB, "place_decision_deposit", index)
    gov.run_to(gov.ref(index).submitted + gov.track(0).prepare_period)
    assert gov.ref(index).state == DECIDING
    return index


def freeze(gov: GovChain, who: bytes) -> int:
    return balances.freeze_of(gov.ctx, who, conviction_voting.LOCK_ID)


def test_votes_and_a_delegation_pass_a_referendum_and_the_winners_stay_locked(
    gov: GovChain,
) -> None:
    index = deciding(gov)
    voting(gov, DAVE, "delegate", 0, CHARLIE, 1, 400_000 * UNIT)
    voting(gov, CHARLIE, "vote", index, 100_000 * UNIT, 0, 0, 6)
    assert gov.ref(index).tally == Tally(1_000_000 * UNIT, 0, 500_000 * UNIT)
    assert gov.ref(index).state == CONFIRMING
    gov.run_to(gov.ref(index).confirming_until or 0)
    ref = gov.ref(index)
    assert ref.state == APPROVED and ref.ended is not None
    with pytest.raises(errors.NotOngoing):
        voting(gov, BOB, "vote", index, 0, UNIT, 0, 1)
    # Charlie's 6x vote won: locked 32 periods after the end, whatever he removes or unlocks.
    voting(gov, CHARLIE, "remove_vote", 0, index)
    voting(gov, CHARLIE, "unlock", 0, CHARLIE)
    assert freeze(gov, CHARLIE) == 100_000 * UNIT
    with pytest.raises(DispatchError):
        voting(gov, BOB, "remove_other_vote", CHARLIE, 0, index)
    gov.ctx.number = ref.ended + 32 * PERIOD
    voting(gov, BOB, "unlock", 0, CHARLIE)
    assert freeze(gov, CHARLIE) == 0
    # Dave's delegation keeps its 1x lock for a period from his undelegation.
    voting(gov, DAVE, "undelegate", 0)
    voting(gov, DAVE, "unlock", 0, DAVE)
    assert freeze(gov, DAVE) == 400_000 * UNIT
    gov.ctx.number += PERIOD
    voting(gov, DAVE, "unlock", 0, DAVE)
    assert freeze(gov, DAVE) == 0


def test_a_nay_vote_or_an_undelegation_ends_confirmation(gov: GovChain) -> None:
    index = deciding(gov)
    voting(gov, CHARLIE, "vote", index, 300_000 * UNIT, 0, 0, 1)
    assert gov.ref(index).state == DECIDING  # too little support yet
    voting(gov, DAVE, "delegate", 0, CHARLIE, 1, 200_000 * UNIT)
    assert gov.ref(index).state == CONFIRMING
    voting(gov, DAVE, "undelegate", 0)
    assert gov.ref(index).tally == Tally(300_000 * UNIT, 0, 300_000 * UNIT)
    assert gov.ref(index).state == DECIDING
    voting(gov, DAVE, "vote", index, 200_000 * UNIT, 0, 0, 1)  # Dave votes himself: once
    assert gov.ref(index).state == CONFIRMING
    voting(gov, BOB, "vote", index, 0, UNIT, 0, 1)  # early on, any nay fails the approval curve
    assert gov.ref(index).state == DECIDING
    voting(gov, BOB, "remove_vote", 0, index)
    assert gov.ref(index).state == CONFIRMING


def test_a_rejected_referendum_locks_its_nay_voters_and_frees_its_aye_voters(
    gov: GovChain,
) -> None:
    index = deciding(gov)
    voting(gov, CHARLIE, "vote", index, 0, 50_000 * UNIT, 0, 2)
    voting(gov, DAVE, "vote", index, 10_000 * UNIT, 0, 0, 6)
    gov.run_to(gov.ref(index).deciding_since + gov.track(0).decision_period)  # type: ignore[operator]
    ref = gov.ref(index)
    assert ref.state == REJECTED and ref.ended is not None
    voting(gov, BOB, "remove_other_vote", DAVE, 0, index)  # lost: anyone may clear it
    voting(gov, BOB, "unlock", 0, DAVE)
    assert freeze(gov, DAVE) == 0
    with pytest.raises(errors.NoPermissionYet):
        voting(gov, BOB, "remove_other_vote", CHARLIE, 0, index)
    voting(gov, CHARLIE, "remove_vote", 0, index)
    voting(gov, CHARLIE, "unlock", 0, CHARLIE)
    assert freeze(gov, CHARLIE) == 50_000 * UNIT


def test_votes_on_cancelled_or_unknown_referenda_are_refused_and_lock_nothing(
    gov: GovChain,
) -> None:
    index = deciding(gov)
    voting(gov, CHARLIE, "vote", index, 50_000 * UNIT, 0, 0, 6)
    gov.call(ROOT, "cancel", index)
    with pytest.raises(errors.UnknownPoll):
        voting(gov, DAVE, "vote", index, UNIT, 0, 0, 1)
    with pytest.raises(errors.UnknownPoll):
        voting(gov, DAVE, "vote", index + 1, UNIT, 0, 0, 1)
    voting(gov, BOB, "remove_other_vote", CHARLIE, 0, index)
    voting(gov, BOB, "unlock", 0, CHARLIE)
    assert freeze(gov, CHARLIE) == 0


def test_a_timed_out_referendum_locks_none_of_its_voters(gov: GovChain) -> None:
    # No decision deposit: the referendum never decides and times out. Its voters, nay ones
    # with conviction included, are free at once: it was never decided, so no side won.
    gov.next_block()
    index = gov.submit(ALICE)
    voting(gov, CHARLIE, "vote", index, 0, 50_000 * UNIT, 0, 6)
    voting(gov, DAVE, "vote", index, 10_000 * UNIT, 0, 0, 6)
    gov.run_to(gov.ref(index).submitted + gov.track(0).timeout)
    assert gov.ref(index).state == TIMED_OUT
    with pytest.raises(errors.UnknownPoll):
        voting(gov, BOB, "vote", index, UNIT, 0, 0, 1)
    for voter in (CHARLIE, DAVE):
        voting(gov, BOB, "remove_other_vote", voter, 0, index)
        voting(gov, BOB, "unlock", 0, voter)
        assert freeze(gov, voter) == 0


def test_a_referendum_preparing_takes_votes(gov: GovChain) -> None:
    gov.next_block()
    index = gov.submit(ALICE)
    voting(gov, CHARLIE, "vote", index, UNIT, UNIT, UNIT, 0)
    assert gov.ref(index).tally == Tally(UNIT // 10, UNIT // 10, 2 * UNIT)


def test_a_voter_on_a_spending_track_is_locked_in_that_class_only(gov: GovChain) -> None:
    gov.next_block()
    spend = dispatch.encode_call("treasury", "spend", (UNIT, DAVE, 0))
    index = gov.submit(ALICE, track=2, proposal=spend)
    voting(gov, CHARLIE, "vote", index, 10 * UNIT, 0, 0, 3)
    assert conviction_voting.class_locks(gov.state, CHARLIE) == {2: 10 * UNIT}
    with pytest.raises(errors.WrongClass):
        voting(gov, CHARLIE, "remove_vote", 0, index)
    voting(gov, CHARLIE, "remove_vote", 2, index)
