"""Conviction locks: each class's lock of an account, and the one "vote" freeze they make.

A class needs the largest of its votes recorded, its prior lock while unexpired and its
delegation (`Voting.locked_balance`). Voting and delegating only raise a class's lock
(`extend_lock`); removing votes and ending delegations lower nothing until `unlock` recomputes
it (`update_lock`), as Substrate's. The account's "vote" freeze is the largest of its classes'
locks, so the same funds may vote in every class at once, as OpenGov allows.
"""

from __future__ import annotations

from runtime.framework import BlockContext
from runtime.pallets import balances
from runtime.pallets.conviction_voting.constants import LOCK_ID
from runtime.pallets.conviction_voting.storage import ClassLocksFor, VotingFor
from runtime.state import StateOverlay


def class_locks(state: StateOverlay, who: bytes) -> dict[int, int]:
    """`who`'s lock in each class that has one."""
    return dict(ClassLocksFor.get(state, who) or ())


def _store(ctx: BlockContext, who: bytes, locks: dict[int, int]) -> None:
    kept = tuple(sorted((c, a) for c, a in locks.items() if a > 0))
    if kept:
        ClassLocksFor.insert(ctx.state, who, kept)
    else:
        ClassLocksFor.remove(ctx.state, who)
    needed = max((a for _, a in kept), default=0)
    # Only a slash takes lockable balance below a freeze; the freeze then covers what is left.
    balances.set_freeze(ctx, who, LOCK_ID, min(needed, balances.lockable(ctx, who)))


def extend_lock(ctx: BlockContext, who: bytes, cls: int, amount: int) -> None:
    """Raise `who`'s lock in class `cls` to at least `amount` (never lowers it), and the freeze
    with it: a freeze a slash or a reap cut below the class lock is raised again to cover
    `amount` (which the caller checked is lockable), so funds that came in since cannot vote
    here and leave."""
    locks = class_locks(ctx.state, who)
    if locks.get(cls, 0) >= amount and balances.freeze_of(ctx, who, LOCK_ID) >= amount:
        return
    locks[cls] = max(locks.get(cls, 0), amount)
    _store(ctx, who, locks)


def update_lock(ctx: BlockContext, who: bytes, cls: int) -> int:
    """Recompute `who`'s lock in class `cls` from its voting record (expired prior locks are
    dropped) and the freeze from every class; returns the class's lock."""
    voting = VotingFor.get(ctx.state, (who, cls))
    needed = 0
    if voting is not None:
        rejigged = voting._replace(prior=voting.prior.rejig(ctx.number))
        if rejigged != voting:
            if rejigged.is_empty():
                VotingFor.remove(ctx.state, (who, cls))
            else:
                VotingFor.insert(ctx.state, (who, cls), rejigged)
        needed = rejigged.locked_balance()
    locks = class_locks(ctx.state, who)
    locks[cls] = needed
    _store(ctx, who, locks)
    return needed
