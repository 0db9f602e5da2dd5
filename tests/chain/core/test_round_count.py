"""What `decide` keeps of a round between calls (each phase's support, added to vote by vote, and
the headers it read) gives what a recount from scratch gives, whatever happens between two calls:
votes (repeats, equivocations, votes for blocks not stored yet or at a false height), blocks
imported, forks that finality abandons removed, any header removed, and the authority set
replaced (by an equal one too)."""

from __future__ import annotations

from contextlib import suppress
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.core.rounds import Round, decide, recount
from runtime.consensus import PRECOMMIT, PREVOTE, SignedVote
from runtime.pallets.session import AuthoritySet

Headers = dict[bytes, SimpleNamespace]


def block_hash(i: int) -> bytes:
    return i.to_bytes(32, "big")


def voter_key(v: int) -> bytes:
    return bytes([v + 1]) * 32


def outcome(round_: Round, authorities: AuthoritySet) -> tuple[object, ...]:
    return (
        round_.prevote_ghost,
        round_.precommit_ghost,
        round_.estimate,
        round_.completable,
        round_.voted_weight(PREVOTE, authorities),
        round_.voted_weight(PRECOMMIT, authorities),
    )


def recounted(round_: Round, authorities: AuthoritySet, headers: Headers) -> tuple[object, ...]:
    """The same votes, counted in the same order into a fresh round, decided from scratch."""
    fresh = Round(round_.number, round_.base)
    for phase in (PREVOTE, PRECOMMIT):
        for vote in round_._counted[phase]:
            fresh.add_vote(vote)
    recount(fresh, authorities, headers.get)  # type: ignore[arg-type]
    return outcome(fresh, authorities)


def descendants(parents: list[int], root: int) -> set[int]:
    out = {root}
    for i in range(1, len(parents) + 1):
        if parents[i - 1] in out:
            out.add(i)
    return out


def ancestors(parents: list[int], block: int) -> set[int]:
    out = {block}
    while block != 0:
        block = parents[block - 1]
        out.add(block)
    return out


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[int], list[int], int, list[tuple[object, ...]]]:
    size = draw(st.integers(2, 12))
    # Block i's parent is one of the few before it: a bushy tree rooted at block 0.
    parents = [draw(st.integers(max(0, i - 3), i - 1)) for i in range(1, size)]
    numbers = [0]
    for parent in parents:
        numbers.append(numbers[parent] + 1)
    stored = draw(st.sets(st.integers(1, size - 1)))
    base = draw(st.integers(0, min(2, size - 1)))
    steps: list[tuple[object, ...]] = []
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(
            st.sampled_from(("vote", "vote", "vote", "import", "finalize", "remove", "set", "skip"))
        )
        if kind == "vote":
            block = draw(st.integers(0, size - 1))
            lie = draw(st.sampled_from((0, 0, 0, 0, 0, 0, -1, 1)))
            steps.append(
                (
                    "vote",
                    draw(st.sampled_from((PREVOTE, PRECOMMIT))),
                    draw(st.integers(0, 5)),
                    block,
                    numbers[block] + lie,
                )
            )
        elif kind in ("import", "remove", "finalize"):
            steps.append((kind, draw(st.integers(0, size - 1))))
        elif kind == "set":
            steps.append(("set", draw(st.integers(0, 2))))
        else:
            steps.append(("skip",))
    return parents, sorted(stored), base, steps


SETS = [
    AuthoritySet(0, tuple((voter_key(v), w) for v, w in enumerate((1, 2, 3, 1, 5, 2)))),
    AuthoritySet(0, tuple((voter_key(v), w) for v, w in enumerate((4, 1, 1, 1, 1)))),
]


@settings(max_examples=400, deadline=None)
@given(histories())
def test_decide_kept_between_calls_equals_a_recount(
    history: tuple[list[int], list[int], int, list[tuple[object, ...]]],
) -> None:
    parents, stored, base, steps = history
    numbers = [0]
    for parent in parents:
        numbers.append(numbers[parent] + 1)

    def header(i: int) -> SimpleNamespace:
        return SimpleNamespace(parent_hash=block_hash(parents[i - 1]))

    headers: Headers = {block_hash(i): header(i) for i in stored}
    authorities = SETS[0]
    round_ = Round(1, (block_hash(base), numbers[base]))
    for step in steps:
        kind = step[0]
        if kind == "vote":
            _, phase, voter, block, number = step
            assert isinstance(block, int) and isinstance(number, int)
            assert isinstance(phase, int) and isinstance(voter, int)
            vote = SignedVote(phase, 0, 1, block_hash(block), number, voter_key(voter), b"")
            round_.add_vote(vote)  # a third vote of an equivocator, or a repeat, is not kept
        elif kind == "import":
            block = step[1]
            assert isinstance(block, int)
            if block:
                headers[block_hash(block)] = header(block)
        elif kind == "remove":
            headers.pop(block_hash(step[1]), None)  # type: ignore[arg-type]
        elif kind == "finalize":
            # As the store drops the forks that finality abandons: every block that neither
            # descends from the finalized one nor leads to it.
            final = step[1]
            assert isinstance(final, int)
            kept = descendants(parents, final) | ancestors(parents, final)
            for i in range(1, len(parents) + 1):
                if i not in kept:
                    headers.pop(block_hash(i), None)
        elif kind == "set":
            which = step[1]
            assert isinstance(which, int)
            # 2: a new object equal to the current set (the voter reads a set afresh from state)
            authorities = SETS[which] if which < 2 else AuthoritySet(0, authorities.authorities)
        if kind == "skip":
            continue  # several changes between two decisions
        decide(round_, authorities, headers.get)  # type: ignore[arg-type]
        assert outcome(round_, authorities) == recounted(round_, authorities, headers)


def test_a_block_imported_under_counted_votes_is_read_by_the_next_decision() -> None:
    """Prevotes name blocks 2 and 3, children of block 1, which is not stored; precommits make
    block 1 impossible as the estimate, so the walk down needs its parent. Once block 1
    arrives, the next decision reads it (the kept count read it as missing, and looks again)."""
    authorities = AuthoritySet(0, tuple((voter_key(v), 1) for v in range(4)))
    headers: Headers = {
        block_hash(2): SimpleNamespace(parent_hash=block_hash(1)),
        block_hash(3): SimpleNamespace(parent_hash=block_hash(1)),
    }
    round_ = Round(1, (block_hash(0), 0))
    for v in range(4):
        round_.add_vote(SignedVote(PREVOTE, 0, 1, block_hash(2 + v % 2), 2, voter_key(v), b""))
    for v in range(2):
        round_.add_vote(SignedVote(PRECOMMIT, 0, 1, block_hash(0), 0, voter_key(v), b""))
    decide(round_, authorities, headers.get)  # type: ignore[arg-type]
    assert round_.prevote_ghost == (block_hash(1), 1)
    assert round_.estimate is None  # the walk below block 1 stops: it is not stored

    headers[block_hash(1)] = SimpleNamespace(parent_hash=block_hash(0))
    decide(round_, authorities, headers.get)  # type: ignore[arg-type]
    assert round_.estimate == (block_hash(0), 0)


class ReadFailed(Exception):
    """A header read that fails without halting the node (a damaged header record that does not
    decode, a read error of the database): the node's timer and gossip handlers log it and go on."""


def failing_after(reads: int, headers: Headers) -> object:
    """A `header_of` that answers `reads` times, then raises ReadFailed."""
    left = [reads]

    def header_of(block: bytes) -> SimpleNamespace | None:
        if left[0] <= 0:
            raise ReadFailed
        left[0] -= 1
        return headers.get(block)

    return header_of


def test_a_read_that_fails_mid_count_leaves_no_vote_counted_twice() -> None:
    """Two of four equal voters precommit for block 1 (one of them through its child, block 2);
    the decision's second read fails, with the first vote added in. The node carries on, and the
    next decision must still see 2 of 4, not 3: no precommit-GHOST, so nothing to finalize."""
    authorities = AuthoritySet(0, tuple((voter_key(v), 1) for v in range(4)))
    headers: Headers = {
        block_hash(1): SimpleNamespace(parent_hash=block_hash(0)),
        block_hash(2): SimpleNamespace(parent_hash=block_hash(1)),
    }
    round_ = Round(1, (block_hash(0), 0))
    round_.add_vote(SignedVote(PRECOMMIT, 0, 1, block_hash(1), 1, voter_key(0), b""))
    round_.add_vote(SignedVote(PRECOMMIT, 0, 1, block_hash(2), 2, voter_key(1), b""))
    with pytest.raises(ReadFailed):
        decide(round_, authorities, failing_after(2, headers))  # type: ignore[arg-type]
    decide(round_, authorities, headers.get)  # type: ignore[arg-type]
    assert round_.precommit_ghost is None
    assert round_.voted_weight(PRECOMMIT, authorities) == 2
    assert outcome(round_, authorities) == recounted(round_, authorities, headers)


@settings(max_examples=200, deadline=None)
@given(histories(), st.lists(st.integers(0, 12), max_size=40))
def test_decide_after_failed_reads_equals_a_recount(
    history: tuple[list[int], list[int], int, list[tuple[object, ...]]], fail_at: list[int]
) -> None:
    """As the test above, with a decision before each that fails at a drawn header read."""
    parents, stored, base, steps = history
    numbers = [0]
    for parent in parents:
        numbers.append(numbers[parent] + 1)
    headers: Headers = {
        block_hash(i): SimpleNamespace(parent_hash=block_hash(parents[i - 1])) for i in stored
    }
    authorities = SETS[0]
    round_ = Round(1, (block_hash(base), numbers[base]))
    for i, step in enumerate(steps):
        if step[0] != "vote":
            continue
        _, phase, voter, block, number = step
        assert isinstance(block, int) and isinstance(number, int)
        assert isinstance(phase, int) and isinstance(voter, int)
        round_.add_vote(SignedVote(phase, 0, 1, block_hash(block), number, voter_key(voter), b""))
        if i < len(fail_at):
            with suppress(ReadFailed):
                decide(round_, authorities, failing_after(fail_at[i], headers))  # type: ignore[arg-type]
        decide(round_, authorities, headers.get)  # type: ignore[arg-type]
        assert outcome(round_, authorities) == recounted(round_, authorities, headers)
