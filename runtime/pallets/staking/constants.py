"""Staking's name, limits, era points and call weights."""

from __future__ import annotations

from typing import Final

from runtime.framework import WEIGHT_PER_MICROS
from runtime.pallets.balances import STAKING_HOLD

NAME: Final = "staking"

HOLD: Final = STAKING_HOLD
"""Bonded funds are held under the reason that freezes overlap (`balances.STAKING_HOLD`)."""
PPM: Final = 1_000_000
UNIT: Final = 10**12
MAX_CANDIDATES: Final = 1_000
MAX_NOMINATORS: Final = 1_000
MAX_NOMINATIONS: Final = 64
"""The most targets `max_nominations` may allow."""
MAX_UNLOCKING_CHUNKS: Final = 32
MAX_ERA_BLOCKS: Final = 1_000_000
MAX_BONDING_ERAS: Final = 1_000
MAX_SLASH_WINDOW_ERAS: Final = 63
"""The most eras' worth of blocks an offence stays reportable after its era's end: bounds the
eras (and authority sets) kept for offences, one per block of the window at most."""
BLOCK_POINTS: Final = 20
ATTESTATION_POINTS: Final = 1
PRECOMMIT_POINTS: Final = 1

SIGNATURE_WEIGHT: Final = 100 * WEIGHT_PER_MICROS
"""One Ed25519 check (about 60-75 µs measured with PyNaCl on the 2-core development machine)."""
BOND_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
CANDIDACY_WEIGHT: Final = 80 * WEIGHT_PER_MICROS
NOMINATE_WEIGHT: Final = 80 * WEIGHT_PER_MICROS + MAX_NOMINATIONS * 2 * WEIGHT_PER_MICROS
NOTE_VOTES_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
"""Plus SIGNATURE_WEIGHT per precommit."""
SET_PARAMS_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
"""Decoding and range-checking the parameters and writing them."""
SLASH_WEIGHT: Final = 20 * WEIGHT_PER_MICROS
STASH_WEIGHT: Final = 40 * WEIGHT_PER_MICROS
"""At an era's end, per candidate and nominator: its bond and nominations read and its voter built
for the election (about 31 µs measured with 1,000 of each on the 2-core development machine)."""
ELECTION_STEP_WEIGHT: Final = WEIGHT_PER_MICROS // 4
"""One score compared or updated by sequential Phragmén (`eras.era_end_weight` counts them):
0.07 to 0.25 µs measured, the most at the smallest elections."""
VALIDATOR_WEIGHT: Final = 100 * WEIGHT_PER_MICROS
"""At an era's end, per validator of the era ending and of the next: its points, offline check
and exposure read, its exposure stored and kept in the era history, its voter windows pruned."""
PAYOUT_WEIGHT: Final = 30 * WEIGHT_PER_MICROS
"""At an era's end, per backer of a validator: its reward minted (4 to 10 µs measured), and per
backer of a new validator, its share stored in the exposure and its copy in the era history."""
REPORT_WEIGHT: Final = (
    2 * SIGNATURE_WEIGHT + 100 * WEIGHT_PER_MICROS + MAX_NOMINATORS * SLASH_WEIGHT
)
"""Two signature checks, and a slash of the offender and each of its nominators."""
