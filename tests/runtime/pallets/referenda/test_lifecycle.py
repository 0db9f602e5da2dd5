"""A referendum through every end state, with the deposits checked in each.

On the fast root track (see `referenda.fast_tracks`): prepare 2 blocks, decide 30, confirm 3,
enactment 2, time-out 20; one referendum decides at once; approval falls from 100% to 50% and
support from 10% to 0 over the first half of the decision period.
"""

from __future__ import annotations

import pytest

from runtime.accounts import TREASURY
from runtime.framework import ROOT, BadOrigin, Origin
from runtime.pallets import balances, staking
from runtime.pallets import treasury as treasury_pallet
from runtime.pallets.governance import polls
from runtime.pallets.governance.polls import Completed, Ongoing
from runtime.pallets.referenda import enactment_name
from runtime.pallets.referenda.errors import (
    HasDecisionDeposit,
    KilledReferendum,
    NoDeposit,
    NotOngoing,
    StillOngoing,
)
from runtime.pallets.referenda.storage import (
    APPROVED,
    CANCELLED,
    CONFIRMING,
    DECIDING,
    KILLED,
    PREPARING,
    REJECTED,
    SUBMITTED,
    TIMED_OUT,
)
from runtime.pallets.scheduler import lookup
from runtime.pallets.treasury.invariants import treasury_problems
from tests.runtime.pallets.referenda.conftest import ALICE, BOB, CHARLIE, UNIT, GovChain

SUBMISSION = 100 * UNIT
DECISION = 100_000 * UNIT


def decide(gov: GovChain, who: bytes = ALICE, depositor: bytes = BOB) -> int:
    """Submit at the next block, place the decision deposit, and run to the block it decides."""
    gov.next_block()
    index = gov.submit(who)
    gov.call(depositor, "place_decision_deposit", index)
    gov.run_to(gov.ref(index).submitted + gov.track(0).prepare_period)
    assert gov.ref(index).state == DECIDING
    return index


def refund_both(gov: GovChain, index: int) -> None:
    gov.call(CHARLIE, "refund_submission_deposit", index)
    ref = gov.ref(index)
    if ref.decision_depositor is not None:
        gov.call(CHARLIE, "refund_decision_deposit", index)


def test_submission_holds_its_deposit_and_a_referendum_never_decided_times_out(
    gov: GovChain,
) -> None:
    gov.next_block()
    before = gov.free(ALICE)
    index = gov.submit(ALICE)
    assert gov.ref(index).state == SUBMITTED
    assert gov.held(ALICE) == SUBMISSION and gov.free(ALICE) == before - SUBMISSION
    assert isinstance(polls.polls().poll_status(gov.state, index), Ongoing)
    with pytest.raises(StillOngoing):
        gov.call(CHARLIE, "refund_submission_deposit", index)

    seen = gov.run_to(1 + gov.track(0).timeout)
    assert ("TimedOut", (index,)) in seen
    ref = gov.ref(index)
    assert ref.state == TIMED_OUT and ref.ended == gov.now
    assert polls.polls().poll_status(gov.state, index) is None  # never decided: locks no voter
    assert gov.held(ALICE) == SUBMISSION  # refundable, not stranded
    with pytest.raises(NoDeposit):
        gov.call(CHARLIE, "refund_decision_deposit", index)
    gov.call(CHARLIE, "refund_submission_deposit", index)
    assert gov.held(ALICE) == 0 and gov.free(ALICE) == before
    with pytest.raises(NoDeposit):  # a refund is paid once
        gov.call(CHARLIE, "refund_submission_deposit", index)
    assert gov.problems() == []


def test_a_preparing_referendum_with_its_deposit_still_times_out_if_it_never_decides(
    gov: GovChain,
) -> None:
    first = decide(gov)  # takes the root track's one deciding place
    gov.set_tally(first, 0, 1 * UNIT)  # failing: it keeps its place to the end
    second = gov.submit(CHARLIE)
    gov.call(BOB, "place_decision_deposit", second)
    gov.run_to(gov.ref(second).submitted + 2)
    assert gov.ref(second).state == 2  # queued
    gov.run_to(gov.ref(second).submitted + gov.track(0).timeout)
    assert gov.ref(second).state == TIMED_OUT
    assert gov.held(BOB) == 2 * DECISION
    refund_both(gov, second)
    assert gov.held(BOB) == DECISION and gov.held(CHARLIE) == 0
    assert gov.problems() == []


def test_approved_referendum_is_enacted_with_root_and_its_deposits_refunded(
    gov: GovChain,
) -> None:
    index = decide(gov)
    since = gov.now
    gov.set_tally(index, ayes=500_000 * UNIT)  # 100% approval, over 10% support: passes now
    ref = gov.ref(index)
    assert ref.state == CONFIRMING and ref.confirming_until == since + 3
    assert ("ConfirmStarted", (index, since + 3)) in gov.events()

    seen = gov.run_to(since + 3)
    ref = gov.ref(index)
    assert ref.state == APPROVED and ref.enactment == since + 3 + 2
    assert [e for e, _ in seen if e == "Approved"] == ["Approved"]
    assert polls.polls().poll_status(gov.state, index) == Completed(since + 3, True)
    assert lookup(gov.state, enactment_name(index)) is not None
    assert staking.Params.get(gov.state).era_blocks != 50

    seen = gov.run_to(ref.enactment)
    dispatched = [args for e, args in seen if e == "Dispatched"]
    assert dispatched and dispatched[0][2] == "staking.set_params" and dispatched[0][3] is True
    assert staking.Params.get(gov.state).era_blocks == 50

    assert gov.held(ALICE) == SUBMISSION and gov.held(BOB) == DECISION
    refund_both(gov, index)
    assert gov.held(ALICE) == 0 and gov.held(BOB) == 0
    assert gov.problems() == []


def test_enactment_waits_for_the_longer_of_the_track_and_the_submitter_delays(
    gov: GovChain,
) -> None:
    gov.next_block()
    index = gov.submit(ALICE, after=10)
    gov.call(BOB, "place_decision_deposit", index)
    gov.set_tally(index, ayes=500_000 * UNIT)
    gov.run_to(gov.ref(index).submitted + 2 + 3)
    ref = gov.ref(index)
    assert ref.state == APPROVED and ref.enactment == gov.now + 10


def test_rejected_when_the_decision_period_ends_without_passing(gov: GovChain) -> None:
    index = decide(gov)
    since = gov.now
    gov.set_tally(index, ayes=400_000 * UNIT, nays=500_000 * UNIT)
    seen = gov.run_to(since + 30)
    assert ("Rejected", (index, 400_000 * UNIT, 500_000 * UNIT, 400_000 * UNIT)) in seen
    assert gov.ref(index).state == REJECTED
    assert polls.polls().poll_status(gov.state, index) == Completed(gov.now, False)
    with pytest.raises(NotOngoing):
        gov.set_tally(index, ayes=10**9 * UNIT)
    refund_both(gov, index)
    assert gov.held(ALICE) == 0 and gov.held(BOB) == 0
    assert gov.problems() == []


def test_cancelled_by_root_only_and_its_deposits_refundable(gov: GovChain) -> None:
    index = decide(gov)
    for origin in (ALICE, Origin(track="treasurer")):
        with pytest.raises(BadOrigin):
            gov.call(origin, "cancel", index)
    gov.call(ROOT, "cancel", index)
    assert gov.ref(index).state == CANCELLED
    assert polls.polls().poll_status(gov.state, index) is None  # votes on it lock nothing
    with pytest.raises(NotOngoing):
        gov.call(ROOT, "cancel", index)
    refund_both(gov, index)
    assert gov.held(ALICE) == 0 and gov.held(BOB) == 0
    assert gov.problems() == []


def test_killed_by_root_slashes_both_deposits_to_the_treasury(gov: GovChain) -> None:
    index = decide(gov)
    treasury = gov.free(TREASURY)
    issuance = gov.electorate()
    with pytest.raises(BadOrigin):
        gov.call(BOB, "kill", index)
    gov.call(ROOT, "kill", index)
    assert gov.ref(index).state == KILLED
    assert gov.held(ALICE) == 0 and gov.held(BOB) == 0
    assert gov.free(TREASURY) == treasury + SUBMISSION + DECISION
    assert treasury_pallet.Ledgers.get(gov.state).slashes == SUBMISSION + DECISION
    assert gov.electorate() == issuance
    assert polls.polls().poll_status(gov.state, index) is None
    assert treasury_problems(gov.committed().get) == []
    for refund in ("refund_submission_deposit", "refund_decision_deposit"):
        with pytest.raises(KilledReferendum):
            gov.call(CHARLIE, refund, index)
    assert gov.problems() == []


def test_a_submitted_referendum_may_be_killed_and_only_its_submission_deposit_is_taken(
    gov: GovChain,
) -> None:
    gov.next_block()
    index = gov.submit(ALICE)
    gov.call(ROOT, "kill", index)
    assert gov.held(ALICE) == 0 and gov.ref(index).state == KILLED
    assert gov.problems() == []


def test_decision_deposit_is_placed_once_and_only_while_ongoing(gov: GovChain) -> None:
    gov.next_block()
    index = gov.submit(ALICE)
    gov.call(BOB, "place_decision_deposit", index)
    assert gov.ref(index).state == PREPARING
    with pytest.raises(HasDecisionDeposit):
        gov.call(CHARLIE, "place_decision_deposit", index)
    assert gov.held(CHARLIE) == 0
    gov.call(ROOT, "cancel", index)
    with pytest.raises(NotOngoing):
        gov.call(CHARLIE, "place_decision_deposit", index)


def test_a_deposit_placed_after_the_prepare_period_starts_deciding_at_once(
    gov: GovChain,
) -> None:
    gov.next_block()
    index = gov.submit(ALICE)
    gov.run_to(gov.now + 5)
    assert gov.ref(index).state == SUBMITTED
    gov.call(BOB, "place_decision_deposit", index)
    assert gov.ref(index).state == DECIDING and gov.ref(index).deciding_since == gov.now


def test_confirmation_must_hold_for_the_whole_period(gov: GovChain) -> None:
    index = decide(gov)
    since = gov.now
    gov.set_tally(index, ayes=500_000 * UNIT)
    assert gov.ref(index).state == CONFIRMING
    gov.next_block()
    gov.set_tally(index, ayes=500_000 * UNIT, nays=600_000 * UNIT)  # a vote turns it
    assert gov.ref(index).state == DECIDING and gov.ref(index).confirming_until is None
    assert ("ConfirmAborted", (index,)) in gov.events()
    gov.run_to(since + 3)  # the first confirmation's end: nothing is approved
    assert gov.ref(index).state == DECIDING
    gov.set_tally(index, ayes=6_000_000 * UNIT, nays=600_000 * UNIT)  # 91% > 90% now
    restarted = gov.now
    assert gov.ref(index).confirming_until == restarted + 3
    gov.run_to(restarted + 2)
    assert gov.ref(index).state == CONFIRMING
    gov.next_block()
    assert gov.ref(index).state == APPROVED
    assert gov.problems() == []


def test_falling_curves_let_a_standing_tally_pass_at_its_alarm_without_new_votes(
    gov: GovChain,
) -> None:
    index = decide(gov)
    since = gov.now
    # 100% approval and 5% support: the support curve falls from 10% to 0 over 15 blocks, to
    # 5% a quarter of the way through the period: 7.5 blocks, so from the 8th.
    gov.set_tally(index, ayes=gov.electorate() // 20 + 1)
    ref = gov.ref(index)
    assert ref.state == DECIDING and ref.alarm == since + 8
    gov.run_to(since + 7)
    assert gov.ref(index).state == DECIDING
    assert gov.next_block() == [("ConfirmStarted", (index, since + 8 + 3))]
    gov.run_to(since + 11)
    assert gov.ref(index).state == APPROVED


def test_a_referendum_passing_at_the_end_of_its_decision_period_may_still_confirm(
    gov: GovChain,
) -> None:
    index = decide(gov)
    since = gov.now
    gov.run_to(since + 29)
    gov.set_tally(index, ayes=10 * UNIT)  # the curves are at their floor: 50% and 0
    assert gov.ref(index).state == CONFIRMING
    gov.run_to(since + 30)
    assert gov.ref(index).state == CONFIRMING  # confirming past the decision period's end
    gov.set_tally(index, ayes=10 * UNIT, nays=11 * UNIT)
    assert gov.ref(index).state == REJECTED  # failing after the end: rejected at once
    assert gov.problems() == []


def test_bob_may_not_refund_into_his_own_account(gov: GovChain) -> None:
    index = decide(gov)
    gov.call(ROOT, "cancel", index)
    bob = gov.free(BOB)
    gov.call(BOB, "refund_submission_deposit", index)  # anyone may call: Alice is paid
    assert gov.free(BOB) == bob and gov.held(ALICE) == 0
    assert balances.held(gov.ctx, BOB, "referenda") == DECISION


def test_an_unsafe_parameter_change_passes_its_vote_and_fails_at_enactment_saying_why(
    gov: GovChain,
) -> None:
    from dataclasses import replace

    from runtime import dispatch
    from runtime.pallets import compute

    params = compute.Params.get(gov.state)
    unsafe = replace(params, audit_ppm=1)  # cheating would pay
    args = tuple(getattr(unsafe, f.name) for f in unsafe.schema().fields)
    gov.next_block()
    index = gov.submit(ALICE, proposal=dispatch.encode_call("compute", "set_params", args))
    gov.call(BOB, "place_decision_deposit", index)
    gov.set_tally(index, ayes=500_000 * UNIT)
    seen = gov.run_to(gov.ref(index).submitted + 2 + 3 + 2)
    assert gov.ref(index).state == APPROVED
    (dispatched,) = [args for e, args in seen if e == "Dispatched"]
    assert dispatched[2] == "compute.set_params" and dispatched[3] is False
    assert dispatched[5]  # the check that failed
    assert compute.Params.get(gov.state) == params
