"""The models pallet's name, limits, deposits, hold reason and call weights."""

from __future__ import annotations

from typing import Final

from runtime.framework import WEIGHT_PER_MICROS

NAME: Final = "models"
HOLD: Final = "models"
"""The hold reason of every deposit the pallet takes."""

MAX_MODELS_PER_OWNER: Final = 16
"""Models one account may own: with the deposit each holds, it bounds what a squatter's account
adds to the state."""
MAX_VERSIONS: Final = 64
"""Versions one model may have (retired ones count: versions are never removed)."""
MAX_VERSION_SKIP: Final = 1000
"""How far above the next number a new version's may be: with MAX_VERSIONS it keeps every number
far below 2^32 - 1, so that no owner can publish the last number a call can name and leave no
number for its next version."""
MAX_NAME_LEN: Final = 64
MAX_LICENCE_LEN: Final = 64
MAX_QUANTIZATION_LEN: Final = 32
MAX_FAMILY_LEN: Final = 16
MAX_DESCRIPTOR_BYTES: Final = 256
"""The most bytes an architecture descriptor's encoding may have (a qmlp_i8 model of 17 widths
of 65,536 takes 86)."""
MAX_FEE_PER_USE: Final = 10**18
"""The highest fee per use a version may ask (one million XPL)."""

UNIT: Final = 10**12
MODEL_DEPOSIT: Final = UNIT
"""Held from the owner for each model it creates (1 XPL), for as long as the model exists."""
VERSION_DEPOSIT: Final = UNIT // 10
"""Held for each version published (0.1 XPL), besides its bytes."""
STATE_BYTE_DEPOSIT: Final = 10**7
"""Held per byte of a version's record in the chain's state (its descriptor and strings): 10 µXPL
a byte, released never (versions are immutable and stay readable)."""
WEIGHTS_BYTE_DEPOSIT: Final = 10**6
"""Held per byte of a version's weights (1 XPL a MB) while the version is live: every node keeps
a live version's weights blob (`chain.service.blob_retention`), so this is what keeping bytes on
the nodes costs; retiring the version releases it. Filling a node's default blob store (16 GiB)
with pinned weights would hold about 17,000 XPL."""

CREATE_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
"""A model: the owner's list (at most MAX_MODELS_PER_OWNER names compared), a record, a hold."""
PUBLISH_WEIGHT: Final = 120 * WEIGHT_PER_MICROS
"""A version: its descriptor decoded and checked against its family's rules, a record, a hold."""
RETIRE_WEIGHT: Final = 60 * WEIGHT_PER_MICROS
