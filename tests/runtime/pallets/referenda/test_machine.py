"""A hypothesis state machine over random submissions, deposits, tallies, blocks, cancels,
kills, nudges and refunds: after every step the deposits held equal the deposits owed, the
counts, queues and alarms agree with the referenda, and every ended referendum's deposits can be
refunded (or were slashed): nothing is stranded."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from runtime.framework import ROOT, DispatchError
from runtime.pallets.referenda.storage import KILLED
from runtime.pallets.referenda.track_rules import fast_tracks
from tests.runtime.pallets.referenda.conftest import ALICE, BOB, CHARLIE, DAVE, UNIT, GovChain

TRACKS = (
    replace(fast_tracks()[0], max_deciding=2, decision_deposit=1_000 * UNIT, timeout=12),
    *fast_tracks()[1:],
)
PEOPLE = st.sampled_from((ALICE, BOB, CHARLIE, DAVE))


class Referenda(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.gov = GovChain(TRACKS)
        self.gov.next_block()

    def attempt(self, *call: object) -> bool:
        try:
            self.gov.call(*call)  # type: ignore[arg-type]
        except DispatchError:
            return False
        return True

    def some(self, data: st.DataObject) -> int:
        return data.draw(st.integers(0, max(0, self.gov.count() - 1)))

    @rule(who=PEOPLE, after=st.integers(0, 5))
    def submit(self, who: bytes, after: int) -> None:
        self.gov.submit(who, after=after)

    @precondition(lambda self: self.gov.count() > 0)
    @rule(who=PEOPLE, data=st.data())
    def place_decision_deposit(self, who: bytes, data: st.DataObject) -> None:
        self.attempt(who, "place_decision_deposit", self.some(data))

    @precondition(lambda self: self.gov.count() > 0)
    @rule(data=st.data(), ayes=st.integers(0, 3_000_000), nays=st.integers(0, 3_000_000))
    def vote(self, data: st.DataObject, ayes: int, nays: int) -> None:
        index = self.some(data)
        if self.gov.ref(index).ongoing:
            self.gov.set_tally(index, ayes * UNIT, nays * UNIT)

    @rule(blocks=st.integers(1, 8))
    def advance(self, blocks: int) -> None:
        self.gov.run_to(self.gov.now + blocks)

    @precondition(lambda self: self.gov.count() > 0)
    @rule(data=st.data(), how=st.sampled_from(("cancel", "kill", "nudge")))
    def end(self, data: st.DataObject, how: str) -> None:
        index = self.some(data)
        self.attempt(ALICE if how == "nudge" else ROOT, how, index)

    @precondition(lambda self: self.gov.count() > 0)
    @rule(data=st.data(), which=st.sampled_from(("submission", "decision")))
    def refund(self, data: st.DataObject, which: str) -> None:
        index = self.some(data)
        ref = self.gov.ref(index)
        paid = self.attempt(DAVE, f"refund_{which}_deposit", index)
        owed = ref.submission_deposit if which == "submission" else ref.decision_deposit
        assert paid == (not ref.ongoing and ref.state != KILLED and owed > 0)

    @invariant()
    def holds_equal_deposits_owed(self) -> None:
        assert self.gov.problems() == []


Referenda.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
TestReferenda = Referenda.TestCase
