"""Finality precommits noted on chain (`note_votes`): which rounds count, and who is credited.

A note carries one round's precommits. It counts only as the finalization of blocks of this
chain: a precommit counts if it votes for a block the chain records (`system.BlockHash`, the last
BLOCK_HASH_COUNT blocks), and the counted precommits must weigh more than 2/3 of the set (all on
one chain, they finalize the lowest block among them). Blocks are cut into windows of
NOTE_VOTES_EVERY blocks (the node notes one finalization per window,
`chain.core.round_duties.notes_votes`), and a voter earns a point for a counted precommit only if
the precommit's block lies in a window it was not credited for yet (`NotedWindows`, a bitmap of
the era's windows per voter), and in the era or the window before it. So a voter earns at most one
precommit point per window, in any order; a note that credits nobody is refused. The round number
plays no part beyond the signatures, so no round number, however large, keeps a real round out.
A note names the current authority set or the one before it (the last rounds of a set finalize
the block that hands over to the next, and are noted after it). A set finalizes only its own
blocks: a note of the set before counts only precommits for blocks up to the handover block
(`session.set_changed_at`), a note of the current set only those for blocks from it on.

What an attacker can still do: a group with more than 2/3 of the weight can sign precommits for
rounds that never ran, but only for blocks this chain has, and each of its voters still gains at
most one point per window: an era's precommit points stay at most era_blocks / NOTE_VOTES_EVERY
+ 2 per voter, what an honest note of each window gives every voter, so made-up rounds gain it
only the windows no real round finalized into (finality jumping a whole window). No note can
take a window from another voter: a voter's credit depends only on its own precommit's block, so
any note of a real round carrying its precommit still credits it for that window, whatever later
windows were noted first. The group
can leave a minority's precommits out of the windows its own members note; a minority voter
then loses at most those windows' points (at most one per NOTE_VOTES_EVERY blocks, against
BLOCK_POINTS per block it authors) unless it notes the round itself. An older set in which the
group held more than 2/3 is refused; the set before the current one is not, and gives it nothing
more than the current one: its notes count only blocks up to the handover, which that set did
finalize, so a group that held more than 2/3 of it but lost that in the new set cannot note
made-up rounds of the old set for the new set's blocks. Precommits for a block this chain does
not have (another fork, a block newer than the including block's parent) earn nothing: their
voter is left out, not the note refused.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Final

from runtime import fields
from runtime.consensus import Precommit
from runtime.framework import BlockContext, StorageMap, record_codec
from runtime.pallets import session, system
from runtime.pallets.staking.constants import MAX_ERA_BLOCKS, NAME
from runtime.pallets.staking.errors import (
    BadPrecommit,
    NoSupermajority,
    NotAVoter,
    RoundAlreadyNoted,
    UnknownSet,
)
from runtime.pallets.staking.storage import EraStart
from runtime.schema import Record, param
from runtime.state import StateOverlay

NOTE_VOTES_EVERY: Final = 4
"""Blocks per window: the node notes one finalization per window, and a voter earns at most one
precommit point per window."""


MAX_WINDOW_BYTES: Final = (MAX_ERA_BLOCKS // NOTE_VOTES_EVERY + 2) // 8 + 1
"""Bytes of a voter's bitmap of credited windows: one bit for each window a precommit may be
credited for, from the window before the era's first block to the longest era's last."""


@dataclass(frozen=True, slots=True)
class CreditedWindows(Record):
    """The windows a session key was credited for: window `first + i` for each bit `i` set in
    `bits` (little-endian), `first` the oldest window still creditable."""

    first: int = param(fields.U64)
    bits: bytes = param(fields.bytes_type(MAX_WINDOW_BYTES))

    @property
    def mask(self) -> int:
        """The bitmap as an integer."""
        return int.from_bytes(self.bits, "little")

    @property
    def latest(self) -> int:
        """The latest credited window (`first` - 1 if none)."""
        return self.first + self.mask.bit_length() - 1

    def has(self, window: int) -> bool:
        """Whether `window` was credited."""
        return window >= self.first and bool(self.mask >> (window - self.first) & 1)


def _windows(first: int, mask: int) -> CreditedWindows:
    return CreditedWindows(first, mask.to_bytes((mask.bit_length() + 7) // 8, "little"))


NotedWindows: Final = StorageMap[bytes, CreditedWindows](
    NAME, "NotedWindows", lambda k: k, record_codec(CreditedWindows)
)
"""The windows each session key was credited for, from the oldest still creditable on."""


def is_credited(state: StateOverlay, voter: bytes, window: int) -> bool:
    """Whether `voter` was credited for window `window`."""
    noted = NotedWindows.get(state, voter)
    return noted is not None and noted.has(window)


def creditable(state: StateOverlay, precommit: Precommit) -> bool:
    """Whether a note may still credit the precommit's voter for it: its block is the era's or
    in the window before it, and the voter was not credited for its window yet."""
    return precommit.number + NOTE_VOTES_EVERY >= EraStart.get(state) and not is_credited(
        state, precommit.voter, precommit.number // NOTE_VOTES_EVERY
    )


def _credit(state: StateOverlay, voter: bytes, window: int) -> None:
    """Credit `voter` for `window`, the bitmap starting at the oldest creditable window."""
    noted = NotedWindows.get(state, voter)
    oldest = max(0, EraStart.get(state) - NOTE_VOTES_EVERY) // NOTE_VOTES_EVERY
    first, mask = (oldest, 0) if noted is None else (noted.first, noted.mask)
    if window < first:  # not reached: creditable windows are never older than `oldest`
        first, mask = window, mask << (first - window)
    NotedWindows.insert(state, voter, _windows(first, mask | 1 << (window - first)))


def _on_chain(state: StateOverlay, precommit: Precommit) -> bool:
    """Whether the precommit votes for a block of this chain (one of the recorded recent ones)."""
    return system.BlockHash.get(state, precommit.number) == precommit.block_hash


def _in_set(precommit: Precommit, previous_set: bool, handover: int) -> bool:
    """Whether the precommit's block is one its set finalizes: up to the handover block for the
    set before the current one, from it on for the current set (whose rounds start there)."""
    return precommit.number <= handover if previous_set else precommit.number >= handover


def would_credit(state: StateOverlay, set_id: int, precommit: Precommit) -> bool:
    """Whether a note of set `set_id` that holds more than 2/3 of its weight, `precommit` among
    them, would credit the precommit's voter now: the set can still be noted, the precommit's
    block is one of this chain's that the set finalizes, and its voter can still be credited
    for it (`creditable`). A node checks it before noting a round that left it out, so as not
    to pay for a note the runtime would refuse."""
    set_now = session.SetId.get(state)
    if not set_now <= set_id + 1 <= set_now + 1:
        return False
    handover = session.set_changed_at(state)
    return (
        _on_chain(state, precommit)
        and _in_set(precommit, set_id + 1 == set_now, handover)
        and creditable(state, precommit)
    )


def noted_voters(
    ctx: BlockContext, set_id: int, round_: int, precommits: list[Precommit]
) -> list[bytes]:
    """Check a note of round `round_` of set `set_id`; the voters (session keys) it credits, each
    now credited for its precommit's window. Raises the staking error that refuses it."""
    state = ctx.state
    authorities = session.historical_set(ctx, set_id)
    if authorities is None or set_id + 1 < session.SetId.get(state):
        raise UnknownSet()
    previous_set = set_id + 1 == session.SetId.get(state)
    handover = session.set_changed_at(state)
    seen: set[bytes] = set()
    counted: list[Precommit] = []
    weight = 0
    for precommit in precommits:
        voter_weight = authorities.weight_of(precommit.voter)
        if voter_weight == 0:
            raise NotAVoter()
        if precommit.voter in seen:
            continue
        seen.add(precommit.voter)
        if not precommit.signature_is_valid(set_id, round_):
            raise BadPrecommit()
        if _on_chain(state, precommit) and _in_set(precommit, previous_set, handover):
            counted.append(precommit)
            weight += voter_weight
    if not authorities.is_supermajority(weight):
        raise NoSupermajority()
    credited: list[bytes] = []
    for precommit in counted:
        if creditable(state, precommit):
            _credit(state, precommit.voter, precommit.number // NOTE_VOTES_EVERY)
            credited.append(precommit.voter)
    if not credited:
        raise RoundAlreadyNoted()
    return credited


def forget_old_windows(
    state: StateOverlay, keys: Iterable[bytes], still_voting: Collection[bytes], era_start: int
) -> None:
    """Forget the credited windows of `keys` (the voters of the current and the previous set
    before an era's end) that can no longer refuse a credit: all of those no longer in
    `still_voting` (the voters of those sets after it), which no note can credit any more; and
    of the others, those older than the window before block `era_start` (the new era's first),
    the oldest a precommit may still be credited for. So `NotedWindows` holds no more than the
    voters of the last two sets, each a bitmap of at most an era's windows and two.

    What a voter can still do: leave the sets and, at the next set change but one, come back
    with the same session key, and be credited again for a window it was credited for before
    it left. That takes two set changes, and so (eras lasting at least 2 windows) at least one
    forced era end, an active validator slashed for it; and gains one precommit point."""
    oldest = max(0, era_start - NOTE_VOTES_EVERY) // NOTE_VOTES_EVERY
    for key in keys:
        noted = NotedWindows.get(state, key)
        if noted is None or (key in still_voting and noted.first >= oldest):
            continue
        mask = noted.mask >> max(0, oldest - noted.first)
        if key not in still_voting or mask == 0:
            NotedWindows.remove(state, key)
        else:
            NotedWindows.insert(state, key, _windows(oldest, mask))


def noted_window_problems(latest_block: int, noted: dict[bytes, CreditedWindows]) -> list[str]:
    """Voters credited for a window that no block has reached yet (empty: none)."""
    return [
        f"session key {key.hex()} was credited for window {windows.latest}, past block "
        f"{latest_block}"
        for key, windows in noted.items()
        if windows.latest > latest_block // NOTE_VOTES_EVERY
    ]
