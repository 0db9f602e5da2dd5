"""Era points, the era's end: offline punishment, rewards, and the next election."""

from __future__ import annotations

from runtime.framework import BlockContext
from runtime.pallets import session
from runtime.pallets.staking.candidacy import active_stash, apply_commission_raises
from runtime.pallets.staking.constants import ATTESTATION_POINTS, PPM
from runtime.pallets.staking.election import elect_validators, install_elected
from runtime.pallets.staking.events import EraPaid, NewEra, Offline, Rewarded
from runtime.pallets.staking.finality_notes import forget_old_windows
from runtime.pallets.staking.history import note_era, window_blocks
from runtime.pallets.staking.params import StakingParams
from runtime.pallets.staking.slashing import mint, pay_slash, slash_stash
from runtime.pallets.staking.storage import (
    Active,
    Activity,
    CurrentEra,
    EraActivity,
    EraStart,
    Exposures,
    ForceEra,
    Ledgers,
)
from runtime.state import StateOverlay


def note_activity(
    state: StateOverlay, stash: bytes, *, points: int, blocks: int = 0, precommits: int = 0
) -> None:
    """Add to a validator's points, blocks and noted precommits this era."""
    a = EraActivity.get(state, stash) or Activity()
    EraActivity.insert(
        state,
        stash,
        Activity(a.points + points, a.blocks + blocks, a.precommits + precommits),
    )


def note_attestation(ctx: BlockContext, session_key: bytes) -> None:
    """A compute attestation by `session_key`: a point to its stash if it validates this era."""
    stash = active_stash(ctx.state, session_key)
    if stash is not None:
        note_activity(ctx.state, stash, points=ATTESTATION_POINTS)


# Era end


def _punish_offline(ctx: BlockContext, p: StakingParams, era_length: int) -> None:
    active = Active.get(ctx.state)
    if era_length < 2 * len(active):
        return  # too short an era to tell
    disabled = session.disabled_keys(ctx.state)
    for stash, key in active:
        activity = EraActivity.get(ctx.state, stash) or Activity()
        if activity.blocks or activity.precommits or key in disabled:
            continue
        ledger = Ledgers.get(ctx.state, stash)
        taken = slash_stash(
            ctx, stash, 0 if ledger is None else ledger.active * p.offline_slash_ppm // PPM
        )
        pay_slash(ctx, taken, None, p)
        ctx.deposit_event(Offline, stash, taken)


def era_reward_for(p: StakingParams, era_length: int) -> int:
    """What an era of `era_length` blocks mints: `era_reward` in proportion to the era's blocks,
    at most the whole of it. An era an equivocation report cut short mints only its part, so a
    validator that reports its own sybil to end the era early cannot mint a whole reward for a
    few blocks."""
    return p.era_reward * min(era_length, p.era_blocks) // p.era_blocks


def _pay_era(ctx: BlockContext, p: StakingParams, era: int) -> None:
    """Mint the era's reward (`era_reward_for` its length) and share it by points, commission
    and exposure."""
    state = ctx.state
    reward = era_reward_for(p, ctx.number - EraStart.get(state))
    active = Active.get(state)
    points = {stash: (EraActivity.get(state, stash) or Activity()).points for stash, _ in active}
    total_points = sum(points.values())
    minted = 0
    for stash, _ in active:
        exposure = Exposures.get(state, stash)
        if not points[stash] or exposure is None or exposure.total == 0:
            continue
        share = reward * points[stash] // total_points
        commission = share * exposure.commission_ppm // PPM
        rest = share - commission
        payouts = [(stash, commission + rest * exposure.own // exposure.total)]
        payouts.extend((who, rest * amount // exposure.total) for who, amount in exposure.others)
        for who, amount in payouts:
            credited = mint(ctx, who, amount)
            if credited:
                minted += credited
                ctx.deposit_event(Rewarded, who, credited)
    ctx.deposit_event(EraPaid, era, minted)


def _recent_voters(ctx: BlockContext) -> list[bytes]:
    """The voters of the current authority set and of the one before it."""
    current = session.authority_set(ctx.state)
    previous = session.historical_set(ctx, current.set_id - 1) if current.set_id else None
    return [*current.keys, *(() if previous is None else previous.keys)]


def end_era(ctx: BlockContext, p: StakingParams) -> None:
    """Punish the offline, pay the era, elect the next one's validators."""
    state = ctx.state
    era = CurrentEra.get(state)
    _punish_offline(ctx, p, ctx.number - EraStart.get(state))
    _pay_era(ctx, p, era)
    for stash, _ in Active.get(state):
        EraActivity.remove(state, stash)
    apply_commission_raises(state, ctx.number)
    forget_old_windows(state, _recent_voters(ctx), ctx.number)
    elected = elect_validators(state, p)
    if elected is not None:
        install_elected(ctx, elected)
    CurrentEra.put(state, era + 1)
    EraStart.put(state, ctx.number)
    note_era(ctx, era + 1, window_blocks(p))
    ForceEra.kill(state)
    ctx.deposit_event(NewEra, era + 1, [stash for stash, _ in Active.get(state)])
