"""A hypothesis state machine over the bounties' calls: random proposals, approvals, curators,
milestones, awards, claims, unassignments and closes by random origins, with time passing.

After every step every pallet's invariants hold (deposits held equal deposits owed, every open
bounty's funds exist) and the total issuance is unchanged (bounties mint and burn nothing). At
the end every bounty is driven to an end state, and then nothing is left: no deposit held, no
bounty or child account with funds, so nothing was stranded on any path.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from runtime.framework import ROOT, Origin
from runtime.pallets import bounties, system
from runtime.pallets.bounties import DEFAULT_BOUNTIES_PARAMS as P
from runtime.pallets.bounties import bounty_account, child_account
from tests.runtime.pallets.bounty_helpers import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    EVE,
    SMALL,
    TREASURER,
    UNIT,
    Env,
)

PEOPLE = (ALICE, BOB, CHARLIE, DAVE, EVE)
ORIGINS: tuple[bytes | Origin, ...] = (*PEOPLE, ROOT, SMALL, TREASURER)
RIGHT = "right"
"""Stands for the actor a call needs (Root, the curator, the proposed curator): drawn half the
time, so that bounties get far along their lives; a random origin the other half."""
people = st.sampled_from(PEOPLE)
origins = st.sampled_from(ORIGINS)
actors = st.one_of(st.just(RIGHT), origins)
ids = st.integers(0, 7)
"""Taken modulo the bounties (or children) made so far."""
values = st.sampled_from([P.value_minimum, 500 * UNIT, 9_000 * UNIT, 20_000 * UNIT])
child_values = st.sampled_from([P.child_value_minimum, 50 * UNIT, 400 * UNIT, 9_000 * UNIT])
fees = st.sampled_from([0, UNIT, 40 * UNIT, 450 * UNIT])


class BountiesMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.env = Env()
        self.issuance = self.env.issuance()

    def do(self, who: Any, name: str, *args: Any) -> None:
        self.env.call(who, "bounties", name, *args)

    def bounty(self, drawn: int) -> int:
        return drawn % max(1, bounties.BountyCount.get(self.env.ctx.state))

    def child(self, drawn: int) -> int:
        return drawn % max(1, bounties.ChildBountyCount.get(self.env.ctx.state))

    def child_of(self, child: int) -> int:
        found = bounties.ChildBounties.get(self.env.ctx.state, child)
        return 0 if found is None else found.parent

    def curator(self, who: Any, bounty: int) -> Any:
        """`who`, or for RIGHT the bounty's (proposed) curator."""
        if who != RIGHT:
            return who
        found = bounties.Bounties.get(self.env.ctx.state, bounty)
        return ALICE if found is None or found.curator is None else found.curator

    def child_curator(self, who: Any, child: int) -> Any:
        """`who`, or for RIGHT the child's (proposed) curator."""
        if who != RIGHT:
            return who
        found = bounties.ChildBounties.get(self.env.ctx.state, child)
        return ALICE if found is None or found.curator is None else found.curator

    @staticmethod
    def governance(who: Any) -> Any:
        return ROOT if who == RIGHT else who

    @initialize()
    def start_with_bounties_at_every_stage(self) -> None:
        """Bounty 0 proposed, 1 funded, 2 curated by Bob with a milestone curated by Charlie."""
        for value in (500 * UNIT, 500 * UNIT, 9_000 * UNIT):
            self.env.ok(ALICE, "bounties", "propose_bounty", value, b"seed")
        self.env.ok(ROOT, "bounties", "approve_bounty", 1)
        self.env.ok(ROOT, "bounties", "approve_bounty", 2)
        self.env.ok(ROOT, "bounties", "propose_curator", 2, BOB, 40 * UNIT)
        self.env.ok(BOB, "bounties", "accept_curator", 2)
        self.env.ok(BOB, "bounties", "add_child_bounty", 2, 400 * UNIT, b"m")
        self.env.ok(BOB, "bounties", "propose_child_curator", 2, 0, CHARLIE, UNIT)
        self.env.ok(CHARLIE, "bounties", "accept_child_curator", 2, 0)

    @rule(who=people, value=values, long=st.booleans())
    def propose(self, who: bytes, value: int, long: bool) -> None:
        self.do(who, "propose_bounty", value, b"x" * (200 if long else 3))

    @rule(who=actors, bounty=ids)
    def approve(self, who: Any, bounty: int) -> None:
        self.do(self.governance(who), "approve_bounty", self.bounty(bounty))

    @rule(who=actors, bounty=ids, curator=people, fee=fees)
    def propose_curator(self, who: Any, bounty: int, curator: bytes, fee: int) -> None:
        self.do(self.governance(who), "propose_curator", self.bounty(bounty), curator, fee)

    @rule(who=actors, bounty=ids)
    def accept_curator(self, who: Any, bounty: int) -> None:
        bounty = self.bounty(bounty)
        self.do(self.curator(who, bounty), "accept_curator", bounty)

    @rule(who=actors, bounty=ids)
    def unassign_curator(self, who: Any, bounty: int) -> None:
        bounty = self.bounty(bounty)
        self.do(self.curator(who, bounty), "unassign_curator", bounty)

    @rule(who=actors, bounty=ids)
    def extend(self, who: Any, bounty: int) -> None:
        bounty = self.bounty(bounty)
        self.do(self.curator(who, bounty), "extend_bounty_expiry", bounty)

    @rule(who=actors, bounty=ids, beneficiary=people)
    def award(self, who: Any, bounty: int, beneficiary: bytes) -> None:
        bounty = self.bounty(bounty)
        self.do(self.curator(who, bounty), "award_bounty", bounty, beneficiary)

    @rule(who=people, bounty=ids)
    def claim(self, who: bytes, bounty: int) -> None:
        self.do(who, "claim_bounty", self.bounty(bounty))

    @rule(who=actors, bounty=ids)
    def close(self, who: Any, bounty: int) -> None:
        self.do(self.governance(who), "close_bounty", self.bounty(bounty))

    @rule(who=people, bounty=ids)
    def withdraw(self, who: bytes, bounty: int) -> None:
        self.do(who, "withdraw_proposal", self.bounty(bounty))

    @rule(who=actors, parent=ids, value=child_values)
    def add_child(self, who: Any, parent: int, value: int) -> None:
        parent = self.bounty(parent)
        self.do(self.curator(who, parent), "add_child_bounty", parent, value, b"m")

    @rule(who=actors, child=ids, curator=people, fee=fees)
    def propose_child_curator(self, who: Any, child: int, curator: bytes, fee: int) -> None:
        child = self.child(child)
        parent = self.child_of(child)
        by = self.curator(who, parent)
        self.do(by, "propose_child_curator", parent, child, curator, fee)

    @rule(who=actors, child=ids)
    def accept_child_curator(self, who: Any, child: int) -> None:
        child = self.child(child)
        by = self.child_curator(who, child)
        self.do(by, "accept_child_curator", self.child_of(child), child)

    @rule(who=actors, child=ids)
    def unassign_child_curator(self, who: Any, child: int) -> None:
        child = self.child(child)
        by = self.child_curator(who, child)
        self.do(by, "unassign_child_curator", self.child_of(child), child)

    @rule(who=actors, child=ids, beneficiary=people)
    def award_child(self, who: Any, child: int, beneficiary: bytes) -> None:
        child = self.child(child)
        by = self.child_curator(who, child)
        self.do(by, "award_child_bounty", self.child_of(child), child, beneficiary)

    @rule(who=people, child=ids)
    def claim_child(self, who: bytes, child: int) -> None:
        child = self.child(child)
        self.do(who, "claim_child_bounty", self.child_of(child), child)

    @rule(who=actors, child=ids)
    def close_child(self, who: Any, child: int) -> None:
        child = self.child(child)
        parent = self.child_of(child)
        self.do(self.curator(who, parent), "close_child_bounty", parent, child)

    @rule(blocks=st.sampled_from([1, P.payout_delay, P.update_period + 1, P.proposal_period]))
    def wait(self, blocks: int) -> None:
        self.env.advance(blocks)

    @invariant()
    def invariants_hold_and_nothing_is_minted_or_burned(self) -> None:
        assert self.env.problems() == []
        assert self.env.issuance() == self.issuance

    def teardown(self) -> None:
        """Drive every bounty and child to an end state; then nothing may be left anywhere."""
        env = self.env
        state = env.ctx.state
        env.advance(P.payout_delay)
        for child in range(bounties.ChildBountyCount.get(state)):
            found = bounties.ChildBounties.get(state, child)
            if found is None:
                continue
            if found.status == "pending_payout":
                env.ok(ALICE, "bounties", "claim_child_bounty", found.parent, child)
            else:
                env.ok(ROOT, "bounties", "close_child_bounty", found.parent, child)
        for bounty in range(bounties.BountyCount.get(state)):
            found = bounties.Bounties.get(state, bounty)
            if found is None:
                continue
            if found.status == "pending_payout":
                env.ok(ALICE, "bounties", "claim_bounty", bounty)
            else:
                env.ok(ROOT, "bounties", "close_bounty", bounty)
        assert env.problems() == [] and env.issuance() == self.issuance
        for who in PEOPLE:
            assert env.held(who) == 0, "a deposit was stranded"
        for bounty in range(bounties.BountyCount.get(state)):
            assert system.account(env.ctx, bounty_account(bounty)) is None
        for child in range(bounties.ChildBountyCount.get(state)):
            assert system.account(env.ctx, child_account(child)) is None


BountiesMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=40, deadline=None)
test_bounties_machine = BountiesMachine.TestCase
