"""Stash ledgers: the bond held for a stash, and forgetting a stash that unbonded all."""

from __future__ import annotations

from runtime.framework import BlockContext
from runtime.pallets.staking.candidacy import chill_stash, retire_key
from runtime.pallets.staking.errors import NotBonded
from runtime.pallets.staking.storage import Ledger, Ledgers, SessionKeys


def ledger_of(ctx: BlockContext, stash: bytes) -> Ledger:
    """A stash's ledger; NotBonded if it has none."""
    ledger = Ledgers.get(ctx.state, stash)
    if ledger is None:
        raise NotBonded()
    return ledger


def forget_stash(ctx: BlockContext, stash: bytes) -> None:
    """A stash with nothing bonded any more (withdrawn, or reaped by a slash)."""
    Ledgers.remove(ctx.state, stash)
    chill_stash(ctx, stash)
    key = SessionKeys.get(ctx.state, stash)
    if key is not None:
        SessionKeys.remove(ctx.state, stash)
        retire_key(ctx.state, stash, key)
