"""The market's name, limits, hold reasons and call weights."""

from __future__ import annotations

from typing import Final

from runtime.framework import WEIGHT_PER_MICROS

NAME: Final = "market"

MAX_WORKERS: Final = 256
MAX_PENDING_JOBS: Final = 512
MATCHES_PER_BLOCK: Final = 32
"""Waiting jobs (oldest first) that each block tries to match, which bounds a block's work."""
MAX_ASKS: Final = 8
MAX_INPUTS: Final = 8
MAX_PARAMS: Final = 24
MAX_JOB_CAPACITY: Final = 64
MAX_DEADLINE_BLOCKS: Final = 10_000
MAX_WAIT_BLOCKS: Final = 10_000
MAX_REPUTATION: Final = 1_000
MIN_REPUTATION: Final = -1_000
STAKE: Final = "stake"
ESCROW: Final = "escrow"
MODES: Final = ("sampled", "always")
"""Verification modes: audited with the chain's probability, or always audited."""
PPM: Final = 1_000_000

REGISTER_WEIGHT: Final = 80 * WEIGHT_PER_MICROS
SUBMIT_WEIGHT: Final = 400 * WEIGHT_PER_MICROS
"""Checking the job and matching it against at most MAX_WORKERS workers."""
JOB_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
