"""Final review of staking: the re-note of a left-out precommit is foreclosed by any later
window's note that credits the voter, since a voter is credited only in increasing window order.
"""

from __future__ import annotations

from dataclasses import replace

from chain.core.finality import Justification
from chain.core.left_out_votes import RECHECK_AFTER_BLOCKS, LeftOutVotes
from runtime.pallets import staking
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    BOB,
    CHARLIE,
    OUTSIDER,
    PARAMS,
    staking_chain,
)

EVERY = staking.NOTE_VOTES_EVERY


def test_a_left_out_voter_loses_its_window_once_the_next_window_is_noted_with_it() -> None:
    chain = staking_chain(replace(PARAMS, era_blocks=100))
    chain.advance(EVERY + 2)
    # Window 1 finalizes at block EVERY; Alice and Bob (5/6 of the weight) note it without
    # Charlie, whose precommit is in the round's justification all the same.
    full = [chain.precommit(k, EVERY, round_=2) for k in (ALICE, BOB, CHARLIE)]
    justification = Justification(0, 2, chain.block_hash(EVERY), EVERY, tuple(full))
    watch = LeftOutVotes()
    watch.finalized(CHARLIE.public, EVERY - 1, justification)
    assert chain.note_votes(ALICE, 0, 2, full[:2]).error is None
    # The next window is noted by an honest noter, with everyone (as the rotation does).
    chain.advance(EVERY)
    nxt = [chain.precommit(k, 2 * EVERY, round_=3) for k in (ALICE, BOB, CHARLIE)]
    assert chain.note_votes(OUTSIDER, 0, 3, nxt).error is None
    chain.advance(RECHECK_AFTER_BLOCKS)
    # Charlie's node does not note the left-out round, and if it did the note would be refused.
    assert watch.to_note(CHARLIE.public, EVERY + RECHECK_AFTER_BLOCKS, chain.overlay()) == []
    out = chain.note_votes(CHARLIE, 0, 2, full)
    assert out.error == "RoundAlreadyNoted" and out.fee > 0
    points = [chain.activity(k).precommits for k in (ALICE, BOB, CHARLIE)]
    print(f"\n[left out] precommit credits Alice/Bob/Charlie {points}; Charlie paid {out.fee} "
          "for a refused re-note")
    assert points == [2, 2, 1]  # Charlie lost window 1 for good
