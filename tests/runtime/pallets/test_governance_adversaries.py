"""Attacks on governance's money paths, each refused or leaving the books whole."""

from __future__ import annotations

import pytest

from runtime import dispatch
from runtime.accounts import TREASURY
from runtime.framework import ROOT
from runtime.pallets import bounties
from runtime.pallets.bounties import DEFAULT_BOUNTIES_PARAMS as P
from runtime.pallets.referenda import MAX_ALARMS_PER_BLOCK
from runtime.pallets.referenda.constants import MAX_ALARM_PROBE, MAX_ENACTMENT_DELAY
from runtime.pallets.referenda.errors import AlarmsFull, BadEnactment
from runtime.pallets.referenda.storage import APPROVED, CONFIRMING, Alarms
from runtime.primitives.codec import U32_MAX
from tests.runtime.pallets.bounty_helpers import ALICE, BOB, CHARLIE, UNIT, Env
from tests.runtime.pallets.referenda.conftest import ROOT_TRACK, SMALL, GovChain

VALUE = 1_000 * UNIT
FEE = 100 * UNIT


def _curated(env: Env) -> int:
    bounty_id = bounties.BountyCount.get(env.ctx.state)
    env.ok(ALICE, "bounties", "propose_bounty", VALUE, b"audit the scheduler")
    env.ok(ROOT, "bounties", "approve_bounty", bounty_id)
    env.ok(ROOT, "bounties", "propose_curator", bounty_id, BOB, FEE)
    env.ok(BOB, "bounties", "accept_curator", bounty_id)
    return bounty_id


def test_a_bounty_awarded_to_the_treasury_keeps_the_treasurys_books_whole() -> None:
    """A curator naming the treasury as the beneficiary must not pay it behind its ledger's
    back (the ledger would then no longer match the treasury's balance)."""
    env = Env()
    bounty_id = _curated(env)
    env.ok(BOB, "bounties", "award_bounty", bounty_id, TREASURY)
    env.advance(P.payout_delay)
    env.ok(CHARLIE, "bounties", "claim_bounty", bounty_id)
    assert env.problems() == []


def test_a_child_bounty_awarded_to_the_treasury_keeps_the_treasurys_books_whole() -> None:
    env = Env()
    parent = _curated(env)
    child = bounties.ChildBountyCount.get(env.ctx.state)
    env.ok(BOB, "bounties", "add_child_bounty", parent, 200 * UNIT, b"milestone")
    env.ok(BOB, "bounties", "propose_child_curator", parent, child, CHARLIE, 10 * UNIT)
    env.ok(CHARLIE, "bounties", "accept_child_curator", parent, child)
    env.ok(CHARLIE, "bounties", "award_child_bounty", parent, child, TREASURY)
    env.advance(P.payout_delay)
    env.ok(ALICE, "bounties", "claim_child_bounty", parent, child)
    assert env.problems() == []


def test_cheap_submissions_cannot_push_an_honest_referendums_alarm_back_without_bound() -> None:
    """An attacker submits thousands of small-spender referenda in one block (1 XPL each,
    refunded at their time-out) so that their time-outs fill every alarm bucket around the block
    an honest referendum's confirmation ends: that referendum must still be approved within the
    alarm probe's reach, not after the whole pile of spam is worked off, and no bucket holds
    more alarms than on_initialize services in a block."""
    gov = GovChain()
    small = gov.track(SMALL)
    gov.next_block()
    honest = gov.submit(BOB)
    gov.call(BOB, "place_decision_deposit", honest)
    spend = dispatch.encode_call("treasury", "spend", (UNIT, CHARLIE, 0))
    refused = 0
    for _ in range(1_500):
        try:
            gov.call(ALICE, "submit", SMALL, spend, 0)
        except AlarmsFull:
            refused += 1
    due = gov.now + small.timeout
    assert refused == 1_500 - MAX_ALARM_PROBE * MAX_ALARMS_PER_BLOCK
    assert all(
        len(Alarms.get(gov.state, b) or ()) <= MAX_ALARMS_PER_BLOCK
        for b in range(due, due + MAX_ALARM_PROBE)
    )
    confirm = gov.track(ROOT_TRACK).confirm_period
    gov.run_to(due - confirm)
    gov.set_tally(honest, ayes=gov.electorate(), support=gov.electorate())
    assert gov.ref(honest).state == CONFIRMING
    confirm_end = gov.now + confirm
    gov.run_to(confirm_end + MAX_ALARM_PROBE + 1)
    assert gov.ref(honest).state == APPROVED
    assert gov.problems() == []


def test_an_enactment_delay_beyond_the_last_block_cannot_hold_a_deciding_place_forever() -> None:
    """A proposer asks for its proposal to be enacted 2^32 - 1 blocks after approval: the
    scheduler can never take it, so the approved referendum would stay confirming and retry at
    every block for good, keeping the root track's only deciding place (and with it the
    referendum that could cancel it). Such a delay is refused at submission; the longest one
    allowed is enacted."""
    gov = GovChain()
    gov.next_block()
    with pytest.raises(BadEnactment):
        gov.submit(ALICE, ROOT_TRACK, after=U32_MAX)
    longest = gov.submit(ALICE, ROOT_TRACK, after=MAX_ENACTMENT_DELAY)
    gov.call(BOB, "place_decision_deposit", longest)
    waiting = gov.submit(ALICE, ROOT_TRACK)
    gov.call(BOB, "place_decision_deposit", waiting)
    gov.run_to(5)
    gov.set_tally(longest, ayes=gov.electorate(), support=gov.electorate())
    gov.run_to(5 + gov.track(ROOT_TRACK).confirm_period + 1)
    assert gov.ref(longest).state == APPROVED
    assert gov.ref(waiting).state_name in ("deciding", "confirming")  # it took the freed place
    assert gov.problems() == []
