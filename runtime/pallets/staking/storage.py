"""Staking's records (ledgers, exposures, era activity) and storage items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime import fields
from runtime.framework import (
    U64_CODEC,
    StorageMap,
    StorageValue,
    ValueCodec,
    record_codec,
    value_codec,
)
from runtime.pallets import session
from runtime.pallets.staking.constants import (
    MAX_CANDIDATES,
    MAX_NOMINATIONS,
    MAX_NOMINATORS,
    MAX_UNLOCKING_CHUNKS,
    NAME,
    PPM,
)
from runtime.pallets.staking.params import DEFAULT_STAKING_PARAMS, StakingParams
from runtime.primitives import codec
from runtime.primitives.codec import Value
from runtime.schema import Record, param


@dataclass(frozen=True, slots=True)
class Ledger(Record):
    """A stash's bond: what is active, and what is unbonding as (block it unlocks at, amount)."""

    active: int = param(fields.BALANCE)
    unlocking: tuple[tuple[int, int], ...] = param(
        fields.tuple_type(fields.pair_type(fields.U64, fields.BALANCE), MAX_UNLOCKING_CHUNKS),
        default=(),
    )

    @property
    def total(self) -> int:
        return self.active + sum(amount for _, amount in self.unlocking)

    def slashed(self, amount: int) -> Ledger:
        """This ledger less `amount`: from the active bond first, then the latest chunks."""
        active = self.active - min(self.active, amount)
        left = amount - (self.active - active)
        chunks = list(self.unlocking)
        for i in reversed(range(len(chunks))):
            if left == 0:
                break
            era, chunk = chunks[i]
            take = min(chunk, left)
            chunks[i] = (era, chunk - take)
            left -= take
        return Ledger(active, tuple((e, a) for e, a in chunks if a))


@dataclass(frozen=True, slots=True)
class Exposure(Record):
    """A validator's backing in the current era, fixed at its election."""

    session_key: bytes = param(fields.ACCOUNT)
    total: int = param(fields.BALANCE)
    own: int = param(fields.BALANCE)
    others: tuple[tuple[bytes, int], ...] = param(
        fields.tuple_type(fields.pair_type(fields.ACCOUNT, fields.BALANCE), MAX_NOMINATORS)
    )
    """(nominator, its share), sorted by nominator."""
    commission_ppm: int = param(fields.U32, 0, PPM)


@dataclass(frozen=True, slots=True)
class CommissionRaise(Record):
    """A candidate's raised commission, not in force for an era that starts before block
    `from_block`."""

    commission_ppm: int = param(fields.U32, 0, PPM)
    from_block: int = param(fields.U64)


@dataclass(frozen=True, slots=True)
class Activity(Record):
    """What an active validator did this era: its points, blocks and noted precommits."""

    points: int = param(fields.U64, default=0)
    blocks: int = param(fields.U64, default=0)
    precommits: int = param(fields.U64, default=0)


def _accounts_codec(limit: int, what: str) -> ValueCodec[tuple[bytes, ...]]:
    return value_codec(
        list,
        lambda v: tuple(
            codec.expect_bytes(a, what, length=32) for a in codec.expect_array(v, limit, what)
        ),
    )


def _pairs_codec(limit: int) -> ValueCodec[tuple[tuple[bytes, bytes], ...]]:
    def decode(v: Value) -> tuple[tuple[bytes, bytes], ...]:
        out = []
        for i, item in enumerate(codec.expect_array(v, limit, "active")):
            pair = codec.expect_list(item, 2, f"active[{i}]")
            out.append(
                (
                    codec.expect_bytes(pair[0], "active.stash", length=32),
                    codec.expect_bytes(pair[1], "active.session_key", length=32),
                )
            )
        return tuple(out)

    return value_codec(lambda pairs: [list(p) for p in pairs], decode)


def _account_key(a: bytes) -> bytes:
    return a


# Storage

Params: Final = StorageValue[StakingParams](
    NAME,
    "Params",
    record_codec(StakingParams),
    DEFAULT_STAKING_PARAMS,
)
CurrentEra: Final = StorageValue[int](NAME, "CurrentEra", U64_CODEC, 0)
EraStart: Final = StorageValue[int](NAME, "EraStart", U64_CODEC, 0)
"""The block whose hook started the current era (0 for the first era)."""
ForceEra: Final = StorageValue[bool](
    NAME, "ForceEra", value_codec(lambda v: v, lambda v: codec.expect_bool(v, "force era")), False
)
"""The current era ends at the next block, whatever its number."""
Ledgers: Final = StorageMap[bytes, Ledger](NAME, "Ledgers", _account_key, record_codec(Ledger))
Validators: Final = StorageMap[bytes, int](NAME, "Validators", _account_key, U64_CODEC)
"""Candidates' commission, in parts per million."""
Candidates: Final = StorageValue[tuple[bytes, ...]](
    NAME, "Candidates", _accounts_codec(MAX_CANDIDATES, "candidate"), ()
)
"""The candidate stashes, sorted."""
Nominations: Final = StorageMap[bytes, tuple[bytes, ...]](
    NAME, "Nominations", _account_key, _accounts_codec(MAX_NOMINATIONS, "target")
)
"""A nominator's targets, sorted."""
Nominators: Final = StorageValue[tuple[bytes, ...]](
    NAME, "Nominators", _accounts_codec(MAX_NOMINATORS, "nominator"), ()
)
"""The nominating stashes, sorted."""
SessionKeys: Final = StorageMap[bytes, bytes](
    NAME,
    "SessionKeys",
    _account_key,
    value_codec(lambda v: v, lambda v: codec.expect_bytes(v, "session key", length=32)),
)
"""A stash's session key."""
KeyOwner: Final = StorageMap[bytes, bytes](
    NAME,
    "KeyOwner",
    _account_key,
    value_codec(lambda v: v, lambda v: codec.expect_bytes(v, "stash", length=32)),
)
"""The stash behind a session key (SessionKeys the other way round)."""
RetiredKeys: Final = StorageMap[bytes, bytes](
    NAME,
    "RetiredKeys",
    _account_key,
    value_codec(lambda v: v, lambda v: codec.expect_bytes(v, "stash", length=32)),
)
"""Session keys a stash used before, and the stash: a key is never another stash's, so an offence
signed with an old key is still the old owner's."""
Active: Final = StorageValue[tuple[tuple[bytes, bytes], ...]](
    NAME, "Active", _pairs_codec(session.MAX_AUTHORITIES), ()
)
"""The current era's validators as (stash, session key), sorted by stash."""
Exposures: Final = StorageMap[bytes, Exposure](
    NAME, "Exposures", _account_key, record_codec(Exposure)
)
"""The current era's validators' backing, by stash."""
EraActivity: Final = StorageMap[bytes, Activity](
    NAME, "EraActivity", _account_key, record_codec(Activity)
)
"""What each of the current era's validators did so far, by stash."""
PendingCommission: Final = StorageMap[bytes, CommissionRaise](
    NAME, "PendingCommission", _account_key, record_codec(CommissionRaise)
)
"""Candidates' commission raises waiting for their era, by stash (`Validators` holds the
commission in force until then)."""
