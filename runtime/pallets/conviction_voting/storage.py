"""Conviction voting's storage: each account's voting per class, and its locks per class."""

from __future__ import annotations

from typing import Final

from runtime.framework import StorageMap, StorageValue, record_codec, value_codec
from runtime.pallets.conviction_voting.constants import MAX_CLASSES, NAME
from runtime.pallets.conviction_voting.params import (
    DEFAULT_CONVICTION_VOTING_PARAMS,
    ConvictionVotingParams,
)
from runtime.pallets.conviction_voting.records import Voting
from runtime.primitives import codec
from runtime.primitives.codec import Value


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


def voting_key_parts(suffix: bytes) -> tuple[bytes, int]:
    """(account, class) of a `VotingFor` key suffix."""
    return suffix[:32], suffix[32]
