"""Finality precommits noted on chain: a point per voter per round, refusals, bounded rounds and the
weight of the signature checks.

Alice, Bob and Charlie validate from genesis with 3000, 2000 and 1000 XPL; eras are 10 blocks;
three validators are elected when at least two candidates are eligible (staking_helpers).
"""

from __future__ import annotations

from typing import Any

import pytest

from runtime.executive import CALLS
from runtime.pallets import staking
from runtime.primitives.keys import Keypair
from tests.runtime.pallets.staking_helpers import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    OUTSIDER,
    A,
    B,
    C,
    StakingChain,
    precommit,
    with_signature,
)


def test_noted_precommits_earn_their_voters_a_point_once_per_round(chain: StakingChain) -> None:
    out = chain.note_votes(OUTSIDER, 0, 1, [precommit(k) for k in (ALICE, BOB, ALICE)])
    assert out.error is None
    assert ("VotesNoted", (0, 1, 2)) in out.events
    points = {v: chain.activity(v) for v in (A, B, C)}
    assert points[A].precommits == points[B].precommits == 1 and points[C].precommits == 0
    again = chain.note_votes(OUTSIDER, 0, 1, [precommit(k) for k in (ALICE, BOB, CHARLIE)])
    assert again.error == "RoundAlreadyNoted"
    assert chain.activity(CHARLIE).precommits == 0
    assert (
        chain.note_votes(OUTSIDER, 0, 2, [precommit(k, round_=2) for k in (ALICE, BOB)]).error
        is None
    )
    assert chain.activity(ALICE).precommits == 2


@pytest.mark.parametrize(
    ("precommits", "set_id", "error"),
    [
        pytest.param(
            [precommit(ALICE), with_signature(precommit(BOB), precommit(ALICE).signature)],
            0,
            "BadPrecommit",
            id="bad-signature",
        ),
        pytest.param(
            [precommit(ALICE), precommit(BOB), precommit(DAVE)], 0, "NotAVoter", id="non-voter"
        ),
        pytest.param(
            [precommit(ALICE), precommit(BOB, round_=2)], 0, "BadPrecommit", id="other-round"
        ),
        pytest.param([precommit(BOB), precommit(CHARLIE)], 0, "NoSupermajority", id="minority"),
        pytest.param(
            [precommit(ALICE, set_id=4), precommit(BOB, set_id=4)], 4, "UnknownSet", id="set"
        ),
    ],
)
def test_note_votes_refusals(
    chain: StakingChain, precommits: list[staking.Precommit], set_id: int, error: str
) -> None:
    out = chain.note_votes(OUTSIDER, set_id, 1, precommits)
    assert out.error == error
    assert all(chain.activity(v).precommits == 0 for v in (A, B, C))
    assert staking.NotedRounds.get(chain.overlay()) == ()


def test_noted_rounds_are_bounded_and_older_rounds_refused(chain: StakingChain) -> None:
    def note(round_: int) -> tuple[Keypair, str, str, tuple[Any, ...]]:
        signed = [precommit(k, round_=round_) for k in (ALICE, BOB)]
        return (OUTSIDER, "staking", "note_votes", (0, round_, signed))

    outcomes = chain.calls(*(note(r) for r in range(1, staking.MAX_NOTED_ROUNDS + 1)))
    assert all(o.error is None for o in outcomes)
    assert chain.note_votes(
        OUTSIDER, 0, 0, [precommit(k, round_=0) for k in (ALICE, BOB)]
    ).error == ("RoundAlreadyNoted")
    last = staking.MAX_NOTED_ROUNDS + 1
    signed = [precommit(k, round_=last) for k in (ALICE, BOB)]
    assert chain.note_votes(OUTSIDER, 0, last, signed).error is None
    noted = staking.NotedRounds.get(chain.overlay())
    assert len(noted) == staking.MAX_NOTED_ROUNDS and noted[0] == (0, 2)
    again = [precommit(k, round_=1) for k in (ALICE, BOB)]
    assert chain.note_votes(OUTSIDER, 0, 1, again).error == "RoundAlreadyNoted"


def test_the_weight_of_note_votes_covers_its_signature_checks() -> None:
    call_def = CALLS[("staking", "note_votes")]
    one = call_def.weight((0, 1, [precommit(ALICE)]))
    three = call_def.weight((0, 1, [precommit(k) for k in (ALICE, BOB, CHARLIE)]))
    assert three - one == 2 * staking.SIGNATURE_WEIGHT
    assert one >= staking.NOTE_VOTES_WEIGHT + staking.SIGNATURE_WEIGHT
