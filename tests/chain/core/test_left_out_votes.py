"""A voter left out of its window's note notes the round itself, and earns its precommit point.

Alice and Bob hold 5/6 of the staking tests' genesis set (staking_helpers): they note each
window's round with their own precommits only, leaving Charlie's out.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from chain.core.finality import Justification
from chain.core.left_out_votes import RECHECK_AFTER_BLOCKS, LeftOutVotes
from runtime.pallets import staking
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    BOB,
    CHARLIE,
    OUTSIDER,
    PARAMS,
    A,
    B,
    C,
    StakingChain,
    staking_chain,
)

EVERY = staking.NOTE_VOTES_EVERY


def _round(chain: StakingChain, number: int, round_: int) -> Justification:
    """The justification of a round in which all three precommitted block `number`."""
    precommits = tuple(
        chain.precommit(k, number, round_=round_)
        for k in sorted((ALICE, BOB, CHARLIE), key=lambda k: k.public)
    )
    return Justification(0, round_, chain.block_hash(number), number, precommits)


def test_a_voter_left_out_notes_the_round_itself_and_earns_its_point() -> None:
    chain = staking_chain()
    left_out = LeftOutVotes()
    chain.advance_to(2 * EVERY + 1)
    justification = _round(chain, 2 * EVERY, 1)
    left_out.finalized(C, 2 * EVERY - 1, justification)  # finality crossed the mark of window 2
    majority = [p for p in justification.precommits if p.voter != C]
    assert chain.note_votes(ALICE, 0, 1, majority).error is None
    assert [chain.activity(v).precommits for v in (A, B, C)] == [1, 1, 0]
    assert left_out.to_note(C, 2 * EVERY + RECHECK_AFTER_BLOCKS - 1, chain.overlay()) == []
    (due,) = left_out.to_note(C, 2 * EVERY + RECHECK_AFTER_BLOCKS, chain.overlay())
    out = chain.note_votes(CHARLIE, due.set_id, due.round, list(due.precommits))
    assert out.error is None
    assert [chain.activity(v).precommits for v in (A, B, C)] == [1, 1, 1]
    assert chain.problems() == []


def test_a_voter_credited_for_its_window_notes_nothing_again() -> None:
    chain = staking_chain()
    left_out = LeftOutVotes()
    chain.advance_to(EVERY + 1)
    justification = _round(chain, EVERY, 1)
    left_out.finalized(C, EVERY - 1, justification)
    assert chain.note_votes(ALICE, 0, 1, list(justification.precommits)).error is None
    assert left_out.to_note(C, EVERY + RECHECK_AFTER_BLOCKS, chain.overlay()) == []


def test_a_window_nobody_noted_is_not_noted_again() -> None:
    """Its noter offline, every voter would pay for a note only one gets in: none notes it."""
    chain = staking_chain()
    left_out = LeftOutVotes()
    chain.advance_to(EVERY + 1)
    left_out.finalized(C, EVERY - 1, _round(chain, EVERY, 1))
    assert left_out.to_note(C, EVERY + RECHECK_AFTER_BLOCKS, chain.overlay()) == []


def test_a_round_too_old_for_the_era_is_not_noted_again() -> None:
    """Left out in the last window of an era, a voter checking after the next era began would
    only pay for a refused note: it notes nothing."""
    chain = staking_chain()
    left_out = LeftOutVotes()
    chain.advance_to(2 * EVERY + 1)
    justification = _round(chain, 2 * EVERY, 1)
    left_out.finalized(C, 2 * EVERY - 1, justification)
    majority = [p for p in justification.precommits if p.voter != C]
    assert chain.note_votes(ALICE, 0, 1, majority).error is None
    chain.to_era_end()
    chain.advance_to(chain.head.number + 2 * EVERY)
    assert staking.EraStart.get(chain.overlay()) > 2 * EVERY + EVERY
    assert left_out.to_note(C, chain.head.number, chain.overlay()) == []


def test_rounds_that_cross_no_mark_or_lack_the_voters_precommit_are_not_kept() -> None:
    chain = staking_chain()
    chain.advance_to(2 * EVERY + 2)
    past_the_mark = LeftOutVotes()
    past_the_mark.finalized(C, 2 * EVERY, _round(chain, 2 * EVERY + 1, 1))  # window 2 noted already
    not_a_voter = LeftOutVotes()
    not_a_voter.finalized(OUTSIDER.public, 2 * EVERY - 1, _round(chain, 2 * EVERY, 2))
    assert past_the_mark.to_note(C, 10 * EVERY, chain.overlay()) == []
    assert not_a_voter.to_note(OUTSIDER.public, 10 * EVERY, chain.overlay()) == []
    nobody = LeftOutVotes()
    nobody.finalized(None, 2 * EVERY - 1, _round(chain, 2 * EVERY, 3))
    assert nobody.to_note(None, 10 * EVERY, chain.overlay()) == []


def test_a_left_out_voter_keeps_its_window_after_the_next_window_is_noted_with_it() -> None:
    """Alice and Bob (5/6 of the weight) note window 1 without Charlie; an honest noter notes
    window 2 with everyone before Charlie checks. Charlie's node still notes window 1 (the
    runtime keeps the era's credited windows, not only the latest), and earns its point: the
    group's share of the era's precommit points gains nothing from leaving it out, while its
    noter paid for its note. A copy of the same re-note would be refused: the node submits none."""
    chain = staking_chain(replace(PARAMS, era_blocks=100))
    chain.advance(EVERY + 2)
    first = _round(chain, EVERY, 2)
    watch = LeftOutVotes()
    watch.finalized(C, EVERY - 1, first)
    majority = [p for p in first.precommits if p.voter != C]
    group_fee = chain.note_votes(ALICE, 0, 2, majority).fee
    chain.advance(EVERY)
    assert (
        chain.note_votes(OUTSIDER, 0, 3, list(_round(chain, 2 * EVERY, 3).precommits)).error is None
    )
    chain.advance(RECHECK_AFTER_BLOCKS)
    (due,) = watch.to_note(C, EVERY + RECHECK_AFTER_BLOCKS, chain.overlay())
    out = chain.note_votes(CHARLIE, due.set_id, due.round, list(due.precommits))
    assert out.error is None and ("VotesNoted", (0, 2, 1)) in out.events
    points = [chain.activity(v).precommits for v in (A, B, C)]
    group_share_gain = Fraction(points[0] + points[1], sum(points)) - Fraction(2, 3)
    print(
        f"\n[left out] precommit credits Alice/Bob/Charlie {points}; Charlie paid {out.fee}, "
        f"the group's note {group_fee}; group's share gain {group_share_gain}"
    )
    assert points == [2, 2, 2] and group_share_gain == 0 and group_fee > 0
    again = LeftOutVotes()
    again.finalized(C, EVERY - 1, first)
    assert again.to_note(C, chain.head.number, chain.overlay()) == []
    assert chain.note_votes(CHARLIE, 0, 2, list(first.precommits)).error == "RoundAlreadyNoted"
    assert chain.problems() == []
