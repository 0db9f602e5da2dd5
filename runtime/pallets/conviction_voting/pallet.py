"""The conviction voting pallet: its calls, parameters and invariants."""

from __future__ import annotations

from typing import Any

from runtime import fields
from runtime.framework import BlockContext, Origin, Pallet, call, ensure_signed
from runtime.pallets.conviction_voting import errors
from runtime.pallets.conviction_voting.constants import (
    DELEGATE_WEIGHT,
    NAME,
    SET_PARAMS_WEIGHT,
    UNLOCK_WEIGHT,
    VOTE_WEIGHT,
)
from runtime.pallets.conviction_voting.delegation import delegate, undelegate
from runtime.pallets.conviction_voting.events import (
    Delegated,
    ParamsChanged,
    Undelegated,
    Unlocked,
    Voted,
    VoteRemoved,
)
from runtime.pallets.conviction_voting.invariants import broken_invariants
from runtime.pallets.conviction_voting.locks import update_lock
from runtime.pallets.conviction_voting.params import ConvictionVotingParams
from runtime.pallets.conviction_voting.records import AccountVote
from runtime.pallets.conviction_voting.storage import LockingPeriodFloor, Params
from runtime.pallets.conviction_voting.voting import cast_vote, remove_vote
from runtime.state import PrefixIterator, StateReader

_CLASS = ("class", fields.U8)
_POLL = ("poll", fields.U32)


def _vote_locks(_ctx: BlockContext, args: tuple[Any, ...]) -> int:
    """A vote's outflow: the most its lock takes from what the voter may spend (the pool must
    not count on funds the vote is about to freeze)."""
    return int(args[1]) + int(args[2]) + int(args[3])


def _delegation_locks(_ctx: BlockContext, args: tuple[Any, ...]) -> int:
    """A delegation's outflow: the amount it locks."""
    return int(args[3])


class ConvictionVoting(Pallet):
    """Votes with conviction on referenda, delegation per track, and the locks they leave."""

    NAME = NAME
    PARAMS = ConvictionVotingParams
    EVENTS = (Voted, VoteRemoved, Delegated, Undelegated, Unlocked, ParamsChanged)
    ERRORS = (
        errors.UnknownPoll,
        errors.NotOngoing,
        errors.BadConviction,
        errors.BadVote,
        errors.InsufficientFunds,
        errors.AlreadyDelegating,
        errors.AlreadyVoting,
        errors.NotDelegating,
        errors.NotVoter,
        errors.WrongClass,
        errors.UnknownClass,
        errors.SelfDelegation,
        errors.MaxVotesReached,
        errors.NoPermission,
        errors.NoPermissionYet,
        errors.BadParams,
    )

    # Calls

    @call(
        args=(
            _POLL,
            ("aye", fields.BALANCE),
            ("nay", fields.BALANCE),
            ("abstain", fields.BALANCE),
            ("conviction", fields.U8),
        ),
        weight=VOTE_WEIGHT,
        outflow=_vote_locks,
    )
    def vote(
        self,
        ctx: BlockContext,
        origin: Origin,
        poll: int,
        aye: int,
        nay: int,
        abstain: int,
        conviction: int,
    ) -> None:
        """Vote on an ongoing poll: aye or nay with conviction 0 (0.1x, no lock) to 6 (6x,
        locked 32 periods if it wins), or split or abstain with conviction 0; replaces the
        signer's vote on that poll. The amount (aye + nay + abstain) is locked in the poll's
        class, and must be at most the signer's free plus staked balance."""
        who = ensure_signed(origin)
        cast_vote(ctx, who, poll, AccountVote(aye, nay, abstain, conviction))
        ctx.deposit_event(Voted, who, poll, aye, nay, abstain, conviction)

    @call(args=(_CLASS, _POLL), weight=VOTE_WEIGHT, outflow=0)
    def remove_vote(self, ctx: BlockContext, origin: Origin, cls: int, poll: int) -> None:
        """Remove the signer's vote on a poll of class `class`: from the tally if the poll is
        ongoing; a winning vote on an ended poll keeps its conviction lock until it expires."""
        who = ensure_signed(origin)
        until = remove_vote(ctx, who, cls, poll, by_owner=True)
        ctx.deposit_event(VoteRemoved, who, poll, until)

    @call(args=(("target", fields.ACCOUNT), _CLASS, _POLL), weight=VOTE_WEIGHT, outflow=0)
    def remove_other_vote(
        self, ctx: BlockContext, origin: Origin, target: bytes, cls: int, poll: int
    ) -> None:
        """Remove another account's vote on a poll that has ended (or was cancelled), once no
        conviction lock is due on it, so that its lock can be released."""
        ensure_signed(origin)
        remove_vote(ctx, target, cls, poll, by_owner=False)
        ctx.deposit_event(VoteRemoved, target, poll, 0)

    @call(
        args=(
            _CLASS,
            ("to", fields.ACCOUNT),
            ("conviction", fields.U8),
            ("amount", fields.BALANCE),
        ),
        weight=DELEGATE_WEIGHT,
        outflow=_delegation_locks,
    )
    def delegate(
        self,
        ctx: BlockContext,
        origin: Origin,
        cls: int,
        to: bytes,
        conviction: int,
        amount: int,
    ) -> None:
        """Delegate `amount` of the signer's votes in class `class` to `to` at `conviction`: `to`
        votes with them on the class's polls. The signer must have no votes in the class."""
        who = ensure_signed(origin)
        delegate(ctx, who, cls, to, conviction, amount)
        ctx.deposit_event(Delegated, who, to, cls, conviction, amount)

    @call(args=(_CLASS,), weight=DELEGATE_WEIGHT, outflow=0)
    def undelegate(self, ctx: BlockContext, origin: Origin, cls: int) -> None:
        """End the signer's delegation in class `class`; its conviction lock stays for 2^(c-1)
        lock periods from now."""
        who = ensure_signed(origin)
        until = undelegate(ctx, who, cls)
        ctx.deposit_event(Undelegated, who, cls, until)

    @call(args=(_CLASS, ("target", fields.ACCOUNT)), weight=UNLOCK_WEIGHT, outflow=0)
    def unlock(self, ctx: BlockContext, origin: Origin, cls: int, target: bytes) -> None:
        """Recompute `target`'s lock in class `class` from its votes, delegation and unexpired
        prior lock, releasing what is no longer locked (anyone may call it)."""
        ensure_signed(origin)
        locked = update_lock(ctx, target, cls)
        ctx.deposit_event(Unlocked, target, cls, locked)

    # Calls: parameters

    @call(args=ConvictionVotingParams.call_args(), weight=SET_PARAMS_WEIGHT, outflow=0)
    def set_params(self, ctx: BlockContext, origin: Origin, *values: Any) -> None:
        """Change the conviction voting parameters (Root only). A lock already running keeps the
        block it ends at, and a lower vote_locking_period applies only to polls that end from the
        next block on (`storage.locking_period`); a lower max_votes refuses new votes until
        enough are removed."""
        before = Params.get(ctx.state).vote_locking_period
        self.change_params(
            ctx, origin, ConvictionVotingParams(*values), Params, errors.BadParams, ParamsChanged
        )
        if Params.get(ctx.state).vote_locking_period < before:
            floor, _ = LockingPeriodFloor.get(ctx.state)
            LockingPeriodFloor.put(ctx.state, (max(floor, before), ctx.number))

    # Invariants

    def check_invariants(self, read: StateReader, iterate: PrefixIterator) -> list[str]:
        """Locks, the freeze, delegations and the tallies of ongoing polls (`invariants`)."""
        return broken_invariants(read, iterate)
