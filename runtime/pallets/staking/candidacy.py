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


def _active_stash(state: StateOverlay, session_key: bytes) -> bytes | None:
    for stash, key in Active.get(state):
        if key == session_key:
            return stash
    return None


# Bookkeeping


def _insert_sorted(items: tuple[bytes, ...], item: bytes) -> tuple[bytes, ...]:
    return items if item in items else tuple(sorted((*items, item)))


def _is_candidate(state: StateOverlay, stash: bytes) -> bool:
    return Validators.get(state, stash) is not None


def _is_nominator(state: StateOverlay, stash: bytes) -> bool:
    return Nominations.get(state, stash) is not None


def _stop_validating(ctx: BlockContext, stash: bytes) -> bool:
    if Validators.get(ctx.state, stash) is None:
        return False
    Validators.remove(ctx.state, stash)
    Candidates.put(ctx.state, tuple(s for s in Candidates.get(ctx.state) if s != stash))
    return True


def _stop_nominating(ctx: BlockContext, stash: bytes) -> bool:
    if Nominations.get(ctx.state, stash) is None:
        return False
    Nominations.remove(ctx.state, stash)
    Nominators.put(ctx.state, tuple(s for s in Nominators.get(ctx.state) if s != stash))
    return True


def _chill(ctx: BlockContext, stash: bytes) -> bool:
    stopped = _stop_validating(ctx, stash)
    stopped = _stop_nominating(ctx, stash) or stopped
    if stopped:
        ctx.deposit_event(Chilled, stash)
    return stopped


def _set_session_key(state: StateOverlay, stash: bytes, key: bytes) -> None:
    old = SessionKeys.get(state, stash)
    if old == key:
        return
    if old is not None:
        _retire_key(state, stash, old)
    RetiredKeys.remove(state, key)
    SessionKeys.insert(state, stash, key)
    KeyOwner.insert(state, key, stash)


def _retire_key(state: StateOverlay, stash: bytes, key: bytes) -> None:
    KeyOwner.remove(state, key)
    RetiredKeys.insert(state, key, stash)
