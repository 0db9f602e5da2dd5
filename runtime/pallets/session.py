"""Session: the authority set that consensus runs on, and the slot duration.

The authority set is the list of session keys that author blocks (Aura, in this order) and vote on
finality (GRANDPA), each with its weight: the stake behind it. The node reads it from state, so it
changes only by the chain's own rules: at genesis, and when staking elects a new set at an era
boundary. Each change bumps the set id; the set in the state after block B is the one that authors
B's children and finalizes them, so the block that changes the set is the last one the old set
finalizes.

A disabled authority (one slashed for an offence) stays in the set until the next change, so that
finality weights do not move in the middle of a set, but its blocks are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from runtime import fields
from runtime.framework import (
    U64_CODEC,
    BlockContext,
    EventDef,
    Pallet,
    StorageMap,
    StorageValue,
    ValueCodec,
    value_codec,
)
from runtime.primitives import codec
from runtime.primitives.codec import Value
from runtime.state import StateOverlay

NAME: Final = "session"

# Constants

MAX_AUTHORITIES: Final = 1_000
MIN_SLOT_DURATION_MS: Final = 100
MAX_SLOT_DURATION_MS: Final = 3_600_000


@dataclass(frozen=True, slots=True)
class AuthoritySet:
    """The authorities of one set: session keys in authoring order, each with its weight."""

    set_id: int
    authorities: tuple[tuple[bytes, int], ...]
    # Finality counts weights for every vote it takes in: looked up, not searched for.
    _weights: dict[bytes, int] = field(init=False, repr=False, compare=False)
    _total: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        weights: dict[bytes, int] = {}
        for key, weight in self.authorities:
            weights.setdefault(key, weight)
        object.__setattr__(self, "_weights", weights)
        object.__setattr__(self, "_total", sum(weight for _, weight in self.authorities))

    @property
    def keys(self) -> tuple[bytes, ...]:
        return tuple(key for key, _ in self.authorities)

    @property
    def total_weight(self) -> int:
        return self._total

    def weight_of(self, key: bytes) -> int:
        """The weight of `key` in this set (its first entry's); 0 if it is not an authority."""
        return self._weights.get(key, 0)

    def is_supermajority(self, weight: int) -> bool:
        """Whether `weight` is more than 2/3 of the set's total weight."""
        return 3 * weight > 2 * self.total_weight


def _authorities_to_value(authorities: tuple[tuple[bytes, int], ...]) -> Value:
    return [[key, codec.encode_u128(weight)] for key, weight in authorities]


def _authorities_from_value(value: Value) -> tuple[tuple[bytes, int], ...]:
    out = []
    for i, item in enumerate(codec.expect_array(value, MAX_AUTHORITIES, "authorities")):
        pair = codec.expect_list(item, 2, f"authorities[{i}]")
        out.append(
            (
                codec.expect_bytes(pair[0], "authority.key", length=32),
                codec.expect_u128(pair[1], "authority.weight"),
            )
        )
    return tuple(out)


AUTHORITIES_CODEC: Final[ValueCodec[tuple[tuple[bytes, int], ...]]] = value_codec(
    _authorities_to_value, _authorities_from_value
)
KEYS_CODEC: Final[ValueCodec[tuple[bytes, ...]]] = value_codec(
    list,
    lambda v: tuple(
        codec.expect_bytes(a, "key", length=32)
        for a in codec.expect_array(v, MAX_AUTHORITIES, "keys")
    ),
)

# Storage

Authorities: Final = StorageValue[tuple[tuple[bytes, int], ...]](
    NAME, "Authorities", AUTHORITIES_CODEC, ()
)
SetId: Final = StorageValue[int](NAME, "SetId", U64_CODEC, 0)
Disabled: Final = StorageValue[tuple[bytes, ...]](NAME, "Disabled", KEYS_CODEC, ())
"""Authorities of the current set whose blocks are refused, sorted."""
HistoricalSets: Final = StorageMap[int, tuple[tuple[bytes, int], ...]](
    NAME, "HistoricalSets", lambda n: n.to_bytes(8, "big"), AUTHORITIES_CODEC
)
"""The authorities of the sets from `OldestSet` on, the current one included, by set id: past
sets stay while an offence in one of them can still be proven (`forget_sets_before`)."""
OldestSet: Final = StorageValue[int](NAME, "OldestSet", U64_CODEC, 0)
"""The oldest set kept in `HistoricalSets`."""
SlotDurationMs: Final = StorageValue[int](NAME, "SlotDurationMs", U64_CODEC, 0)
SetChangedAt: Final = StorageValue[int](NAME, "SetChangedAt", U64_CODEC, 0)
"""The block whose hook made the current set (0 for the genesis set): the handover block, the
last one the set before it finalizes; the current set finalizes only the blocks after it."""

# Events

NewAuthorities: Final = EventDef(
    NAME,
    "NewAuthorities",
    (("set_id", fields.U64), ("authorities", fields.list_type(fields.ACCOUNT, MAX_AUTHORITIES))),
    "A new authority set takes over from the next block on.",
)
AuthorityDisabled: Final = EventDef(
    NAME,
    "AuthorityDisabled",
    (("authority", fields.ACCOUNT),),
    "An authority's blocks are refused until the set changes.",
)


# The interface other pallets and the node use


def authority_set(state: StateOverlay) -> AuthoritySet:
    """The authority set in force for the children of the block whose state this is."""
    return AuthoritySet(SetId.get(state), Authorities.get(state))


def disabled_keys(state: StateOverlay) -> tuple[bytes, ...]:
    """The current set's authorities whose blocks are refused, sorted."""
    return Disabled.get(state)


def historical_set(ctx: BlockContext, set_id: int) -> AuthoritySet | None:
    """Authority set `set_id`, if it is recent enough to be kept."""
    authorities = HistoricalSets.get(ctx.state, set_id)
    return None if authorities is None else AuthoritySet(set_id, authorities)


def set_changed_at(state: StateOverlay) -> int:
    """The handover block: the last block the previous set finalizes (0 under the genesis set)."""
    return SetChangedAt.get(state)


def _check_authorities(authorities: Sequence[tuple[bytes, int]]) -> None:
    if not authorities:
        raise ValueError("an authority set needs at least one authority")
    keys = [key for key, _ in authorities]
    if len(set(keys)) != len(keys):
        raise ValueError("an authority is listed twice")
    if len(keys) > MAX_AUTHORITIES:
        raise ValueError(f"at most {MAX_AUTHORITIES} authorities")
    if any(weight <= 0 or weight > codec.U128_MAX for _, weight in authorities):
        raise ValueError("every authority needs a positive weight")
    if sum(weight for _, weight in authorities) > codec.U128_MAX:
        raise ValueError("the authorities' total weight is too large")


def set_authorities(ctx: BlockContext, authorities: Sequence[tuple[bytes, int]]) -> bool:
    """Make `authorities` the set for the next blocks; returns False if nothing changed.

    A change bumps the set id, clears the disabled list and records the set in the history.
    """
    new = tuple(authorities)
    _check_authorities(new)
    if new == Authorities.get(ctx.state):
        return False
    set_id = SetId.get(ctx.state) + 1
    Authorities.put(ctx.state, new)
    SetId.put(ctx.state, set_id)
    SetChangedAt.put(ctx.state, ctx.number)
    Disabled.kill(ctx.state)
    HistoricalSets.insert(ctx.state, set_id, new)
    ctx.deposit_event(NewAuthorities, set_id, [key for key, _ in new])
    return True


def forget_sets_before(ctx: BlockContext, set_id: int) -> None:
    """Forget the past sets older than `set_id` (never the current one): staking, which elects
    the sets, says which it no longer needs to prove offences in, so that no count of set
    changes (each forced era end is one) can drop a set while its offences are reportable."""
    oldest = OldestSet.get(ctx.state)
    keep_from = min(set_id, SetId.get(ctx.state))
    for old in range(oldest, keep_from):
        HistoricalSets.remove(ctx.state, old)
    if keep_from > oldest:
        OldestSet.put(ctx.state, keep_from)


def disable(ctx: BlockContext, key: bytes) -> bool:
    """Refuse `key`'s blocks until the set changes; False if it is no authority or already so."""
    disabled = Disabled.get(ctx.state)
    if key in disabled or all(k != key for k, _ in Authorities.get(ctx.state)):
        return False
    Disabled.put(ctx.state, tuple(sorted((*disabled, key))))
    ctx.deposit_event(AuthorityDisabled, key)
    return True


def set_genesis_authorities(ctx: BlockContext, authorities: Sequence[tuple[bytes, int]]) -> None:
    """Make `authorities` the first authority set (set id 0): staking's genesis election."""
    _check_authorities(authorities)
    Authorities.put(ctx.state, tuple(authorities))
    SetId.put(ctx.state, 0)
    HistoricalSets.insert(ctx.state, 0, tuple(authorities))


class SessionGenesis(Protocol):
    """The part of the genesis config that session builds from."""

    @property
    def slot_duration_ms(self) -> int: ...


class Session(Pallet):
    """The session pallet: the weighted authority set, its set id, and the slot duration."""

    NAME = NAME
    EVENTS = (NewAuthorities, AuthorityDisabled)

    # Genesis

    def build_genesis(self, ctx: BlockContext, config: SessionGenesis) -> None:
        """The slot duration (staking's genesis election gives the first authority set)."""
        slot_duration_ms = config.slot_duration_ms
        if not MIN_SLOT_DURATION_MS <= slot_duration_ms <= MAX_SLOT_DURATION_MS:
            raise ValueError(
                f"the slot duration must be {MIN_SLOT_DURATION_MS} to {MAX_SLOT_DURATION_MS} ms"
            )
        SlotDurationMs.put(ctx.state, slot_duration_ms)
