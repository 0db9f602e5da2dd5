"""Past eras as offences need them: where each began, which authority set ran it, and who backed
whom with how much, kept for `slash_window_eras` eras' worth of blocks after its end
(`offence_deadline`) and pruned beyond, with the authority sets only they still name.

An offence is punished against the era it happened in, not the era it is reported in: a slot
offence belongs to the era whose blocks that slot fell among (eras begin after the slot of the
block whose hook started them), a vote offence to the latest kept era of the set it names (as
Substrate maps a GRANDPA set to its latest session: a set spans several eras only while the
election keeps every key and weight unchanged). Offences older than the kept eras expire.

The window is counted in blocks, not eras: an equivocation report ends the era at the next block,
so a window of eras could be cut to a few blocks by an offender reporting sybil validators of its
own, one forced era each, and its offence would expire before anyone reported it. What it can
still do: nothing sooner. Each forced era end keeps one more era (and authority set) in the
window, at the cost of an active validator slashed `equivocation_slash_ppm` for it, so the kept
eras stay at most one per block of the window (`slash_window_eras * era_blocks`) and, unforced,
`slash_window_eras + 1`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from runtime import fields
from runtime.framework import (
    U64_CODEC,
    BlockContext,
    StorageMap,
    StorageValue,
    record_codec,
    value_codec,
)
from runtime.pallets import session
from runtime.pallets.staking.constants import NAME
from runtime.pallets.staking.params import StakingParams
from runtime.pallets.staking.storage import Active, CurrentEra, Exposure, Exposures
from runtime.primitives import codec
from runtime.schema import Record, param
from runtime.state import PrefixIterator, StateOverlay, StateReader


@dataclass(frozen=True, slots=True)
class EraRecord(Record):
    """Where an era began and which authority set ran it."""

    start_block: int = param(fields.U64)
    """The block whose hook started the era (0 for era 0); the blocks after it are the era's."""
    start_slot: int = param(fields.U64)
    """That block's Aura slot (0 for era 0): the era's slots are the later ones."""
    set_id: int = param(fields.U64)
    """The authority set in force for the era's blocks."""


@dataclass(frozen=True, slots=True)
class EraValidators(Record):
    """An era's validators as (stash, session key), sorted by stash."""

    validators: tuple[tuple[bytes, bytes], ...] = param(
        fields.tuple_type(fields.pair_type(fields.ACCOUNT, fields.ACCOUNT), session.MAX_AUTHORITIES)
    )


def _era_key(era: int) -> bytes:
    return era.to_bytes(8, "big")


def _era_stash_key(key: tuple[int, bytes]) -> bytes:
    return key[0].to_bytes(8, "big") + key[1]


# Storage

OldestEra: Final = StorageValue[int](NAME, "OldestEra", U64_CODEC, 0)
"""The oldest era still kept (its offences can still be reported)."""
Eras: Final = StorageMap[int, EraRecord](NAME, "Eras", _era_key, record_codec(EraRecord))
"""Each kept era's record, by era."""
ErasValidators: Final = StorageMap[int, EraValidators](
    NAME, "ErasValidators", _era_key, record_codec(EraValidators)
)
"""Each kept era's validators, by era."""
ErasExposures: Final = StorageMap[tuple[int, bytes], Exposure](
    NAME, "ErasExposures", _era_stash_key, record_codec(Exposure)
)
"""Each kept era's exposures, by (era, validator stash)."""
ErasPunished: Final = StorageMap[tuple[int, bytes], bool](
    NAME,
    "ErasPunished",
    _era_stash_key,
    value_codec(lambda v: v, lambda v: codec.expect_bool(v, "punished")),
)
"""The validators slashed for an offence of a kept era, by (era, validator stash): a validator is
slashed at most once an era, and the record goes with its era."""


# Recording and pruning


def window_blocks(p: StakingParams) -> int:
    """How many blocks after its era's end an offence can still be reported."""
    return p.slash_window_eras * p.era_blocks


def offence_deadline(state: StateOverlay, era: int, window: int) -> int | None:
    """The first block in which an offence of kept era `era` is too old to report: `window`
    blocks after the block that ended the era; None while the era has not ended."""
    following = Eras.get(state, era + 1)
    return None if following is None else following.start_block + window


def note_era(ctx: BlockContext, era: int, window: int) -> None:
    """Record era `era` as it starts now (its validators and exposures are the current ones),
    forget the eras whose offences expired `window` blocks after their end or earlier, and let
    session forget the authority sets no kept era (nor a note of the set before the current one)
    names."""
    state = ctx.state
    active = Active.get(state)
    set_id = session.SetId.get(state)
    Eras.insert(state, era, EraRecord(ctx.number, ctx.slot, set_id))
    ErasValidators.insert(state, era, EraValidators(active))
    for stash, _ in active:
        exposure = Exposures.get(state, stash)
        if exposure is not None:
            ErasExposures.insert(state, (era, stash), exposure)
    old = OldestEra.get(state)
    while old < era:  # several, if the window was shortened
        deadline = offence_deadline(state, old, window)
        if deadline is None or deadline > ctx.number:
            break
        kept = ErasValidators.get(state, old)
        for stash, _ in () if kept is None else kept.validators:
            ErasExposures.remove(state, (old, stash))
            ErasPunished.remove(state, (old, stash))
        ErasValidators.remove(state, old)
        Eras.remove(state, old)
        old += 1
    OldestEra.put(state, old)
    oldest_record = Eras.get(state, old)
    oldest_set = set_id if oldest_record is None else oldest_record.set_id
    session.forget_sets_before(ctx, min(oldest_set, max(set_id - 1, 0)))


# Finding an offence's era


def era_of_slot(state: StateOverlay, slot: int) -> int | None:
    """The kept era whose blocks slot `slot` fell among (a later slot: the current era); None if
    it is older than every kept era."""
    for era in range(CurrentEra.get(state), OldestEra.get(state) - 1, -1):
        record = Eras.get(state, era)
        if record is not None and record.start_slot < slot:
            return era
    return None


def era_of_set(state: StateOverlay, set_id: int) -> int | None:
    """The latest kept era that authority set `set_id` ran; None if none did."""
    for era in range(CurrentEra.get(state), OldestEra.get(state) - 1, -1):
        record = Eras.get(state, era)
        if record is None or record.set_id < set_id:
            return None  # set ids only grow from era to era
        if record.set_id == set_id:
            return era
    return None


def era_record(state: StateOverlay, era: int) -> EraRecord | None:
    """A kept era's record."""
    return Eras.get(state, era)


def validator_in(state: StateOverlay, era: int, session_key: bytes) -> bytes | None:
    """The stash that validated in era `era` with this session key, if one did."""
    kept = ErasValidators.get(state, era)
    for stash, key in () if kept is None else kept.validators:
        if key == session_key:
            return stash
    return None


def punish_once(state: StateOverlay, era: int, stash: bytes) -> bool:
    """Record that a validator is slashed for an offence of kept era `era`; False if it was
    already (a validator is slashed at most once an era, whatever it did in it: vote offences
    name any round number, so an offender could otherwise sign pairs for rounds that never ran
    and have a colluding reporter take its nominators' stake 10% at a time, the reporter's share
    outweighing its own loss)."""
    if ErasPunished.get(state, (era, stash)):
        return False
    ErasPunished.insert(state, (era, stash), True)
    return True


def exposure_in(state: StateOverlay, era: int, stash: bytes) -> Exposure | None:
    """A validator's exposure in a kept era."""
    return ErasExposures.get(state, (era, stash))


# Invariants


def history_problems(read: StateReader, iterate: PrefixIterator) -> list[str]:
    """Broken invariants of the kept eras: the current era is kept as it is, the kept eras are
    contiguous up to it, session still keeps each one's authority set, and no exposure outlives
    its era's validators."""
    state = StateOverlay(read)
    problems: list[str] = []
    current, oldest = CurrentEra.get(state), OldestEra.get(state)

    def keys(item: StorageMap[Any, Any]) -> list[bytes]:
        return [item.key_suffix(k) for k, _ in iterate(item.prefix)]

    eras = sorted(int.from_bytes(k, "big") for k in keys(Eras))
    if eras != list(range(oldest, current + 1)):
        problems.append(f"the kept eras are {eras}, not {oldest} to {current}")
    if sorted(int.from_bytes(k, "big") for k in keys(ErasValidators)) != eras:
        problems.append("the kept eras' records and validators differ")
    for era in eras:
        record = Eras.get(state, era)
        if record is not None and session.HistoricalSets.get(state, record.set_id) is None:
            problems.append(f"era {era}'s authority set {record.set_id} is no longer kept")
    kept = ErasValidators.get(state, current)
    if kept is None or kept.validators != Active.get(state):
        problems.append("the current era's kept validators are not the active ones")
    for stash, _ in Active.get(state):
        if ErasExposures.get(state, (current, stash)) != Exposures.get(state, stash):
            problems.append(f"validator {stash.hex()}'s kept exposure is not its current one")
    for item, what in ((ErasExposures, "an exposure"), (ErasPunished, "a punishment")):
        for key in keys(item):
            era, stash = int.from_bytes(key[:8], "big"), key[8:]
            validators = ErasValidators.get(state, era)
            if validators is None or all(s != stash for s, _ in validators.validators):
                problems.append(f"{what} of {stash.hex()} is kept for era {era} it did not run")
    return problems
