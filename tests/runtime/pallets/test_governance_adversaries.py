"""Attacks on governance's money paths, each refused or leaving the books whole."""

from __future__ import annotations

from runtime.accounts import TREASURY
from runtime.framework import ROOT
from runtime.pallets import bounties
from runtime.pallets.bounties import DEFAULT_BOUNTIES_PARAMS as P
from tests.runtime.pallets.bounty_helpers import ALICE, BOB, CHARLIE, UNIT, Env

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
