"""Votes: casting one on an ongoing poll, and removing one (after Substrate's `try_vote` and
`try_remove_vote`).

The tally of an ongoing poll is always the sum, over the accounts with a vote on it, of the vote
(`records.tally_add`) and, for a standard vote, what is delegated to the voter in the poll's
class: every change of a vote or of a delegation changes the tallies of the polls it touches, in
work bounded by `max_votes`.
"""

from __future__ import annotations

from runtime.framework import BlockContext
from runtime.pallets import balances
from runtime.pallets.conviction_voting.constants import MAX_CONVICTION
from runtime.pallets.conviction_voting.errors import (
    AlreadyDelegating,
    BadConviction,
    BadVote,
    InsufficientFunds,
    MaxVotesReached,
    NoPermission,
    NoPermissionYet,
    NotOngoing,
    NotVoter,
    UnknownPoll,
    WrongClass,
)
from runtime.pallets.conviction_voting.locks import extend_lock
from runtime.pallets.conviction_voting.records import (
    AccountVote,
    Voting,
    tally_add,
    tally_delegations,
    tally_remove,
)
from runtime.pallets.conviction_voting.storage import Params, VotingFor, locking_period
from runtime.pallets.governance import polls
from runtime.pallets.governance.polls import Completed, Ongoing
from runtime.primitives.amount import format_amount
from runtime.state import StateOverlay


def poll_status(state: StateOverlay, poll: int) -> Ongoing | Completed | None:
    """The poll's status from the runtime's polls (None: unknown, cancelled or killed)."""
    return polls.polls().poll_status(state, poll)


def check_vote(vote: AccountVote) -> None:
    """BadConviction or BadVote unless `vote` is a well-formed vote."""
    if not 0 <= vote.conviction <= MAX_CONVICTION:
        raise BadConviction(f"conviction {vote.conviction} is not 0 to {MAX_CONVICTION}")
    if vote.balance == 0:
        raise BadVote("a vote needs a positive aye, nay or abstain amount")
    if vote.standard_aye() is None and vote.conviction != 0:
        raise BadVote("a split or abstain vote has conviction 0 (it counts 0.1x and locks nothing)")


def cast_vote(ctx: BlockContext, who: bytes, poll: int, vote: AccountVote) -> int:
    """Record `who`'s vote on an ongoing poll (replacing its vote there), change the poll's
    tally and extend the class's lock; returns the class."""
    check_vote(vote)
    state = ctx.state
    status = poll_status(state, poll)
    if status is None:
        raise UnknownPoll(f"there is no poll {poll}")
    if not isinstance(status, Ongoing):
        raise NotOngoing(f"poll {poll} has ended")
    lockable = balances.lockable(ctx, who)
    if vote.balance > lockable:
        raise InsufficientFunds(
            f"the vote uses {format_amount(vote.balance)}, the account can lock "
            f"{format_amount(lockable)} (free and staked)"
        )
    cls = status.track_id
    voting = VotingFor.get(state, (who, cls)) or Voting()
    if voting.delegating is not None:
        raise AlreadyDelegating()
    tally = status.tally
    old = voting.vote_on(poll)
    if old is None:
        limit = Params.get(state).max_votes
        if len(voting.votes) >= limit:
            raise MaxVotesReached(f"at most {limit} votes per class")
    else:
        tally = tally_remove(tally, old)
        side = old.standard_aye()
        if side is not None:
            tally = tally_delegations(tally, side, voting.delegations, add=False)
    tally = tally_add(tally, vote)
    side = vote.standard_aye()
    if side is not None:
        tally = tally_delegations(tally, side, voting.delegations, add=True)
    polls.polls().set_tally(ctx, poll, tally)
    VotingFor.insert(state, (who, cls), voting.with_vote(poll, vote))
    extend_lock(ctx, who, cls, vote.balance)
    return cls


def remove_vote(ctx: BlockContext, who: bytes, cls: int, poll: int, *, by_owner: bool) -> int:
    """Remove `who`'s vote on `poll` in class `cls`; returns the block its conviction lock lasts
    until (0: none).

    On an ongoing poll the vote leaves the tally and locks nothing more (only its owner may do
    this). On an ended poll a standard vote on the winning side keeps its conviction lock until
    its poll's end plus 2^(c-1) lock periods, as the class's prior lock; before then only its
    owner may remove it. On an unknown (cancelled, killed) poll nothing stays locked."""
    state = ctx.state
    status = poll_status(state, poll)
    if isinstance(status, Ongoing) and status.track_id != cls:
        raise WrongClass(f"poll {poll} is on track {status.track_id}")
    voting = VotingFor.get(state, (who, cls))
    vote = None if voting is None else voting.vote_on(poll)
    if voting is None or vote is None:
        raise NotVoter(f"no vote on poll {poll} in class {cls}")
    locked_until = 0
    if isinstance(status, Ongoing):
        if not by_owner:
            raise NoPermission()
        tally = tally_remove(status.tally, vote)
        side = vote.standard_aye()
        if side is not None:
            tally = tally_delegations(tally, side, voting.delegations, add=False)
        polls.polls().set_tally(ctx, poll, tally)
    elif isinstance(status, Completed):
        lock = vote.locked_if(status.approved)
        if lock is not None:
            periods, amount = lock
            until = status.end + periods * locking_period(state, status.end)
            if ctx.number < until:
                if not by_owner:
                    raise NoPermissionYet(f"locked until block {until}")
                voting = voting._replace(prior=voting.prior.accumulate(until, amount))
                locked_until = until
    updated = voting.with_vote(poll, None)
    if updated.is_empty():
        VotingFor.remove(state, (who, cls))
    else:
        VotingFor.insert(state, (who, cls), updated)
    return locked_until
