"""Finality precommits noted on chain: a point per voter per window of blocks, only for blocks of
this chain, refusals, the weight of the signature checks, and the notes of made-up rounds by a
group with more than 2/3 of the stake.

Alice, Bob and Charlie validate from genesis with 3000, 2000 and 1000 XPL; eras are 10 blocks;
three validators are elected when at least two candidates are eligible (staking_helpers). Alice
and Bob together hold more than 2/3 of the weight.
"""

from __future__ import annotations

from collections.abc import Callable
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
    staking_chain,
    with_signature,
)

EVERY = staking.NOTE_VOTES_EVERY


def test_noted_precommits_earn_their_voters_a_point_once_per_window(chain: StakingChain) -> None:
    chain.advance(5)
    out = chain.note_votes(OUTSIDER, 0, 1, [chain.precommit(k, 4) for k in (ALICE, BOB, ALICE)])
    assert out.error is None
    assert ("VotesNoted", (0, 1, 2)) in out.events
    points = {v: chain.activity(v) for v in (A, B, C)}
    assert points[A].precommits == points[B].precommits == 1 and points[C].precommits == 0
    # The same window again: only the voter not credited there yet earns a point.
    full = [chain.precommit(k, 5, round_=2) for k in (ALICE, BOB, CHARLIE)]
    out = chain.note_votes(OUTSIDER, 0, 2, full)
    assert ("VotesNoted", (0, 2, 1)) in out.events
    assert [chain.activity(v).precommits for v in (A, B, C)] == [1, 1, 1]
    assert chain.note_votes(OUTSIDER, 0, 2, full).error == "RoundAlreadyNoted"
    assert chain.head.number == 2 * EVERY
    later = [chain.precommit(k, 2 * EVERY, round_=3) for k in (ALICE, BOB)]
    assert chain.note_votes(OUTSIDER, 0, 3, later).error is None
    assert [chain.activity(v).precommits for v in (A, B, C)] == [2, 2, 1]


PrecommitsOf = Callable[[StakingChain], list[staking.Precommit]]


@pytest.mark.parametrize(
    ("precommits", "set_id", "error"),
    [
        pytest.param(
            lambda c: [
                c.precommit(ALICE, 0),
                with_signature(c.precommit(BOB, 0), c.precommit(ALICE, 0).signature),
            ],
            0,
            "BadPrecommit",
            id="bad-signature",
        ),
        pytest.param(
            lambda c: [c.precommit(k, 0) for k in (ALICE, BOB, DAVE)],
            0,
            "NotAVoter",
            id="non-voter",
        ),
        pytest.param(
            lambda c: [c.precommit(ALICE, 0), c.precommit(BOB, 0, round_=2)],
            0,
            "BadPrecommit",
            id="other-round",
        ),
        pytest.param(
            lambda c: [c.precommit(k, 0) for k in (BOB, CHARLIE)],
            0,
            "NoSupermajority",
            id="minority",
        ),
        pytest.param(
            lambda c: [c.precommit(k, 0, set_id=4) for k in (ALICE, BOB)],
            4,
            "UnknownSet",
            id="set",
        ),
        pytest.param(
            lambda c: [precommit(k) for k in (ALICE, BOB)],
            0,
            "NoSupermajority",
            id="made-up-block",
        ),
        pytest.param(
            lambda c: [c.precommit(ALICE, 0), precommit(BOB, number=0)],
            0,
            "NoSupermajority",
            id="half-on-another-fork",
        ),
        pytest.param(
            lambda c: [precommit(k, target=c.head.hash, number=1) for k in (ALICE, BOB)],
            0,
            "NoSupermajority",
            id="wrong-number",
        ),
    ],
)
def test_note_votes_refusals(
    chain: StakingChain, precommits: PrecommitsOf, set_id: int, error: str
) -> None:
    out = chain.note_votes(OUTSIDER, set_id, 1, precommits(chain))
    assert out.error == error
    assert all(chain.activity(v).precommits == 0 for v in (A, B, C))
    assert all(staking.NotedWindows.get(chain.overlay(), v) is None for v in (A, B, C))


def test_a_voter_is_credited_once_per_window_in_any_order_whoever_notes_first(
    chain: StakingChain,
) -> None:
    chain.advance(EVERY + 1)
    newer = [chain.precommit(k, EVERY, round_=9) for k in (ALICE, BOB)]
    assert chain.note_votes(OUTSIDER, 0, 9, newer).error is None
    # An older window still credits everyone: Charlie, and Alice and Bob too (their later window
    # was noted first, which takes nothing from the older one).
    old = [chain.precommit(k, 3, round_=2) for k in (ALICE, BOB, CHARLIE)]
    out = chain.note_votes(OUTSIDER, 0, 2, old)
    assert ("VotesNoted", (0, 2, 3)) in out.events
    assert [chain.activity(v).precommits for v in (A, B, C)] == [2, 2, 1]
    # Window 1 again: only Charlie, not credited there yet, earns a point; then nobody does.
    again = [chain.precommit(k, EVERY + 1, round_=3) for k in (ALICE, BOB, CHARLIE)]
    assert chain.note_votes(OUTSIDER, 0, 3, again).error is None
    assert [chain.activity(v).precommits for v in (A, B, C)] == [2, 2, 2]
    assert chain.note_votes(OUTSIDER, 0, 3, again).error == "RoundAlreadyNoted"
    assert chain.note_votes(OUTSIDER, 0, 2, old).error == "RoundAlreadyNoted"


def test_blocks_before_the_era_and_the_window_before_it_earn_nothing(
    chain: StakingChain,
) -> None:
    chain.to_era_end()
    era_start = chain.head.number
    chain.advance(2)
    older = era_start - EVERY - 1
    out = chain.note_votes(OUTSIDER, 0, 1, [chain.precommit(k, older) for k in (ALICE, BOB)])
    assert out.error == "RoundAlreadyNoted"
    edge = [chain.precommit(k, era_start - EVERY, round_=2) for k in (ALICE, BOB)]
    assert chain.note_votes(OUTSIDER, 0, 2, edge).error is None
    assert chain.activity(ALICE).precommits == 1


def test_the_weight_of_note_votes_covers_its_signature_checks() -> None:
    call_def = CALLS[("staking", "note_votes")]
    one = call_def.weight((0, 1, [precommit(ALICE)]))
    three = call_def.weight((0, 1, [precommit(k) for k in (ALICE, BOB, CHARLIE)]))
    assert three - one == 2 * staking.SIGNATURE_WEIGHT
    assert one >= staking.NOTE_VOTES_WEIGHT + staking.SIGNATURE_WEIGHT


# A group with more than 2/3 of the stake notes rounds that never ran


Call = tuple[Keypair, str, str, tuple[Any, ...]]


def _honest_notes(chain: StakingChain) -> list[Call]:
    """What honest nodes note of era 0 up to block 8: one real round per window, everyone's
    precommits."""
    everyone = (ALICE, BOB, CHARLIE)
    return [
        (
            OUTSIDER,
            "staking",
            "note_votes",
            (0, r, [chain.precommit(k, n, round_=r) for k in everyone]),
        )
        for r, n in ((1, 3), (2, 7), (3, 8))
    ]


def _made_up_notes(chain: StakingChain, rounds: list[int]) -> list[Call]:
    """Alice's notes of rounds that never ran, with her and Bob's precommits: for a block of the
    chain (cycling through the recorded ones) or, every other round, for a block it never had."""
    calls: list[Call] = []
    for i, r in enumerate(rounds):
        if i % 2:
            signed = [precommit(k, round_=r, target=bytes([i % 256]) * 32) for k in (ALICE, BOB)]
        else:
            signed = [chain.precommit(k, i % 9, round_=r) for k in (ALICE, BOB)]
        calls.append((ALICE, "staking", "note_votes", (0, r, signed)))
    return calls


@pytest.mark.parametrize(
    "rounds",
    [
        pytest.param(list(range(1_000, 1_200)), id="200-made-up-rounds"),
        pytest.param([2**64 - 1 - i for i in range(256)], id="256-huge-rounds"),
    ],
)
def test_noting_made_up_rounds_earns_the_group_nothing_and_locks_nobody_out(
    rounds: list[int],
) -> None:
    honest, attacked = staking_chain(), staking_chain()
    for chain in (honest, attacked):
        chain.advance(8)
    before = {c: c.total(ALICE) + c.total(BOB) for c in (honest, attacked)}
    honest_outcomes = honest.calls(*_honest_notes(honest))
    outcomes = attacked.calls(*_made_up_notes(attacked, rounds), *_honest_notes(attacked))
    # The honest notes after the made-up ones still go through and credit Charlie.
    assert [o.error for o in honest_outcomes] == [None] * 3
    assert [o.error for o in outcomes[-3:]] == [None] * 3
    points = {c: [c.activity(v).points for v in (A, B, C)] for c in (honest, attacked)}
    assert points[attacked] == points[honest]
    for chain in (honest, attacked):
        chain.to_era_end()
        assert chain.problems() == []
    # The group's era reward and fees against honest noting alone: what the made-up rounds paid.
    gain = {c: c.total(ALICE) + c.total(BOB) - before[c] for c in (honest, attacked)}
    profit = gain[attacked] - gain[honest]
    assert profit < 0
