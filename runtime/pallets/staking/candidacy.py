"""Validator candidacy, nominations and session keys: who stakes in which role."""

from __future__ import annotations

from runtime.framework import BlockContext
from runtime.pallets.staking.events import Chilled
from runtime.pallets.staking.storage import (
    Active,
    Candidates,
    KeyOwner,
    Nominations,
    Nominators,
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
    Candidates.put(ctx.state, tuple(s for s in Candidates.get(ctx.state) if s != stash))
    return True


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
