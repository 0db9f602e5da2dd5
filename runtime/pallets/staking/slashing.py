"""Slashing bonds and paying out slashes, and punishing an equivocation's offender.

An offence is slashed against the exposure of the era it happened in (`history`), from each
backer's whole ledger, active and unbonding alike: chilling, unbonding and waiting out the era
change nothing, since an unbonded chunk unlocks `bonding_eras` eras' worth of blocks later, after
the offence has expired (`slash_window_eras` eras' worth of blocks after its era's end, below it;
both counted in blocks so that forced era ends shorten neither). What an offender can still do:
let nobody report it for that long (every node reports at once what it sees); or, while the
election
keeps its set's every key and weight unchanged over several eras, sign its votes in the set's
earlier era, which is slashed as the set's latest one: the same total backing, so only who among
its backers pays can shift, and those backers are ones that backed it with that same set.
"""

from __future__ import annotations

from runtime import consensus
from runtime.accounts import TREASURY
from runtime.consensus import VoteEquivocation
from runtime.framework import BlockContext
from runtime.pallets import balances, session, treasury
from runtime.pallets.staking.bonding import forget_stash
from runtime.pallets.staking.candidacy import stash_of
from runtime.pallets.staking.constants import HOLD, PPM
from runtime.pallets.staking.errors import (
    BadProofSignature,
    NotAnAuthority,
    NotOneOffence,
    OffenceExpired,
    SameMessage,
    UnknownSet,
)
from runtime.pallets.staking.events import Slashed
from runtime.pallets.staking.history import (
    era_of_set,
    era_of_slot,
    era_record,
    exposure_in,
    offence_deadline,
    validator_in,
    window_blocks,
)
from runtime.pallets.staking.params import StakingParams
from runtime.pallets.staking.storage import Exposure, Ledgers, Params

# Slashing and paying


def mint(ctx: BlockContext, who: bytes, amount: int) -> int:
    """Mint a reward without ever failing (hooks must not); returns what was credited."""
    try:
        return balances.deposit(ctx, who, amount)
    except balances.Overflow:
        return 0


def slash_stash(ctx: BlockContext, stash: bytes, amount: int) -> int:
    """Burn up to `amount` of a stash's bond; returns what was taken (to be paid on)."""
    ledger = Ledgers.get(ctx.state, stash)
    if ledger is None:
        return 0
    amount = min(amount, ledger.total, balances.held(ctx, stash, HOLD))
    taken = balances.slash_held(ctx, stash, HOLD, amount)
    if taken == 0:
        return 0
    ctx.deposit_event(Slashed, stash, taken)
    remaining = ledger.slashed(taken)
    if not balances.exists(ctx, stash) or remaining.total == 0:
        forget_stash(ctx, stash)  # reaped: what it still held is gone with the account
    else:
        Ledgers.insert(ctx.state, stash, remaining)
    return taken


def pay_slash(
    ctx: BlockContext,
    taken: int,
    reporter: bytes | None,
    p: StakingParams,
    rewarded: int | None = None,
) -> None:
    """Pay a slash on: the reporter's share of `rewarded` (of what was taken, if not given) to
    the reporter, the rest to the treasury."""
    reward = 0
    if reporter is not None:
        base = taken if rewarded is None else min(rewarded, taken)
        reward = mint(ctx, reporter, base * p.reporter_reward_ppm // PPM)
    treasury.receive(ctx, treasury.SLASHES, mint(ctx, TREASURY, taken - reward))


def penalize(ctx: BlockContext, session_key: bytes, amount: int) -> int:
    """Take up to `amount` from the bond of the stash behind `session_key` and pay it to the
    treasury (a compute committee member's penalty); returns what was taken. Never fails."""
    stash = stash_of(ctx.state, session_key)
    if stash is None or amount <= 0:
        return 0
    taken = slash_stash(ctx, stash, amount)
    treasury.receive(ctx, treasury.SLASHES, mint(ctx, TREASURY, taken))
    return taken


# Offences


def offender_of(proof: consensus.Equivocation) -> bytes:
    """The offender's session key if the proof's messages prove an offence; the error if not."""
    try:
        return proof.check()
    except consensus.InvalidProof as exc:
        if isinstance(proof, VoteEquivocation):
            a, b = proof.first, proof.second
            if (a.voter, a.phase, a.set_id, a.round) != (b.voter, b.phase, b.set_id, b.round):
                raise NotOneOffence() from exc
            if a.target == b.target:
                raise SameMessage() from exc
        else:
            x, y = proof.first, proof.second
            if (x.digest.slot, x.digest.author) != (y.digest.slot, y.digest.author):
                raise NotOneOffence() from exc
            if x.hash == y.hash:
                raise SameMessage() from exc
        raise BadProofSignature() from exc


def offence_exposure(
    ctx: BlockContext, proof: consensus.Equivocation, key: bytes
) -> tuple[bytes, Exposure, int]:
    """The stash of the validator whose session key `key` committed the offence, its exposure in
    the era the offence happened, and that era; UnknownSet, OffenceExpired or NotAnAuthority if
    there is none to slash."""
    state = ctx.state
    if isinstance(proof, VoteEquivocation):
        set_id = proof.first.set_id
        authorities = session.historical_set(ctx, set_id)
        if authorities is None:
            raise UnknownSet()
        era = era_of_set(state, set_id)
        if era is None:
            raise OffenceExpired()
        if authorities.weight_of(key) == 0:
            raise NotAnAuthority()
    else:
        era = era_of_slot(state, proof.slot)
        record = None if era is None else era_record(state, era)
        authorities = None if record is None else session.historical_set(ctx, record.set_id)
        if era is None or authorities is None:
            raise OffenceExpired()
        keys = authorities.keys
        if keys[proof.slot % len(keys)] != key:  # Aura's author of that slot then
            raise NotAnAuthority()
    deadline = offence_deadline(state, era, window_blocks(Params.get(state)))
    if deadline is not None and ctx.number >= deadline:
        raise OffenceExpired()  # kept only until the next era's end, the window being shortened
    stash = validator_in(state, era, key)
    exposure = None if stash is None else exposure_in(state, era, stash)
    if stash is None or exposure is None:
        raise NotAnAuthority()
    return stash, exposure, era


def slash_offender(
    ctx: BlockContext, stash: bytes, exposure: Exposure, p: StakingParams
) -> tuple[int, int]:
    """Slash an equivocating validator and its nominators by their shares of `exposure` (the
    offence era's), from their whole ledgers; (the total taken, what the validator's own bond
    lost).

    The reporter is rewarded out of the validator's own loss only (`pay_slash`): rewarded out of
    its nominators' too, an offender reporting itself through a colluding account would gain
    whenever its nominators back it with more than about ten times its own bond."""
    own = slash_stash(ctx, stash, exposure.own * p.equivocation_slash_ppm // PPM)
    total = own
    for nominator, amount in exposure.others:
        total += slash_stash(ctx, nominator, amount * p.equivocation_slash_ppm // PPM)
    return total, own


def disable_offender(ctx: BlockContext, key: bytes) -> None:
    """Disable an offender's key, unless it is the last enabled authority: blocks must go on."""
    disabled = session.disabled_keys(ctx.state)
    enabled = [k for k in session.authority_set(ctx.state).keys if k not in disabled]
    if key in enabled and len(enabled) > 1:
        session.disable(ctx, key)
