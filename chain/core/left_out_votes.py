"""A voter's own precommits that the note of their window left out, noted again by the voter.

Each window of NOTE_VOTES_EVERY blocks, one authority in turn notes on chain the precommits of the
round that finalized past the window's mark (`round_duties.notes_votes`), earning each voter in
it a precommit point. A noter with more than 2/3 of the weight behind it can leave a minority's
precommits out. The runtime credits each voter once per window, whoever notes it, so a voter left
out notes the round itself: for each finalization that crossed a mark and carries its own
precommit, it checks, once RECHECK_AFTER_BLOCKS more blocks are final, whether the finalized state
credits another voter of the round for its own window (a note was made) and whether a note of the
round would still credit it (`staking.would_credit`: it was left out, and no later window's note
forecloses it, since the runtime keeps each voter's credited windows of the era), and if so
submits the round's justification (more than 2/3 of
the weight, its own precommit among them) as its own note. It pays that note's fee only when it
was left out, and the note credits only the voters left out. A window nobody noted (its noter
offline) is not noted again: every voter would pay for a note only one of them gets in.

What a group with more than 2/3 of the weight can still do: leave the minority out of every note,
so that each left-out voter pays one note's fee per window to get its point (the points are still
earned, the group gains none of them), and several left-out voters may each submit one, the
first credit them all and the others being refused for their fee.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from chain.core.finality import Justification
from runtime.pallets import staking
from runtime.state import StateOverlay

RECHECK_AFTER_BLOCKS: Final = 3 * staking.NOTE_VOTES_EVERY
"""Blocks finalized past a window's mark before a voter checks that the window's note credited
it: the noter pools its note as soon as it finalizes the mark, and a block or two include it."""
MAX_WAITING: Final = 8
"""Finalizations a voter keeps to check at once (the oldest are dropped past this)."""


class LeftOutVotes:
    """The finalizations whose note may have left a voter's precommit out, until checked."""

    def __init__(self) -> None:
        self._waiting: deque[tuple[int, int, Justification]] = deque(maxlen=MAX_WAITING)

    def finalized(self, voter: bytes | None, was_final: int, justification: Justification) -> None:
        """Finality moved from block `was_final` by `justification`: remember it if it crossed a
        window's mark (so that it is the round noted for that window) with `voter`'s precommit
        in it."""
        now_final = justification.number
        mark = now_final - now_final % staking.NOTE_VOTES_EVERY
        own = [p for p in justification.precommits if p.voter == voter]
        if voter is None or mark <= was_final or not own:
            return
        self._waiting.append((mark, own[0].number, justification))

    def to_note(
        self, voter: bytes | None, finalized: int, state: StateOverlay
    ) -> list[Justification]:
        """The remembered rounds to note now: those RECHECK_AFTER_BLOCKS or more behind the
        finalized block `finalized` for whose window the finalized `state` credits another of
        the round's voters but not `voter`, and whose note the runtime would credit `voter` for
        (`staking.would_credit`: the set still noted, the block still this chain's, the window
        not yet credited and not older than the window before the era's first block); each is
        checked once, then forgotten."""
        due: list[Justification] = []
        while self._waiting and self._waiting[0][0] + RECHECK_AFTER_BLOCKS <= finalized:
            _, _, justification = self._waiting.popleft()
            own = next(p for p in justification.precommits if p.voter == voter)
            if staking.would_credit(state, justification.set_id, own) and any(
                staking.is_credited(state, p.voter, p.number // staking.NOTE_VOTES_EVERY)
                for p in justification.precommits
                if p.voter != voter
            ):
                due.append(justification)
        return due
