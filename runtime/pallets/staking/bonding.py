"""Stash ledgers: the bond held for a stash, and forgetting a stash that unbonded all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime import fields
from runtime.framework import BlockContext, StorageValue, record_codec
from runtime.pallets.staking.candidacy import chill_stash, retire_key
from runtime.pallets.staking.constants import NAME
from runtime.pallets.staking.errors import NotBonded
from runtime.pallets.staking.params import StakingParams
from runtime.pallets.staking.storage import Ledger, Ledgers, SessionKeys
from runtime.schema import Record, param
from runtime.state import StateOverlay


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
    `era_blocks` (or the slash window) meanwhile, a chunk keeps the block it was given but is
    held past it while its era's offences may still be reported (`LongerEras`).
    """
    return (now // p.era_blocks + p.bonding_eras) * p.era_blocks


@dataclass(frozen=True, slots=True)
class LongerEras(Record):
    """Chunks still locked at block `raised_at`, when governance last lengthened eras or the
    slash window, unlock no sooner than block `not_before`."""

    raised_at: int = param(fields.U64, default=0)
    not_before: int = param(fields.U64, default=0)


HeldLonger: Final = StorageValue[LongerEras](
    NAME, "HeldLonger", record_codec(LongerEras), LongerEras()
)
"""The chunks held past their unlock block since eras or the slash window were lengthened."""


def params_changed(state: StateOverlay, now: int, old: StakingParams, new: StakingParams) -> None:
    """Governance changed the parameters in block `now`: if it lengthened `era_blocks` or the
    slash window, hold every chunk still locked until the current era's offences expire under
    the new parameters (the era now ends at the next multiple of the new `era_blocks`). A chunk
    was exposed in no era after the current one, so that is enough; chunks unbonded from now
    on unlock later than that anyway (`bonding_eras` above `slash_window_eras`).

    Bounded work: one record, whatever the number of ledgers, rather than rewriting every
    ledger's chunks. What a stash can still do: nothing sooner. Two lengthenings within one
    hold keep the earlier `raised_at` and the later deadline, which holds some chunks longer
    than needed, never shorter."""
    window = new.slash_window_eras * new.era_blocks
    if new.era_blocks <= old.era_blocks and window <= old.slash_window_eras * old.era_blocks:
        return
    not_before = (now // new.era_blocks + 1) * new.era_blocks + window
    held = HeldLonger.get(state)
    if held.not_before > now:
        HeldLonger.put(state, LongerEras(held.raised_at, max(held.not_before, not_before)))
    else:
        HeldLonger.put(state, LongerEras(now, not_before))


def unlocked(state: StateOverlay, unlocks_at: int, now: int) -> bool:
    """Whether a chunk given unlock block `unlocks_at` can be withdrawn in block `now`."""
    held = HeldLonger.get(state)
    return unlocks_at <= now and (unlocks_at <= held.raised_at or now >= held.not_before)
