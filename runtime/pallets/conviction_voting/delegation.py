"""Delegation: an account lends its votes in one class to another account, which votes with them
(after Substrate's `try_delegate` and `try_undelegate`).

No vote counts twice: a delegator cannot vote in the class it delegates, an account with votes in
a class cannot delegate it, and delegation is not transitive (what is delegated to a delegator
counts nowhere until it votes itself, as Substrate's). What is delegated to an account is added
to, or taken from, the tallies of its standard votes on ongoing polls of the class, at most
`max_votes` of them. Ending a delegation keeps its conviction lock for 2^(c-1) lock periods from
then on, so delegating and undelegating cannot cut a lock short.
"""

from __future__ import annotations

from runtime.framework import BlockContext
from runtime.pallets import balances
from runtime.pallets.conviction_voting.constants import MAX_CONVICTION
from runtime.pallets.conviction_voting.errors import (
    AlreadyDelegating,
    AlreadyVoting,
    BadConviction,
    BadVote,
    InsufficientFunds,
    NotDelegating,
    SelfDelegation,
    UnknownClass,
)
from runtime.pallets.conviction_voting.locks import extend_lock
from runtime.pallets.conviction_voting.records import (
    Delegating,
    Delegations,
    Voting,
    delegated,
    lock_periods,
    tally_delegations,
)
from runtime.pallets.conviction_voting.storage import VotingFor, undelegation_period
from runtime.pallets.governance import polls
from runtime.pallets.governance.polls import Ongoing
from runtime.pallets.governance.tracks import track_by_id
from runtime.primitives.amount import format_amount


def _change_upstream(
    ctx: BlockContext, target: bytes, cls: int, amount: Delegations, add: bool
) -> None:
    """Add (or take) `amount` to what is delegated to `target` in `cls`, and to the tallies of
    its standard votes on ongoing polls; a delegating target only records it."""
    state = ctx.state
    voting = VotingFor.get(state, (target, cls)) or Voting()
    changed = voting.delegations.plus(amount) if add else voting.delegations.minus(amount)
    if voting.delegating is None:
        runtime_polls = polls.polls()
        for poll, vote in voting.votes:
            side = vote.standard_aye()
            if side is None:
                continue
            status = runtime_polls.poll_status(state, poll)
            if isinstance(status, Ongoing):
                tally = tally_delegations(status.tally, side, amount, add=add)
                runtime_polls.set_tally(ctx, poll, tally)
    updated = voting._replace(delegations=changed)
    if updated.is_empty():
        VotingFor.remove(state, (target, cls))
    else:
        VotingFor.insert(state, (target, cls), updated)


def delegate(
    ctx: BlockContext, who: bytes, cls: int, target: bytes, conviction: int, balance: int
) -> None:
    """Delegate `balance` of `who`'s votes in class `cls` to `target` at `conviction`, and lock
    it in the class."""
    state = ctx.state
    if track_by_id(state, cls) is None:
        raise UnknownClass(f"there is no track {cls}")
    if not 0 <= conviction <= MAX_CONVICTION:
        raise BadConviction(f"conviction {conviction} is not 0 to {MAX_CONVICTION}")
    if who == target:
        raise SelfDelegation()
    if balance == 0:
        raise BadVote("a delegation needs a positive amount")
    lockable = balances.lockable(ctx, who)
    if balance > lockable:
        raise InsufficientFunds(
            f"the delegation is {format_amount(balance)}, the account can lock "
            f"{format_amount(lockable)} (free and staked)"
        )
    voting = VotingFor.get(state, (who, cls)) or Voting()
    if voting.delegating is not None:
        raise AlreadyDelegating()
    if voting.votes:
        raise AlreadyVoting(f"{len(voting.votes)} votes in class {cls}: remove them first")
    _change_upstream(ctx, target, cls, delegated(conviction, balance), add=True)
    delegating = Delegating(target, conviction, balance)
    VotingFor.insert(state, (who, cls), voting._replace(delegating=delegating))
    extend_lock(ctx, who, cls, balance)


def undelegate(ctx: BlockContext, who: bytes, cls: int) -> int:
    """End `who`'s delegation in class `cls`; its conviction lock stays as the class's prior lock
    for 2^(c-1) lock periods from now. Returns the block it lasts until (0: none)."""
    state = ctx.state
    voting = VotingFor.get(state, (who, cls))
    if voting is None or voting.delegating is None:
        raise NotDelegating()
    d = voting.delegating
    _change_upstream(ctx, d.target, cls, delegated(d.conviction, d.balance), add=False)
    periods = lock_periods(d.conviction)
    until = 0
    prior = voting.prior
    if periods:
        until = ctx.number + periods * undelegation_period(state, ctx.number)
        prior = prior.accumulate(until, d.balance)
    updated = voting._replace(delegating=None, prior=prior)
    if updated.is_empty():
        VotingFor.remove(state, (who, cls))
    else:
        VotingFor.insert(state, (who, cls), updated)
    return until
