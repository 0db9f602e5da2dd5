"""Finality precommits noted on chain (`note_votes`): which rounds count, and who is credited.

A note carries one round's precommits. It counts only as the finalization of blocks of this
chain: a precommit counts if it votes for a block the chain records (`system.BlockHash`, the last
BLOCK_HASH_COUNT blocks), and the counted precommits must weigh more than 2/3 of the set (all on
one chain, they finalize the lowest block among them). Blocks are cut into windows of
NOTE_VOTES_EVERY blocks (the node notes one finalization per window,
`chain.core.round_duties.notes_votes`), and a voter earns a point for a counted precommit only if
the precommit's block lies in a later window than the one of its last credited precommit
(`NotedWindows`), and in the era or the window before it. So a voter earns at most one precommit
point per window, in increasing order; a note that credits nobody is refused. The round number
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
any later note of a real round carrying its precommit still credits it, in any order. The group
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
from typing import Final

from runtime.consensus import Precommit
from runtime.framework import U64_CODEC, BlockContext, StorageMap
from runtime.pallets import session, system
from runtime.pallets.staking.constants import NAME
from runtime.pallets.staking.errors import (
    BadPrecommit,
    NoSupermajority,
    NotAVoter,
    RoundAlreadyNoted,
    UnknownSet,
)
from runtime.pallets.staking.storage import EraStart
from runtime.state import StateOverlay

NOTE_VOTES_EVERY: Final = 4
"""Blocks per window: the node notes one finalization per window, and a voter earns at most one
precommit point per window."""


NotedWindows: Final = StorageMap[bytes, int](NAME, "NotedWindows", lambda k: k, U64_CODEC)
"""The window of each session key's latest credited precommit."""


def _on_chain(state: StateOverlay, precommit: Precommit) -> bool:
    """Whether the precommit votes for a block of this chain (one of the recorded recent ones)."""
    return system.BlockHash.get(state, precommit.number) == precommit.block_hash


def _in_set(precommit: Precommit, previous_set: bool, handover: int) -> bool:
    """Whether the precommit's block is one its set finalizes: up to the handover block for the
    set before the current one, from it on for the current set (whose rounds start there)."""
    return precommit.number <= handover if previous_set else precommit.number >= handover


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
    era_start = EraStart.get(state)
    credited: list[bytes] = []
    for precommit in counted:
        window = precommit.number // NOTE_VOTES_EVERY
        last = NotedWindows.get(state, precommit.voter)
        if (last is None or window > last) and precommit.number + NOTE_VOTES_EVERY >= era_start:
            NotedWindows.insert(state, precommit.voter, window)
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
    the oldest a precommit may still be credited for (a voter with no window is credited the
    same). So `NotedWindows` holds no more than the voters of the last two sets.

    What a voter can still do: leave the sets and, at the next set change but one, come back
    with the same session key, and be credited again for a window it was credited for before
    it left. That takes two set changes, and so (eras lasting at least 2 windows) at least one
    forced era end, an active validator slashed for it; and gains one precommit point."""
    oldest = max(0, era_start - NOTE_VOTES_EVERY) // NOTE_VOTES_EVERY
    for key in keys:
        last = NotedWindows.get(state, key)
        if last is not None and (key not in still_voting or last < oldest):
            NotedWindows.remove(state, key)


def noted_window_problems(latest_block: int, noted: dict[bytes, int]) -> list[str]:
    """Voters credited for a window that no block has reached yet (empty: none)."""
    return [
        f"session key {key.hex()} was credited for window {window}, past block {latest_block}"
        for key, window in noted.items()
        if window > latest_block // NOTE_VOTES_EVERY
    ]
