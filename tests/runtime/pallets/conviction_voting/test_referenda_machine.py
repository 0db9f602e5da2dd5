"""A hypothesis state machine over votes, delegations, removals and unlocks on the runtime's own
referenda, while blocks pass and referenda confirm, pass, fail, time out or are cancelled.

After every step: each ongoing referendum's tally equals the recount from the voting records,
each account's "vote" freeze equals its largest class lock within its lockable balance, and every
invariant of the runtime (referenda's deposits, balances' freezes, conviction voting's records)
holds.
"""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from runtime import dispatch
from runtime.framework import ROOT, DispatchError
from runtime.pallets import balances, conviction_voting
from runtime.pallets.conviction_voting import Voting, VotingFor, recount
from runtime.pallets.conviction_voting.storage import voting_key_parts
from runtime.pallets.governance import polls
from runtime.pallets.governance.polls import Ongoing
from runtime.pallets.governance.tally import Tally
from tests.runtime.pallets.conviction_voting.test_with_referenda import problems, voting
from tests.runtime.pallets.referenda.conftest import ALICE, BOB, CHARLIE, DAVE, UNIT, GovChain

VOTERS = (BOB, CHARLIE, DAVE)
ENDOWED = 1_000_000 * UNIT
CLASSES = (0, 2)
REFERENDA = 5
PERIOD = conviction_voting.DEFAULT_CONVICTION_VOTING_PARAMS.vote_locking_period
who_st = st.sampled_from(VOTERS)
class_st = st.sampled_from(CLASSES)
ref_st = st.integers(0, REFERENDA)  # the last was never submitted
conviction_st = st.integers(0, 7)  # 7 is refused
share_st = st.integers(1, 1_050)  # thousandths of an endowment; above 1,000 is refused


def amount(share: int) -> int:
    return ENDOWED * share // 1_000


class ReferendaVotingMachine(RuleBasedStateMachine):
    @initialize()
    def submit_referenda(self) -> None:
        self.gov = GovChain()
        self.gov.next_block()
        spend = dispatch.encode_call("treasury", "spend", (UNIT, DAVE, 0))
        for i in range(REFERENDA):
            index = (
                self.gov.submit(ALICE, track=0)
                if i % 2 == 0
                else self.gov.submit(ALICE, track=2, proposal=spend)
            )
            self.gov.call(ALICE, "place_decision_deposit", index)

    def attempt(self, who: object, name: str, *args: object) -> None:
        with contextlib.suppress(DispatchError):
            voting(self.gov, who, name, *args)  # type: ignore[arg-type]

    @rule(who=who_st, ref=ref_st, share=share_st, conviction=conviction_st)
    def vote(self, who: bytes, ref: int, share: int, conviction: int) -> None:
        aye = share % 2 == 0
        side = (amount(share), 0) if aye else (0, amount(share))
        self.attempt(who, "vote", ref, *side, 0, conviction)

    @rule(who=who_st, ref=ref_st, aye=share_st, abstain=share_st)
    def vote_split(self, who: bytes, ref: int, aye: int, abstain: int) -> None:
        self.attempt(who, "vote", ref, amount(aye) // 2, amount(aye) // 4, amount(abstain) // 4, 0)

    @rule(who=who_st, cls=class_st, ref=st.integers(0, REFERENDA))
    def remove_vote(self, who: bytes, cls: int, ref: int) -> None:
        self.attempt(who, "remove_vote", cls, ref)

    @rule(caller=who_st, who=who_st, cls=class_st, ref=st.integers(0, REFERENDA))
    def remove_other_vote(self, caller: bytes, who: bytes, cls: int, ref: int) -> None:
        self.attempt(caller, "remove_other_vote", who, cls, ref)

    @rule(
        who=who_st, cls=class_st, offset=st.integers(0, 2), conviction=conviction_st, share=share_st
    )
    def delegate(self, who: bytes, cls: int, offset: int, conviction: int, share: int) -> None:
        """Delegate to another voter (offset 0: to itself, refused)."""
        to = VOTERS[(VOTERS.index(who) + offset) % len(VOTERS)]
        self.attempt(who, "delegate", cls, to, conviction, amount(share))

    @rule(who=who_st, pick=st.integers(0, 1_000), conviction=conviction_st, share=share_st)
    def delegate_to_a_voter(self, who: bytes, pick: int, conviction: int, share: int) -> None:
        """Delegate to an account that already votes in the class: its votes change at once."""
        voters = sorted(
            key for key, record in self.records().items() if record.votes and key[0] != who
        )
        if voters:
            to, cls = voters[pick % len(voters)]
            self.attempt(who, "delegate", cls, to, conviction, amount(share))

    @rule(who=who_st, cls=class_st)
    def undelegate(self, who: bytes, cls: int) -> None:
        self.attempt(who, "undelegate", cls)

    @rule(who=who_st, cls=class_st)
    def unlock(self, who: bytes, cls: int) -> None:
        self.attempt(BOB, "unlock", cls, who)

    @rule(blocks=st.integers(1, 6))
    def blocks_pass(self, blocks: int) -> None:
        self.gov.run_to(self.gov.now + blocks)

    @rule(ref=st.integers(0, REFERENDA - 1))
    def cancel(self, ref: int) -> None:
        with contextlib.suppress(DispatchError):
            self.gov.call(ROOT, "cancel", ref)

    @rule(
        jump=st.sampled_from(
            [
                conviction_voting.DEFAULT_CONVICTION_VOTING_PARAMS.vote_locking_period,
                40 * conviction_voting.DEFAULT_CONVICTION_VOTING_PARAMS.vote_locking_period,
            ]
        )
    )
    def locks_expire(self, jump: int) -> None:
        """Time far ahead (without running the hooks between: the referenda's alarms then come
        due together and are carried over in bounded numbers)."""
        self.gov.ctx.number += jump

    def records(self) -> dict[tuple[bytes, int], Voting]:
        return {
            voting_key_parts(VotingFor.key_suffix(k)): VotingFor.decode(v)
            for k, v in self.committed_items(VotingFor.prefix)
        }

    @invariant()
    def tallies_are_recounts(self) -> None:
        counted = recount(self.records())
        for ref in range(REFERENDA):
            status = polls.polls().poll_status(self.gov.state, ref)
            if isinstance(status, Ongoing):
                assert status.tally == counted.get(ref, Tally()), ref

    @invariant()
    def the_freeze_is_the_largest_lock(self) -> None:
        for who in VOTERS:
            locks = conviction_voting.class_locks(self.gov.state, who)
            largest = max(locks.values(), default=0)
            assert balances.freeze_of(self.gov.ctx, who, conviction_voting.LOCK_ID) == largest
            assert largest <= balances.lockable(self.gov.ctx, who)

    @invariant()
    def the_runtime_invariants_hold(self) -> None:
        assert problems(self.gov) == []

    def committed_items(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        committed = dict(self.gov.genesis)
        for key, value in self.gov.state.changes().items():
            if value is None:
                committed.pop(key, None)
            else:
                committed[key] = value
        return sorted((k, v) for k, v in committed.items() if k.startswith(prefix))


ReferendaVotingMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestReferendaVotingMachine = ReferendaVotingMachine.TestCase
