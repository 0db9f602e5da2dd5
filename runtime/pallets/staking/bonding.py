"""Stash ledgers: the bond held for a stash, and forgetting a stash that unbonded all."""

from __future__ import annotations

from runtime.framework import BlockContext
from runtime.pallets.staking.candidacy import _chill, _retire_key
from runtime.pallets.staking.errors import NotBonded
from runtime.pallets.staking.storage import Ledger, Ledgers, SessionKeys


def _ledger(ctx: BlockContext, stash: bytes) -> Ledger:
    ledger = Ledgers.get(ctx.state, stash)
    if ledger is None:
        raise NotBonded()
    return ledger


def _forget_stash(ctx: BlockContext, stash: bytes) -> None:
    """A stash with nothing bonded any more (withdrawn, or reaped by a slash)."""
    Ledgers.remove(ctx.state, stash)
    _chill(ctx, stash)
    key = SessionKeys.get(ctx.state, stash)
    if key is not None:
        SessionKeys.remove(ctx.state, stash)
        _retire_key(ctx.state, stash, key)
