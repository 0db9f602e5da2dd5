"""Era points, the era's end: offline punishment, rewards, and the next election."""

from __future__ import annotations

from typing import Final

from runtime.accounts import TREASURY
from runtime.framework import BlockContext, Weight
from runtime.pallets import session, treasury
from runtime.pallets.staking.candidacy import active_stash, apply_commission_raises
from runtime.pallets.staking.constants import (
    ATTESTATION_POINTS,
    ELECTION_STEP_WEIGHT,
    PAYOUT_WEIGHT,
    PPM,
    STASH_WEIGHT,
    VALIDATOR_WEIGHT,
)
from runtime.pallets.staking.election import elect_validators, install_elected
from runtime.pallets.staking.events import EraPaid, NewEra, Offline, Rewarded
from runtime.pallets.staking.finality_notes import forget_old_windows
from runtime.pallets.staking.history import note_era, window_blocks
from runtime.pallets.staking.params import StakingParams
from runtime.pallets.staking.slashing import mint, pay_slash, slash_stash
from runtime.pallets.staking.storage import (
    Active,
    Activity,
    Candidates,
    CurrentEra,
    EraActivity,
    EraStart,
    Exposures,
    ForceEra,
    Ledgers,
    Nominators,
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


MIN_NOTED_WINDOWS: Final = 4
"""Windows of NOTE_VOTES_EVERY blocks some validator must have been credited for in an era before
a validator credited for none (and authoring none of its blocks) is judged offline."""


def _punish_offline(ctx: BlockContext, p: StakingParams, era_length: int) -> None:
    """Slash `offline_slash_ppm` of the active bond of each validator, not disabled, that neither
    authored a block nor was credited for a precommit in the era, if the era tells: its blocks
    number at least twice the active set (each validator had slots to author), or its notes
    credited some validator for at least MIN_NOTED_WINDOWS windows (finality ran and was noted,
    one window every NOTE_VOTES_EVERY blocks: 25 in a default 100-block era, whatever the size
    of the set). An era in which finality stalled slashes nobody for missing precommits.

    What a validator can still do: stay offline but for one window (or one block) an era, and
    keep its bond, as before; it then earns one precommit point against an online validator's
    one per window, so it forgoes nearly all of its era reward. A group with more than 2/3 of
    the weight that leaves a validator out of every note does not get it slashed: the validator
    notes the rounds itself (`chain.core.left_out_votes`)."""
    active = Active.get(ctx.state)
    activity = {stash: EraActivity.get(ctx.state, stash) or Activity() for stash, _ in active}
    noted = max((a.precommits for a in activity.values()), default=0)
    if era_length < 2 * len(active) and noted < MIN_NOTED_WINDOWS:
        return  # too short an era to tell
    disabled = session.disabled_keys(ctx.state)
    for stash, key in active:
        if activity[stash].blocks or activity[stash].precommits or key in disabled:
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


def _pay_era(ctx: BlockContext, p: StakingParams, era: int) -> int:
    """Mint the era's reward (`era_reward_for` its length): the treasury's share
    (`treasury.inflation_share`) to the treasury, the rest shared by points, commission and
    exposure; how many payouts it made. `EraPaid` counts both."""
    state = ctx.state
    reward = era_reward_for(p, ctx.number - EraStart.get(state))
    to_treasury = treasury.inflation_share(state, reward)
    reward -= to_treasury
    to_treasury = mint(ctx, TREASURY, to_treasury)
    treasury.receive(ctx, treasury.INFLATION, to_treasury)
    active = Active.get(state)
    points = {stash: (EraActivity.get(state, stash) or Activity()).points for stash, _ in active}
    total_points = sum(points.values())
    minted, paid = to_treasury, 0
    for stash, _ in active:
        exposure = Exposures.get(state, stash)
        if not points[stash] or exposure is None or exposure.total == 0:
            continue
        share = reward * points[stash] // total_points
        commission = share * exposure.commission_ppm // PPM
        rest = share - commission
        payouts = [(stash, commission + rest * exposure.own // exposure.total)]
        payouts.extend((who, rest * amount // exposure.total) for who, amount in exposure.others)
        paid += len(payouts)
        for who, amount in payouts:
            credited = mint(ctx, who, amount)
            if credited:
                minted += credited
                ctx.deposit_event(Rewarded, who, credited)
    ctx.deposit_event(EraPaid, era, minted)
    return paid


def _recent_voters(ctx: BlockContext) -> list[bytes]:
    """The voters of the current authority set and of the one before it."""
    current = session.authority_set(ctx.state)
    previous = session.historical_set(ctx, current.set_id - 1) if current.set_id else None
    return [*current.keys, *(() if previous is None else previous.keys)]


def era_end_weight(
    p: StakingParams, stashes: tuple[int, int], validators: int, payouts: int
) -> Weight:
    """The weight of an era's end with `stashes` (candidates, nominators), `validators` (of the
    era ending and the next) and `payouts` (rewards paid, and backers stored in the new
    exposures).

    The election's steps are bounded as in `election.MAX_ELECTION_STEPS`, with the parameters in
    force: seats × candidates + nominators × max_nominations². Measured on the 2-core development
    machine with 1,000 candidates and 1,000 nominators (`xpl benchmark era-end`): 143 to 210 ms
    for 100 seats and 16 nominations each (the default parameters), 325 ms declared; 393 ms
    for 300 seats (638 ms declared); 618 ms for 64 nominations each (1,606 ms declared). The bound
    grows past a block's MAX_BLOCK_WEIGHT (500 ms) from about 200 seats or 32 nominations each at
    these numbers of stakers: the era-end block then leaves transactions no room. A nominator that
    named more targets before `max_nominations` was lowered is counted at the new limit until it
    nominates again."""
    candidates, nominators = stashes
    seats = min(p.validator_count, candidates)
    steps = seats * candidates + nominators * p.max_nominations**2
    return (
        (candidates + nominators) * STASH_WEIGHT
        + steps * ELECTION_STEP_WEIGHT
        + validators * VALIDATOR_WEIGHT
        + payouts * PAYOUT_WEIGHT
    )


def end_era(ctx: BlockContext, p: StakingParams) -> Weight:
    """Punish the offline, pay the era, elect the next one's validators; the weight it took
    (`era_end_weight`)."""
    state = ctx.state
    era = CurrentEra.get(state)
    stashes = (len(Candidates.get(state)), len(Nominators.get(state)))
    validators = len(Active.get(state))
    _punish_offline(ctx, p, ctx.number - EraStart.get(state))
    payouts = _pay_era(ctx, p, era)
    for stash, _ in Active.get(state):
        EraActivity.remove(state, stash)
    apply_commission_raises(state, ctx.number)
    voters = _recent_voters(ctx)
    elected = elect_validators(state, p)
    if elected is not None:
        install_elected(ctx, elected)
        validators += len(elected)
        payouts += sum(len(exposure.others) for _, exposure in elected)
    forget_old_windows(state, voters, set(_recent_voters(ctx)), ctx.number)
    CurrentEra.put(state, era + 1)
    EraStart.put(state, ctx.number)
    note_era(ctx, era + 1, window_blocks(p))
    ForceEra.kill(state)
    ctx.deposit_event(NewEra, era + 1, [stash for stash, _ in Active.get(state)])
    return era_end_weight(p, stashes, validators, payouts)
