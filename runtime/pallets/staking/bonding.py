"""Stash ledgers: the bond held for a stash, and forgetting a stash that unbonded all."""

from __future__ import annotations

from runtime.framework import BlockContext
from runtime.pallets.staking.candidacy import chill_stash, retire_key
from runtime.pallets.staking.errors import NotBonded
from runtime.pallets.staking.params import StakingParams
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


def unlock_block(now: int, p: StakingParams) -> int:
    """The block from which a chunk unbonded in block `now` can be withdrawn: the era boundary
    `bonding_eras` eras' worth of blocks after the last one at or before `now` (when no era is
    cut short, the start of the `bonding_eras`-th era after the one it was unbonded in).

    Counted in blocks, not eras: an equivocation report ends the era at the next block, so an
    unbonding counted in eras could be cut to a few blocks by a stash that reports sybil
    validators of its own. The chunk stays slashable for an offence of any era it backed: that
    era ended by the boundary after `now` at the latest, its offences expire `slash_window_eras`
    eras' worth of blocks after its end (`history.offence_deadline`), and `bonding_eras` is above
    `slash_window_eras`. What a stash can still do: nothing sooner; if governance lengthens
    `era_blocks` meanwhile, a chunk keeps the block it was given.
    """
    return (now // p.era_blocks + p.bonding_eras) * p.era_blocks
