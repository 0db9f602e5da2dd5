"""Compute committees drawn by stake: distinct members of the set, in proportion to stake, never a
disabled authority.

Alice, Bob and Charlie validate from genesis with 3000, 2000 and 1000 XPL; eras are 10 blocks;
three validators are elected when at least two candidates are eligible (staking_helpers).
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.framework import BlockContext
from runtime.pallets import compute, session
from runtime.primitives.hashing import ZERO_HASH, blake2b_256
from runtime.state import StateOverlay
from tests.runtime.pallets.staking_helpers import (
    BOB,
    REPORTER,
    B,
    StakingChain,
    vote_equivocation,
)


def committee_context(authorities: list[tuple[bytes, int]]) -> BlockContext:
    state = StateOverlay(lambda _key: None)
    session.Authorities.put(state, tuple(authorities))
    return BlockContext(
        state=state,
        number=1,
        parent_hash=ZERO_HASH,
        timestamp=0,
        author=bytes(32),
        genesis_hash=ZERO_HASH,
    )


def _key(i: int) -> bytes:
    return blake2b_256(b"authority" + bytes([i]))


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(st.integers(1, 10**24), min_size=1, max_size=12),
    size=st.integers(1, 16),
    seed=st.binary(min_size=32, max_size=32),
)
def test_a_committee_is_distinct_members_of_the_set_and_depends_only_on_the_seed(
    weights: list[int], size: int, seed: bytes
) -> None:
    authorities = [(_key(i), w) for i, w in enumerate(weights)]
    ctx = committee_context(authorities)
    drawn = compute.draw_committee(ctx, seed, size)
    assert len(drawn) == min(size, len(weights)) == len(set(drawn))
    assert set(drawn) <= {k for k, _ in authorities}
    assert compute.draw_committee(committee_context(authorities), seed, size) == drawn


def test_a_heavier_authority_is_drawn_in_proportion_to_its_stake() -> None:
    weights = [1, 2, 3, 4]
    authorities = [(_key(i), w * 10**15) for i, w in enumerate(weights)]
    ctx = committee_context(authorities)
    draws = 4_000
    alone = Counter(
        compute.draw_committee(ctx, blake2b_256(i.to_bytes(4, "big")), 1)[0] for i in range(draws)
    )
    for (key, _), w in zip(authorities, weights, strict=True):
        assert abs(alone[key] / draws - w / sum(weights)) < 0.03, (w, alone[key])
    pairs = Counter(
        key
        for i in range(draws)
        for key in compute.draw_committee(ctx, blake2b_256(b"pair" + i.to_bytes(4, "big")), 2)
    )
    counts = [pairs[k] for k, _ in authorities]
    assert counts == sorted(counts) and sum(counts) == 2 * draws


def test_a_disabled_authority_sits_on_no_committee(chain: StakingChain) -> None:
    chain.report(REPORTER, vote_equivocation(BOB))
    builder = chain.builder()
    for i in range(50):
        committee = compute.draw_committee(builder.context, i.to_bytes(32, "big"), 3)
        assert B not in committee and len(committee) == 2
