"""A hypothesis state machine over votes, delegations, removals, unlocks, polls ending and time
passing, played by accounts that try every order of those moves.

After every step it checks that:
- every ongoing poll's tally equals a count made directly from the accounts: each one's own
  vote, or else what it delegates to an account that votes itself (never both, never through a
  chain of delegations);
- each account's "vote" freeze equals its largest class lock, and no lock exceeds its lockable
  balance;
- no lock a winning vote or an ended delegation earned has been released before it expired;
- every invariant of the runtime holds.
"""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from runtime.pallets import balances
from runtime.pallets.conviction_voting import (
    AccountVote,
    Voting,
    VotingFor,
    conviction_votes,
    lock_periods,
)
from runtime.pallets.conviction_voting.storage import voting_key_parts
from runtime.pallets.governance.polls import Completed, Ongoing
from runtime.pallets.governance.tally import Tally
from runtime.state import StateOverlay
from tests.runtime.conftest import prefix_iterator
from tests.runtime.pallets.voting_helpers import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    PERIOD,
    UNIT,
    Bench,
    BenchPolls,
    Refused,
    bench_polls,
)

ACCOUNTS = (ALICE, BOB, CHARLIE, DAVE)
POLLS = 10
TRACKS = (0, 1)
who_st = st.sampled_from(ACCOUNTS)
poll_st = st.integers(0, POLLS)  # the last is never opened: unknown
class_st = st.sampled_from(TRACKS)
pick_st = st.integers(0, 1_000)
conviction_st = st.integers(0, 7)  # 7 is out of range: refused
share_st = st.integers(0, 1_100)  # thousandths of the endowment; above 1,000 is too much
ENDOWED = 1_000 * UNIT


def amount(share: int) -> int:
    return ENDOWED * share // 1_000


class VotingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.bench = Bench()
        self.polls = 0
        self.owed: dict[bytes, list[tuple[int, int, int, int | None]]] = {w: [] for w in ACCOUNTS}
        """Locks each account earned: (until block, amount, class, the poll of a winning vote or
        None for an ended delegation)."""

    @initialize()
    def open_polls(self) -> None:
        for poll in range(4):
            self.bench.open_poll(poll, track=TRACKS[poll % 2])
        self.polls = 4

    def attempt(self, who: bytes | None, name: str, *args: object) -> bool:
        try:
            self.bench.call(who, name, *args)
        except Refused:
            return False
        return True

    # Moves

    def a_poll(self, pick: int) -> int:
        """One of the polls opened so far, or (rarely) one never opened."""
        return pick % (self.polls + 1)

    @rule(who=who_st, pick=pick_st, share=share_st, conviction=conviction_st, aye=st.booleans())
    def vote_standard(self, who: bytes, pick: int, share: int, conviction: int, aye: bool) -> None:
        side = (amount(share), 0) if aye else (0, amount(share))
        self.attempt(who, "vote", self.a_poll(pick), *side, 0, conviction)

    @rule(who=who_st, pick=pick_st, aye=share_st, nay=share_st, abstain=share_st)
    def vote_split(self, who: bytes, pick: int, aye: int, nay: int, abstain: int) -> None:
        parts = (amount(aye) // 2, amount(nay) // 2, amount(abstain) // 2)
        self.attempt(who, "vote", self.a_poll(pick), *parts, 0)

    def recorded(self, pick: int, delegating: bool) -> tuple[bytes, int, Voting] | None:
        """One of the records that delegate (or that hold votes), chosen by `pick`."""
        found = sorted(
            (who, cls, voting)
            for (who, cls), voting in self.records().items()
            if (voting.delegating is not None) == delegating and (delegating or voting.votes)
        )
        return found[pick % len(found)] if found else None

    @rule(pick=pick_st, other=st.one_of(st.none(), st.none(), who_st), then_unlock=st.booleans())
    def remove_a_vote(self, pick: int, other: bytes | None, then_unlock: bool) -> None:
        """The voter (or `other`) removes one of the votes recorded, and perhaps tries to unlock
        at once."""
        found = self.recorded(pick, delegating=False)
        if found is None:
            return
        who, cls, voting = found
        poll = voting.votes[pick % len(voting.votes)][0]
        if other is None:
            self.attempt(who, "remove_vote", cls, poll)
        else:
            self.attempt(other, "remove_other_vote", who, cls, poll)
        if then_unlock:
            self.attempt(who, "unlock", cls, who)

    @rule(who=who_st, cls=class_st, poll=poll_st)
    def remove_any_vote(self, who: bytes, cls: int, poll: int) -> None:
        self.attempt(who, "remove_vote", cls, poll)

    @rule(who=who_st, cls=class_st, to=who_st, conviction=conviction_st, share=share_st)
    def delegate(self, who: bytes, cls: int, to: bytes, conviction: int, share: int) -> None:
        self.attempt(who, "delegate", cls, to, conviction, amount(share))

    @rule(who=who_st, pick=pick_st, conviction=conviction_st, share=share_st)
    def delegate_to_a_voter(self, who: bytes, pick: int, conviction: int, share: int) -> None:
        """Delegate to an account that already votes in the class: its votes change at once."""
        voters = sorted(key for key, record in self.records().items() if record.votes)
        if voters:
            to, cls = voters[pick % len(voters)]
            self.attempt(who, "delegate", cls, to, conviction, amount(share))

    @rule(
        pick=pick_st, who=who_st, cls=class_st, any_account=st.integers(0, 3).map(lambda n: n == 0)
    )
    def undelegate(self, pick: int, who: bytes, cls: int, any_account: bool) -> None:
        found = None if any_account else self.recorded(pick, delegating=True)
        if found is not None:
            who, cls, _ = found
        before = self.record(who, cls)
        if self.attempt(who, "undelegate", cls):
            assert before is not None and before.delegating is not None
            d = before.delegating
            until = self.bench.number + lock_periods(d.conviction) * PERIOD
            self.owed[who].append((until, d.balance, cls, None))
            self.attempt(who, "unlock", cls, who)

    @rule(caller=who_st, who=who_st, cls=class_st)
    def unlock(self, caller: bytes, who: bytes, cls: int) -> None:
        self.attempt(caller, "unlock", cls, who)

    @rule(who=who_st)
    def unlock_every_class(self, who: bytes) -> None:
        for cls in TRACKS:
            self.attempt(who, "unlock", cls, who)

    @rule()
    def open_poll(self) -> None:
        if self.polls < POLLS:
            self.bench.open_poll(self.polls, track=TRACKS[self.polls % 2])
            self.polls += 1

    @rule(pick=pick_st, approved=st.booleans())
    def end_poll(self, pick: int, approved: bool) -> None:
        poll = self.a_poll(pick)
        if not isinstance(self.status(poll), Ongoing):
            return
        self.bench.end_poll(poll, approved)
        for (who, cls), voting in self.records().items():
            vote = voting.vote_on(poll)
            lock = None if vote is None else vote.locked_if(approved)
            if lock is not None:
                self.owed[who].append((self.bench.number + lock[0] * PERIOD, lock[1], cls, poll))

    @rule(who=who_st, pick=pick_st, share=share_st, conviction=st.integers(1, 6), aye=st.booleans())
    def win_then_try_to_escape(
        self, who: bytes, pick: int, share: int, conviction: int, aye: bool
    ) -> None:
        """The adversary's line: vote with conviction, win, remove the vote, unlock and try to
        move the funds at once."""
        poll = self.a_poll(pick)
        self.vote_standard(who, pick, share, conviction, aye)
        self.end_poll(pick, approved=aye)
        voting = self.record(who, poll % 2)
        if voting is not None and voting.vote_on(poll) is not None:
            self.attempt(who, "remove_vote", poll % 2, poll)
            self.attempt(who, "unlock", poll % 2, who)
            with contextlib.suppress(Refused):
                self.bench.transfer(who, ALICE if who != ALICE else BOB, amount(share) // 2)

    @rule(pick=pick_st)
    def cancel_poll(self, pick: int) -> None:
        poll = self.a_poll(pick)
        # Only an ongoing poll is cancelled (referenda cancels and kills ongoing referenda only):
        # cancelling one that ended would release the locks its winners earned.
        if isinstance(self.status(poll), Ongoing):
            self.bench.cancel_poll(poll)

    @rule(blocks=st.sampled_from([1, PERIOD // 2, PERIOD, 4 * PERIOD, 40 * PERIOD]))
    def advance(self, blocks: int) -> None:
        self.bench.advance(blocks)

    @rule(who=who_st, to=who_st, share=share_st)
    def transfer(self, who: bytes, to: bytes, share: int) -> None:
        with contextlib.suppress(Refused):
            self.bench.transfer(who, to, amount(share) // 4)

    # Reading

    def state(self) -> StateOverlay:
        return StateOverlay(self.bench.state.get)

    def status(self, poll: int) -> Ongoing | Completed | None:
        return BenchPolls().poll_status(self.state(), poll)

    def record(self, who: bytes, cls: int) -> Voting | None:
        return VotingFor.get(self.state(), (who, cls))

    def records(self) -> dict[tuple[bytes, int], Voting]:
        iterate = prefix_iterator(self.bench.state)
        return {
            voting_key_parts(VotingFor.key_suffix(k)): VotingFor.decode(v)
            for k, v in iterate(VotingFor.prefix)
        }

    # Checks

    @invariant()
    def tallies_count_every_account_once(self) -> None:
        records = self.records()
        for poll in range(POLLS):
            status = self.status(poll)
            if not isinstance(status, Ongoing):
                continue
            cls = status.track_id
            ayes = nays = support = 0
            for who in ACCOUNTS:
                voting = records.get((who, cls), Voting())
                own = voting.vote_on(poll)
                if own is not None:
                    assert voting.delegating is None
                    counted = direct_count(own)
                    ayes, nays, support = ayes + counted[0], nays + counted[1], support + counted[2]
                    continue
                d = voting.delegating
                if d is None:
                    continue
                delegate = records.get((d.target, cls), Voting())
                theirs = delegate.vote_on(poll)
                side = None if theirs is None else theirs.standard_aye()
                if side is None or delegate.delegating is not None:
                    continue
                votes = conviction_votes(d.conviction, d.balance)
                if side:
                    ayes, support = ayes + votes, support + d.balance
                else:
                    nays += votes
            assert status.tally == Tally(ayes, nays, support), (poll, status.tally)

    @invariant()
    def the_freeze_is_the_largest_lock_within_the_lockable_balance(self) -> None:
        for who in ACCOUNTS:
            locks = self.bench.locks(who)
            ctx = self.bench.read()
            lockable = balances.lockable(ctx, who)
            assert self.bench.freeze(who) == max(locks.values(), default=0)
            assert all(a <= lockable for a in locks.values())

    @invariant()
    def no_earned_lock_is_released_early(self) -> None:
        """The freeze covers every unexpired lock earned; and each is remembered in its class
        (as the vote, while recorded, else as the prior lock), so that no later unlock can
        release it whatever else the account votes."""
        now = self.bench.number
        for who in ACCOUNTS:
            due = [(u, a, cls, poll) for u, a, cls, poll in self.owed[who] if u > now]
            assert self.bench.freeze(who) >= max((a for _, a, _, _ in due), default=0)
            for until, owed, cls, poll in due:
                voting = self.record(who, cls) or Voting()
                if poll is not None and voting.vote_on(poll) is not None:
                    continue
                assert voting.prior.until >= until and voting.prior.amount >= owed, (poll, until)

    @invariant()
    def the_runtime_invariants_hold(self) -> None:
        assert self.bench.problems() == []


def direct_count(vote: AccountVote) -> tuple[int, int, int]:
    """(ayes, nays, support) of a vote, from the rules as the issue states them."""
    side = vote.standard_aye()
    if side is True:
        return conviction_votes(vote.conviction, vote.aye), 0, vote.aye
    if side is False:
        return 0, conviction_votes(vote.conviction, vote.nay), 0
    return vote.aye // 10, vote.nay // 10, vote.aye + vote.abstain


VotingMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_the_voting_machine() -> None:
    with bench_polls():
        VotingMachine.TestCase().runTest()
