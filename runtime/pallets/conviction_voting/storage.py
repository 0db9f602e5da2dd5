"""Conviction voting's storage: each account's voting per class, and its locks per class."""

from __future__ import annotations

from typing import Final

from runtime.framework import StorageMap, StorageValue, record_codec, value_codec
from runtime.pallets.conviction_voting.constants import MAX_CLASSES, MAX_CONVICTION, NAME
from runtime.pallets.conviction_voting.params import (
    DEFAULT_CONVICTION_VOTING_PARAMS,
    ConvictionVotingParams,
)
from runtime.pallets.conviction_voting.records import Voting, lock_periods
from runtime.primitives import codec
from runtime.primitives.codec import Value
from runtime.state import StateOverlay


def _voting_key(key: tuple[bytes, int]) -> bytes:
    who, cls = key
    return who + bytes([cls])


def _locks_from_value(v: Value) -> tuple[tuple[int, int], ...]:
    out = []
    for item in codec.expect_array(v, MAX_CLASSES, "class locks"):
        pair = codec.expect_list(item, 2, "class lock")
        out.append((codec.expect_int(pair[0], 0, 255, "class"), codec.expect_u128(pair[1], "lock")))
    return tuple(out)


Params: Final = StorageValue[ConvictionVotingParams](
    NAME, "Params", record_codec(ConvictionVotingParams), DEFAULT_CONVICTION_VOTING_PARAMS
)
VotingFor: Final = StorageMap[tuple[bytes, int], Voting](
    NAME, "VotingFor", _voting_key, value_codec(Voting.to_value, Voting.from_value)
)
"""An account's voting in a class (track), keyed `account ‖ class`; absent when empty."""
ClassLocksFor: Final = StorageMap[bytes, tuple[tuple[int, int], ...]](
    NAME,
    "ClassLocksFor",
    lambda who: who,
    value_codec(lambda locks: [[c, codec.encode_u128(a)] for c, a in locks], _locks_from_value),
)
"""An account's lock in each class, sorted by class; its "vote" freeze is the largest. Absent
when it has none."""


def _floor_from_value(v: Value) -> tuple[int, int]:
    f = codec.expect_list(v, 2, "locking period floor")
    return (
        codec.expect_int(f[0], 0, codec.U32_MAX, "locking period floor.period"),
        codec.expect_int(f[1], 0, codec.U64_MAX, "locking period floor.block"),
    )


LockingPeriodFloor: Final = StorageValue[tuple[int, int]](
    NAME, "LockingPeriodFloor", value_codec(list, _floor_from_value), (0, 0)
)
"""(period, block): the longest `vote_locking_period` in force up to `block`, the last block
at which the period was lowered. A poll that ended by then locks its winning votes for at least
that period, so that lowering the period cannot shorten the locks of votes already decided
(the votes that passed the change among them)."""


def locking_period(state: StateOverlay, poll_end: int) -> int:
    """The lock period of a winning vote on a poll that ended at block `poll_end`: the current
    `vote_locking_period`, or the longest one before a later lowering of it."""
    period: int = Params.get(state).vote_locking_period
    floor, until = LockingPeriodFloor.get(state)
    return max(period, floor) if poll_end <= until else period


def undelegation_period(state: StateOverlay, now: int) -> int:
    """The lock period of a delegation ended at block `now`: the longest one before a lowering
    of `vote_locking_period` while the longest lock it gave (32 periods) would still run from
    the lowering, so that a delegation that helped pass it keeps its weight's lock; the
    current period after that."""
    period: int = Params.get(state).vote_locking_period
    floor, until = LockingPeriodFloor.get(state)
    window = lock_periods(MAX_CONVICTION) * floor
    return max(period, floor) if now <= until + window else period


def voting_key_parts(suffix: bytes) -> tuple[bytes, int]:
    """(account, class) of a `VotingFor` key suffix."""
    return suffix[:32], suffix[32]
