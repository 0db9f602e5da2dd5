"""Staking's name, limits, era points and call weights."""

from __future__ import annotations

from typing import Final

from runtime.framework import WEIGHT_PER_MICROS

NAME: Final = "staking"

HOLD: Final = "staking"
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
MAX_OFFENCES: Final = 32
"""Offences remembered per offender, the most recent ones."""
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
REPORT_WEIGHT: Final = (
    2 * SIGNATURE_WEIGHT + 100 * WEIGHT_PER_MICROS + MAX_NOMINATORS * SLASH_WEIGHT
)
"""Two signature checks, and a slash of the offender and each of its nominators."""
