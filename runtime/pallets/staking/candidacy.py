"""Validator candidacy, nominations and session keys: who stakes in which role."""

from __future__ import annotations

from runtime.framework import BlockContext
from runtime.pallets.staking.events import Chilled
from runtime.pallets.staking.storage import (
    Active,
    Candidates,
    CommissionRaise,
    KeyOwner,
    Nominations,
    Nominators,
    PendingCommission,
    RetiredKeys,
    SessionKeys,
    Validators,
)
from runtime.state import StateOverlay

# Reading (the interface other pallets, the node and RPC use)


def stash_of(state: StateOverlay, session_key: bytes) -> bytes | None:
    """The stash behind a session key: the stash it is, or was, the session key of."""
    owner = KeyOwner.get(state, session_key)
    return owner if owner is not None else RetiredKeys.get(state, session_key)


def active_stash(state: StateOverlay, session_key: bytes) -> bytes | None:
    """The stash whose session key this is among this era's validators, if any."""
    for stash, key in Active.get(state):
        if key == session_key:
            return stash
    return None


# Bookkeeping


def insert_sorted(items: tuple[bytes, ...], item: bytes) -> tuple[bytes, ...]:
    """`items` with `item` added, kept sorted and without duplicates."""
    return items if item in items else tuple(sorted((*items, item)))


def is_candidate(state: StateOverlay, stash: bytes) -> bool:
    """Whether the stash has declared itself a validator candidate."""
    return Validators.get(state, stash) is not None


def is_nominator(state: StateOverlay, stash: bytes) -> bool:
    """Whether the stash has nominations."""
    return Nominations.get(state, stash) is not None


def stop_validating(ctx: BlockContext, stash: bytes) -> bool:
    """End a stash's candidacy; False if it was no candidate."""
    if Validators.get(ctx.state, stash) is None:
        return False
    Validators.remove(ctx.state, stash)
    PendingCommission.remove(ctx.state, stash)
    Candidates.put(ctx.state, tuple(s for s in Candidates.get(ctx.state) if s != stash))
    return True


# Commission


def set_commission(
    state: StateOverlay, stash: bytes, commission: int, now: int, notice_blocks: int
) -> int | None:
    """Make `commission` a candidate's: a decrease at once (from the next election on), a raise
    for the first era that starts `notice_blocks` (a whole era's `era_blocks`) or more blocks
    after block `now`; the block from which a raise applies, None if in force now.

    The notice is counted in blocks, not eras: an equivocation report ends the era at the next
    block (`ForceEra`), so a notice of "two eras" could shrink to a few blocks if the candidate
    reports a sybil validator of its own right after raising. Counted in blocks, the nominators
    backing the candidate have `notice_blocks` blocks to `chill` or nominate elsewhere, which
    takes effect at the same election as the raise, however many eras are cut short meanwhile.

    Raised over the commission in force is a raise; a new candidacy's commission is raised over
    0%, since nominations naming a stash outlive its candidacy (and nothing need be remembered of
    a stash that stopped validating, so no record grows with every stash that ever stood). What
    a candidate can still do: raise after the notice, so nominators who do not watch pay it from
    the era it applies, and chilling and coming back does not shorten it (a newcomer standing
    above 0% waits the notice at 0%, which costs it at most one era's commission). Lowering the
    raise keeps its block; raising it further restarts the notice.
    """
    in_force = Validators.get(state, stash) or 0
    pending = PendingCommission.get(state, stash)
    if commission <= in_force:
        Validators.insert(state, stash, commission)
        PendingCommission.remove(state, stash)
        return None
    Validators.insert(state, stash, in_force)
    if pending is not None and commission <= pending.commission_ppm:
        from_block = pending.from_block
    else:
        from_block = now + notice_blocks
    PendingCommission.insert(state, stash, CommissionRaise(commission, from_block))
    return from_block


def apply_commission_raises(state: StateOverlay, now: int) -> None:
    """Put in force the candidates' commission raises due by block `now`, whose hook elects the
    next era."""
    for stash in Candidates.get(state):
        pending = PendingCommission.get(state, stash)
        if pending is not None and pending.from_block <= now:
            Validators.insert(state, stash, pending.commission_ppm)
            PendingCommission.remove(state, stash)


def stop_nominating(ctx: BlockContext, stash: bytes) -> bool:
    """End a stash's nominations; False if it nominated no one."""
    if Nominations.get(ctx.state, stash) is None:
        return False
    Nominations.remove(ctx.state, stash)
    Nominators.put(ctx.state, tuple(s for s in Nominators.get(ctx.state) if s != stash))
    return True


def chill_stash(ctx: BlockContext, stash: bytes) -> bool:
    """End a stash's candidacy or nominations (event Chilled); False if it had neither."""
    stopped = stop_validating(ctx, stash)
    stopped = stop_nominating(ctx, stash) or stopped
    if stopped:
        ctx.deposit_event(Chilled, stash)
    return stopped


def set_session_key(state: StateOverlay, stash: bytes, key: bytes) -> None:
    """Give a stash a session key; its old key stays its own, retired."""
    old = SessionKeys.get(state, stash)
    if old == key:
        return
    if old is not None:
        retire_key(state, stash, old)
    RetiredKeys.remove(state, key)
    SessionKeys.insert(state, stash, key)
    KeyOwner.insert(state, key, stash)


def retire_key(state: StateOverlay, stash: bytes, key: bytes) -> None:
    """A stash's former session key: still its own, for offences signed with it."""
    KeyOwner.remove(state, key)
    RetiredKeys.insert(state, key, stash)
