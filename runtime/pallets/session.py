"""Session: the current validator (authority) set and the slot duration consensus runs on.

The node reads both from state, so the set can change by the chain's own rules: at genesis now,
at era boundaries once staking elects validators.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from runtime.framework import U64_CODEC, BlockContext, Pallet, StorageValue, value_codec
from runtime.primitives import codec

NAME: Final = "session"

# Constants

MAX_VALIDATORS: Final = 1_000
MIN_SLOT_DURATION_MS: Final = 100
MAX_SLOT_DURATION_MS: Final = 3_600_000

# Storage

Validators: Final = StorageValue[tuple[bytes, ...]](
    NAME,
    "Validators",
    value_codec(
        list,
        lambda v: tuple(
            codec.expect_bytes(a, "validator", length=32)
            for a in codec.expect_array(v, MAX_VALIDATORS, "validators")
        ),
    ),
    (),
)
SlotDurationMs: Final = StorageValue[int](NAME, "SlotDurationMs", U64_CODEC, 0)


class Session(Pallet):
    NAME = NAME

    # Genesis

    def build_genesis(
        self, ctx: BlockContext, validators: Sequence[bytes], slot_duration_ms: int
    ) -> None:
        if not validators:
            raise ValueError("the genesis config needs at least one validator")
        if len(set(validators)) != len(validators):
            raise ValueError("a validator is listed twice in the genesis config")
        if len(validators) > MAX_VALIDATORS:
            raise ValueError(f"at most {MAX_VALIDATORS} validators")
        if not MIN_SLOT_DURATION_MS <= slot_duration_ms <= MAX_SLOT_DURATION_MS:
            raise ValueError(
                f"the slot duration must be {MIN_SLOT_DURATION_MS} to {MAX_SLOT_DURATION_MS} ms"
            )
        Validators.put(ctx.state, tuple(validators))
        SlotDurationMs.put(ctx.state, slot_duration_ms)
