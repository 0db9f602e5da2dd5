"""Child bounties (milestones): funded out of the parent's account and never beyond it, curated,
awarded and claimed on their own; the parent waits for them before its own award or close."""

from __future__ import annotations

import pytest

from runtime.accounts import TREASURY
from runtime.framework import ROOT
from runtime.pallets import bounties
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT as ED
from runtime.pallets.bounties import DEFAULT_BOUNTIES_PARAMS as P
from runtime.pallets.bounties import bounty_account, child_account
from tests.runtime.pallets.bounty_helpers import (
    BOB,
    CHARLIE,
    DAVE,
    ENDOWMENT,
    EVE,
    SMALL,
    UNIT,
    Env,
)

VALUE = 1_000 * UNIT
FEE = 100 * UNIT
CHILD = 300 * UNIT
CHILD_FEE = 30 * UNIT


def active_bounty(env: Env) -> int:
    """A bounty of VALUE curated by Bob at FEE."""
    bounty_id = bounties.BountyCount.get(env.ctx.state)
    env.ok(DAVE, "bounties", "propose_bounty", VALUE, b"a model zoo")
    env.ok(ROOT, "bounties", "approve_bounty", bounty_id)
    env.ok(ROOT, "bounties", "propose_curator", bounty_id, BOB, FEE)
    env.ok(BOB, "bounties", "accept_curator", bounty_id)
    return bounty_id


def add_child(env: Env, parent: int, value: int = CHILD) -> int:
    child = bounties.ChildBountyCount.get(env.ctx.state)
    env.ok(BOB, "bounties", "add_child_bounty", parent, value, b"milestone")
    return child


def curated_child(env: Env, parent: int, curator: bytes = CHARLIE) -> int:
    child = add_child(env, parent)
    env.ok(BOB, "bounties", "propose_child_curator", parent, child, curator, CHILD_FEE)
    env.ok(curator, "bounties", "accept_child_curator", parent, child)
    return child


def child_status(env: Env, child: int) -> str | None:
    found = bounties.ChildBounties.get(env.ctx.state, child)
    return None if found is None else found.status


def test_a_child_takes_its_value_from_the_parents_account(env: Env) -> None:
    parent = active_bounty(env)
    assert env.call(DAVE, "bounties", "add_child_bounty", parent, CHILD, b"") == "RequireCurator"
    child = add_child(env, parent)
    assert env.free(bounty_account(parent)) == VALUE - CHILD
    assert env.free(child_account(child)) == CHILD
    assert bounties.Children.get(env.ctx.state, parent) == (child,)


def test_children_never_exceed_the_parents_funds(env: Env) -> None:
    parent = active_bounty(env)
    add_child(env, parent, 600 * UNIT)
    spare = VALUE - 600 * UNIT - ED  # the parent's account keeps its existential deposit
    error = env.call(BOB, "bounties", "add_child_bounty", parent, spare + 1, b"")
    assert error == "InsufficientBountyBalance"
    add_child(env, parent, spare)
    assert env.free(bounty_account(parent)) == ED
    assert env.call(BOB, "bounties", "add_child_bounty", parent, P.child_value_minimum, b"") == (
        "InsufficientBountyBalance"
    )


def test_a_child_below_the_minimum_is_refused(env: Env) -> None:
    parent = active_bounty(env)
    error = env.call(BOB, "bounties", "add_child_bounty", parent, P.child_value_minimum - 1, b"")
    assert error == "ValueTooLow"


def test_a_parent_has_at_most_max_children_open(env: Env) -> None:
    parent = active_bounty(env)
    for _ in range(bounties.MAX_CHILDREN):
        add_child(env, parent, P.child_value_minimum)
    error = env.call(BOB, "bounties", "add_child_bounty", parent, P.child_value_minimum, b"")
    assert error == "TooManyChildBounties"


def test_a_child_bounty_is_curated_awarded_and_claimed(env: Env) -> None:
    parent = active_bounty(env)
    child = curated_child(env, parent)
    deposit = P.curator_deposit(CHILD_FEE)
    assert env.held(CHARLIE) == deposit
    assert env.call(BOB, "bounties", "award_child_bounty", parent, child, BOB) == "RequireCurator"
    env.ok(CHARLIE, "bounties", "award_child_bounty", parent, child, EVE)
    assert env.call(CHARLIE, "bounties", "award_child_bounty", parent, child, CHARLIE) == (
        "UnexpectedStatus"
    )
    env.advance(P.payout_delay - 1)
    assert env.call(DAVE, "bounties", "claim_child_bounty", parent, child) == "Premature"
    env.advance(1)
    env.ok(DAVE, "bounties", "claim_child_bounty", parent, child)
    assert env.free(EVE) == CHILD - CHILD_FEE
    assert env.free(CHARLIE) == ENDOWMENT + CHILD_FEE and env.held(CHARLIE) == 0
    assert child_status(env, child) is None
    assert bounties.Children.get(env.ctx.state, parent) is None
    assert env.call(DAVE, "bounties", "claim_child_bounty", parent, child) == "UnknownChildBounty"


def test_the_parents_curator_curates_a_child_without_a_second_deposit(env: Env) -> None:
    parent = active_bounty(env)
    curated_child(env, parent, curator=BOB)
    assert env.held(BOB) == P.curator_deposit(FEE)


def test_the_parent_waits_for_its_children(env: Env) -> None:
    parent = active_bounty(env)
    child = curated_child(env, parent)
    assert env.call(BOB, "bounties", "award_bounty", parent, EVE) == "HasActiveChildBounty"
    assert env.call(ROOT, "bounties", "close_bounty", parent) == "HasActiveChildBounty"
    env.ok(BOB, "bounties", "close_child_bounty", parent, child)
    assert env.free(bounty_account(parent)) == VALUE  # the child's funds came back
    assert env.held(CHARLIE) == 0 and env.free(CHARLIE) == ENDOWMENT  # not at fault
    treasury = env.free(TREASURY)
    env.ok(ROOT, "bounties", "close_bounty", parent)
    assert env.free(TREASURY) == treasury + VALUE


def test_an_awarded_child_is_not_closed_until_its_curator_is_unassigned(env: Env) -> None:
    parent = active_bounty(env)
    child = curated_child(env, parent)
    env.ok(CHARLIE, "bounties", "award_child_bounty", parent, child, CHARLIE)
    assert env.call(BOB, "bounties", "close_child_bounty", parent, child) == "PendingPayout"
    assert env.call(CHARLIE, "bounties", "unassign_child_curator", parent, child) == "BadOrigin"
    env.ok(BOB, "bounties", "unassign_child_curator", parent, child)  # the parent's curator
    assert env.total(CHARLIE) == ENDOWMENT - P.curator_deposit(CHILD_FEE)
    assert child_status(env, child) == "added"
    env.ok(BOB, "bounties", "close_child_bounty", parent, child)


def test_strangers_unassign_a_child_curator_only_under_a_silent_parent_curator(env: Env) -> None:
    parent = active_bounty(env)
    child = curated_child(env, parent)
    assert env.call(DAVE, "bounties", "unassign_child_curator", parent, child) == "Premature"
    assert env.call(DAVE, "bounties", "close_child_bounty", parent, child) == "RequireCurator"
    env.advance(P.update_period + 1)
    env.ok(DAVE, "bounties", "unassign_child_curator", parent, child)
    assert env.total(CHARLIE) == ENDOWMENT - P.curator_deposit(CHILD_FEE)


def test_under_no_parent_curator_only_governance_unassigns_a_child_curator(env: Env) -> None:
    parent = active_bounty(env)
    child = curated_child(env, parent)
    env.ok(BOB, "bounties", "unassign_curator", parent)  # the parent's curator resigns
    env.advance(P.update_period + 1)
    assert env.call(DAVE, "bounties", "unassign_child_curator", parent, child) == "BadOrigin"
    env.ok(SMALL, "bounties", "unassign_child_curator", parent, child)
    env.ok(ROOT, "bounties", "close_child_bounty", parent, child)
    env.ok(ROOT, "bounties", "close_bounty", parent)


def test_a_resigning_child_curator_gets_its_deposit_back(env: Env) -> None:
    parent = active_bounty(env)
    child = curated_child(env, parent)
    env.ok(CHARLIE, "bounties", "unassign_child_curator", parent, child)
    assert env.free(CHARLIE) == ENDOWMENT and env.held(CHARLIE) == 0


@pytest.mark.parametrize("wrong_parent", [1, 7])
def test_a_child_is_named_with_its_own_parent(env: Env, wrong_parent: int) -> None:
    parent = active_bounty(env)
    other = active_bounty(env)
    assert other == 1
    child = add_child(env, parent)
    error = env.call(BOB, "bounties", "propose_child_curator", wrong_parent, child, CHARLIE, 1)
    assert error in ("UnknownChildBounty", "UnknownBounty")
