"""Sync's `next_requests` passes over its peers while no status request can be due, no peer
finalized above this node and none is ahead of it: through any sequence of peers joining and
leaving, statuses, gossiped blocks, answers (range answers that back a claim, end short or fail
too), blocks arriving and a clock that may jump back (a node's skew changed), it asks for exactly
what a scan of every peer on every call asks for."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.core.messages import Status
from chain.core.sync import JUSTIFICATION_INTERVAL_MS, STATUS_INTERVAL_MS, Sync
from runtime.primitives.hashing import blake2b_256

GENESIS = blake2b_256(b"genesis")
PEERS = ("a", "b")


def h(n: int) -> bytes:
    return blake2b_256(n.to_bytes(4, "big"))


def step_strategy() -> st.SearchStrategy[tuple[object, ...]]:
    peer = st.sampled_from(PEERS)
    return st.one_of(
        st.tuples(st.just("add"), peer),
        st.tuples(st.just("remove"), peer),
        st.tuples(st.just("status"), peer, st.integers(0, 30), st.integers(0, 30)),
        st.tuples(st.just("answer"), st.integers(0, 5)),
        st.tuples(st.just("want"), peer, st.integers(0, 30)),
        st.tuples(st.just("block"), peer, st.integers(0, 30)),
        st.tuples(
            st.just("range"),
            peer,
            st.sampled_from(("backed", "ended", "failed")),
            st.integers(0, 30),
        ),
        st.tuples(
            st.just("ask"),
            st.integers(-STATUS_INTERVAL_MS, 3 * STATUS_INTERVAL_MS),
            st.integers(0, 20),
            st.integers(0, 20),
            st.sets(st.integers(0, 30)),
        ),
    )


def requests_of(sync: Sync, step: tuple[object, ...], now_ms: int) -> list[object]:
    _, _advance, best, finalized, held = step
    assert isinstance(best, int) and isinstance(finalized, int) and isinstance(held, set)
    have = {h(n) for n in held}
    return list(
        sync.next_requests(
            best_number=best,
            finalized_number=min(best, finalized),
            has_block=lambda x: x in have,
            is_final=lambda x: x == h(min(best, finalized)),
            now_ms=now_ms,
        )
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(step_strategy(), min_size=1, max_size=60))
def test_next_requests_with_its_shortcuts_asks_what_a_full_scan_asks(
    steps: list[tuple[object, ...]],
) -> None:
    fast, plain = Sync(), Sync()
    now = 1_000_000
    for step in steps:
        kind = step[0]
        for sync in (fast, plain):
            if kind == "add":
                sync.add_peer(str(step[1]))
            elif kind == "remove":
                sync.remove_peer(str(step[1]))
            elif kind == "status":
                _, peer, best, finalized = step
                assert isinstance(best, int) and isinstance(finalized, int)
                low = min(best, finalized)
                status = Status(GENESIS, best, h(best), low, h(low), True)
                sync.on_status(str(peer), status, cap=10**6, now_ms=now)
            elif kind == "answer":
                tags = sorted(sync.pending)
                index = step[1]
                assert isinstance(index, int)
                if tags:
                    sync.finish(tags[index % len(tags)])
            elif kind == "want":
                _, peer, number = step
                assert isinstance(number, int)
                sync.want_block(str(peer), h(number), number)
            elif kind == "block":
                _, peer, number = step
                assert isinstance(number, int)
                sync.note_block(str(peer), number, h(number))  # a block it gossiped
            elif kind == "range":
                _, peer, outcome, highest = step
                assert isinstance(highest, int)
                if outcome == "backed":
                    sync.range_backed(str(peer), highest, round_trip_ms=highest * 10)
                elif outcome == "ended":
                    sync.range_ended(str(peer), highest)
                else:
                    sync.range_failed(str(peer), now)
        if kind == "ask":
            advance = step[1]
            assert isinstance(advance, int)
            now += advance  # may go back: a node's clock skew can change
            # The plain Sync scans every peer on every call, as before the shortcuts.
            plain._status_due_ms = None
            plain._peers_finalized = 10**9
            plain._peers_best = 10**9
            assert requests_of(fast, step, now) == requests_of(plain, step, now)
            assert fast.peers == plain.peers
            assert fast.pending == plain.pending


def test_a_peer_added_is_asked_for_its_status_at_once_though_the_others_are_not_due() -> None:
    sync = Sync()
    sync.add_peer("a")
    asked = sync.next_requests(
        best_number=0,
        finalized_number=0,
        has_block=lambda _: False,
        is_final=lambda _: False,
        now_ms=10_000,
    )
    assert [(p, k) for p, _, k, _ in asked] == [("a", "status")]
    sync.add_peer("b")
    asked = sync.next_requests(
        best_number=0,
        finalized_number=0,
        has_block=lambda _: False,
        is_final=lambda _: False,
        now_ms=10_000 + JUSTIFICATION_INTERVAL_MS,
    )
    assert [(p, k) for p, _, k, _ in asked] == [("b", "status")]


def ask(sync: Sync, best: int, now_ms: int) -> list[tuple[str, str]]:
    asked = sync.next_requests(
        best_number=best,
        finalized_number=0,
        has_block=lambda _: False,
        is_final=lambda _: False,
        now_ms=now_ms,
    )
    return [(p, k) for p, _, k, _ in asked]


def test_a_peer_ahead_by_its_status_or_a_gossiped_block_is_asked_for_a_range() -> None:
    sync = Sync()
    sync.add_peer("a")
    sync.on_status("a", Status(GENESIS, 5, h(5), 0, h(0), True), cap=10**6, now_ms=0)
    assert ask(sync, 5, 0) == [("a", "status")]  # nobody ahead of #5
    assert ask(sync, 4, 1) == [("a", "range")]  # a status above ours
    sync.finish(max(sync.pending))
    assert ask(sync, 5, 2) == []
    sync.note_block("a", 9, h(9))  # a block it gossiped, above ours
    assert ask(sync, 5, 3) == [("a", "range")]
