"""A round's support, computed block by block for all voters at once, equals the voter-by-voter
count it replaces, on random block trees and votes (equivocators and missing blocks included)."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.core.rounds import Round, _support_per_voter, support
from runtime.consensus import PRECOMMIT, PREVOTE, SignedVote
from runtime.pallets.session import AuthoritySet


def block_hash(i: int) -> bytes:
    return i.to_bytes(32, "big")


@st.composite
def rounds(
    draw: st.DrawFn,
) -> tuple[Round, AuthoritySet, dict[bytes, SimpleNamespace], SignedVote]:
    size = draw(st.integers(2, 14))
    # Block i's parent is some block before it: a tree rooted at block 0, at number depth.
    parents = [draw(st.integers(0, i - 1)) for i in range(1, size)]
    numbers = [0]
    for parent in parents:
        numbers.append(numbers[parent] + 1)
    missing = draw(st.sets(st.integers(1, size - 1), max_size=2))
    headers = {
        block_hash(i): SimpleNamespace(parent_hash=block_hash(parents[i - 1]))
        for i in range(1, size)
        if i not in missing
    }
    base = draw(st.integers(0, size - 1))
    round_ = Round(1, (block_hash(base), numbers[base]))
    voters = draw(st.integers(1, 7))
    authorities = AuthoritySet(
        0, tuple((bytes([v]) * 32, draw(st.integers(1, 100))) for v in range(voters))
    )
    lying = draw(st.booleans())
    for phase in (PREVOTE, PRECOMMIT):
        for v in range(voters):
            for _ in range(draw(st.integers(0, 2))):
                target = draw(st.integers(0, size - 1))
                number = numbers[target] + (draw(st.integers(-1, 1)) if lying else 0)
                vote = SignedVote(phase, 0, 1, block_hash(target), number, bytes([v]) * 32, b"")
                round_.add_vote(vote)
    target = draw(st.integers(0, size - 1))
    voter = bytes([draw(st.integers(0, voters - 1))]) * 32
    late = SignedVote(PREVOTE, 0, 1, block_hash(target), numbers[target], voter, b"")
    return round_, authorities, headers, late


@settings(max_examples=300, deadline=None)
@given(rounds())
def test_support_by_block_equals_support_by_voter(
    case: tuple[Round, AuthoritySet, dict[bytes, SimpleNamespace], SignedVote],
) -> None:
    round_, authorities, headers, late = case
    header_of = headers.get
    for _ in range(2):  # before and after a vote arrives (the round's tally is kept between)
        for phase in (PREVOTE, PRECOMMIT):
            expected = _support_per_voter(round_, phase, authorities, header_of)  # type: ignore[arg-type]
            assert support(round_, phase, authorities, header_of) == expected  # type: ignore[arg-type]
            voted = {v for v, votes in round_.votes[phase].items() if votes}
            assert round_.voted_weight(phase, authorities) == sum(
                authorities.weight_of(v) for v in voted
            )
        round_.add_vote(late)
