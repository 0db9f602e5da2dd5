"""The gov_votes method: an account's conviction votes, delegations and locks.

    gov_votes(account, at?) → {"account", "frozen", "classes": [...]}: `frozen` is the account's
        "vote" freeze (the largest class lock); each class (track) the account votes, delegates,
        is delegated to or holds a lock in: {"class", "track", "lock", "votes": [{"poll", "aye",
        "nay", "abstain", "conviction", "status" ("ongoing", "approved", "rejected" or
        "unknown": cancelled or killed), "lockedUntil" (the block a winning vote's conviction
        lock ends at once its poll ended, else null)}], "delegating" ({"target", "conviction",
        "amount"} or null), "delegated" ({"votes", "capital"}: what others delegate to it),
        "prior" ({"until", "amount"}: what removed votes and ended delegations still lock, or
        null)}

Amounts are decimal strings, accounts addresses, as in the rest of the RPC.
"""

from __future__ import annotations

from typing import Any

from chain.service.rpc.context import RpcContext
from chain.service.rpc.params import account, param
from chain.service.rpc.protocol import Params
from runtime.framework import BlockContext
from runtime.pallets import balances, conviction_voting
from runtime.pallets.conviction_voting import AccountVote, Voting, VotingFor, class_locks
from runtime.pallets.conviction_voting.storage import locking_period
from runtime.pallets.governance import polls
from runtime.pallets.governance.polls import Completed, Ongoing
from runtime.pallets.governance.tracks import track_by_id, tracks
from runtime.primitives.address import encode_address
from runtime.primitives.hashing import ZERO_HASH
from runtime.state import StateOverlay


def _vote_json(state: StateOverlay, poll: int, vote: AccountVote, period: int) -> dict[str, Any]:
    try:
        status = polls.polls().poll_status(state, poll)
    except RuntimeError:  # no referenda in this runtime
        status = None
    locked_until = None
    if isinstance(status, Ongoing):
        name = "ongoing"
    elif isinstance(status, Completed):
        name = "approved" if status.approved else "rejected"
        lock = vote.locked_if(status.approved)
        if lock is not None:
            locked_until = status.end + lock[0] * max(period, locking_period(state, status.end))
    else:
        name = "unknown"
    return {
        "poll": poll,
        "aye": str(vote.aye),
        "nay": str(vote.nay),
        "abstain": str(vote.abstain),
        "conviction": vote.conviction,
        "status": name,
        "lockedUntil": locked_until,
    }


def _class_json(
    state: StateOverlay, cls: int, voting: Voting, lock: int, period: int
) -> dict[str, Any]:
    track = track_by_id(state, cls)
    d = voting.delegating
    prior = voting.prior
    return {
        "class": cls,
        "track": None if track is None else track.name,
        "lock": str(lock),
        "votes": [_vote_json(state, p, v, period) for p, v in voting.votes],
        "delegating": None
        if d is None
        else {
            "target": encode_address(d.target),
            "conviction": d.conviction,
            "amount": str(d.balance),
        },
        "delegated": {
            "votes": str(voting.delegations.votes),
            "capital": str(voting.delegations.capital),
        },
        "prior": None if prior.amount == 0 else {"until": prior.until, "amount": str(prior.amount)},
    }


def votes_json(state: StateOverlay, who: bytes) -> dict[str, Any]:
    """`who`'s votes, delegations and locks in every class, as gov_votes answers."""
    locks = class_locks(state, who)
    classes = sorted({t.id for t in tracks(state)} | set(locks))
    period = conviction_voting.Params.get(state).vote_locking_period
    found = []
    for cls in classes:
        voting = VotingFor.get(state, (who, cls))
        if voting is None and cls not in locks:
            continue
        found.append(_class_json(state, cls, voting or Voting(), locks.get(cls, 0), period))
    reader = BlockContext(state, 0, ZERO_HASH, 0, bytes(32), ZERO_HASH)
    return {
        "account": encode_address(who),
        "frozen": str(balances.freeze_of(reader, who, conviction_voting.LOCK_ID)),
        "classes": found,
    }


def add_vote_methods(ctx: RpcContext) -> None:
    """Register gov_votes."""

    def gov_votes(params: Params) -> Any:
        who = param(params, 0, "account", account)
        return votes_json(StateOverlay(ctx.reader_at(ctx.at_hash(params, 1))), who)

    ctx.add("gov_votes", gov_votes, ("account", "at"))


__all__ = ["add_vote_methods", "votes_json"]
