"""What staking's era-end hook takes at the most candidates and nominators, against its weight.

A state with MAX_CANDIDATES candidates and MAX_NOMINATORS nominators, each naming
`max_nominations` random candidates, elects `validator_count` validators once; every validator
then has points, and the next era's end (offline checks, payouts to every backer, the election,
the era history) is timed, the best of `repeat` runs on the same state. Printed beside it: the
weight the hook declares for itself (`staking.eras.era_end_weight`), in milliseconds.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from typing import Final

from runtime.framework import WEIGHT_PER_MICROS, BlockContext
from runtime.genesis import GenesisConfig, build_genesis_state
from runtime.pallets import balances, staking
from runtime.pallets.staking import GenesisValidator
from runtime.pallets.staking.eras import end_era
from runtime.primitives.hashing import ZERO_HASH
from runtime.state import StateOverlay

UNIT: Final = staking.UNIT
SLOT_MS: Final = 1_000
SEED: Final = 5


@dataclass(frozen=True)
class EraEndFigures:
    """One measurement: the election's size, the hook's best time and its declared weight."""

    seats: int
    nominations: int
    candidates: int
    nominators: int
    payouts: int
    measured_ms: float
    declared_ms: float


def _context(state: dict[bytes, bytes], number: int) -> BlockContext:
    return BlockContext(
        state=StateOverlay(state.get),
        number=number,
        parent_hash=ZERO_HASH,
        timestamp=number * SLOT_MS,
        author=ZERO_HASH,
        genesis_hash=ZERO_HASH,
        slot=number,
    )


def _commit(state: dict[bytes, bytes], ctx: BlockContext) -> None:
    for key, value in ctx.state.changes().items():
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value


def _populated(
    seats: int, nominations: int, candidates: int, nominators: int
) -> dict[bytes, bytes]:
    """A state whose next era's end elects `seats` of `candidates` (a genesis validator among
    them) with `nominators` backers."""
    rng = random.Random(SEED)
    params = replace(
        staking.DEFAULT_STAKING_PARAMS,
        validator_count=seats,
        min_validators=1,
        max_nominations=nominations,
    )
    genesis = bytes([3]) * 32
    state = build_genesis_state(
        GenesisConfig(
            validators=(GenesisValidator(genesis, 1_000 * UNIT),),
            slot_duration_ms=SLOT_MS,
            balances=((genesis, 10_000 * UNIT),),
            staking=params,
        )
    )
    ctx = _context(state, 1)
    stand = [bytes([1]) + i.to_bytes(31, "big") for i in range(candidates - 1)]
    back = [bytes([2]) + i.to_bytes(31, "big") for i in range(nominators)]
    for stash in stand + back:
        balances.deposit(ctx, stash, 10_000 * UNIT)
        bond = rng.randint(100, 5_000) * UNIT
        balances.hold(ctx, stash, staking.HOLD, bond)
        staking.Ledgers.insert(ctx.state, stash, staking.Ledger(bond))
    for stash in stand:
        staking.Validators.insert(ctx.state, stash, 0)
        staking.SessionKeys.insert(ctx.state, stash, stash)
        staking.KeyOwner.insert(ctx.state, stash, stash)
    staking.Candidates.put(ctx.state, tuple(sorted((*stand, genesis))))
    for stash in back:
        targets = rng.sample(stand, min(nominations, len(stand)))
        staking.Nominations.insert(ctx.state, stash, tuple(sorted(targets)))
    staking.Nominators.put(ctx.state, tuple(sorted(back)))
    _commit(state, ctx)
    ctx = _context(state, params.era_blocks)
    end_era(ctx, params)
    for stash, _ in staking.Active.get(ctx.state):
        activity = staking.Activity(points=20 + rng.randint(0, 100), blocks=1)
        staking.EraActivity.insert(ctx.state, stash, activity)
    _commit(state, ctx)
    return state


def run_era_end_benchmark(
    seats: int = 100,
    nominations: int = 16,
    *,
    candidates: int = staking.MAX_CANDIDATES,
    nominators: int = staking.MAX_NOMINATORS,
    repeat: int = 3,
) -> EraEndFigures:
    """Time the era's end on a populated state (the best of `repeat`) beside its weight."""
    state = _populated(seats, nominations, candidates, nominators)
    params = staking.Params.get(StateOverlay(state.get))
    number = 2 * params.era_blocks
    best, weight = float("inf"), 0
    for _ in range(repeat):
        ctx = _context(state, number)
        started = time.perf_counter()
        weight = end_era(ctx, params)
        best = min(best, time.perf_counter() - started)
    reader = StateOverlay(state.get)
    payouts = sum(
        len(exposure.others) + 1
        for stash, _ in staking.Active.get(reader)
        if (exposure := staking.Exposures.get(reader, stash)) is not None
    )
    return EraEndFigures(
        seats=seats,
        nominations=nominations,
        candidates=candidates,
        nominators=nominators,
        payouts=payouts,
        measured_ms=best * 1_000,
        declared_ms=weight / WEIGHT_PER_MICROS / 1_000,
    )
