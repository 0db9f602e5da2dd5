"""Sync's decisions on their own: whom to ask for what, ranges taking turns among peers, forks,
blocks named by hash, justifications, status refreshes, peers that leave, and claims that are
impossible or not backed up."""

from __future__ import annotations

from chain.core.aura import MAX_FUTURE_SLOTS
from chain.core.messages import MAX_SYNC_BLOCKS, BlockRequest, Status
from chain.core.sync import (
    DOUBT_MS,
    JUSTIFICATION_INTERVAL_MS,
    MAX_DOUBT_MS,
    MAX_RANGE_HEDGE_MS,
    MIN_RANGE_HEDGE_MS,
    RANGE_HEDGE_MS,
    REQUEST_TIMEOUT_MS,
    STATUS_INTERVAL_MS,
    Sync,
    highest_possible_block,
)
from runtime.primitives.hashing import blake2b_256

GENESIS = blake2b_256(b"genesis")
NOW = 1_000_000
CAP = 10**6
"""A cap on peers' claims that none of these tests reaches, but those of impossible claims."""


def h(n: int) -> bytes:
    return blake2b_256(n.to_bytes(4, "big"))


def status(best: int, finalized: int = 0) -> Status:
    return Status(GENESIS, best, h(best), finalized, h(finalized), True)


def asks(sync: Sync, *, best: int = 0, finalized: int = 0, now: int = NOW, have=(), final=()):
    return sync.next_requests(
        best_number=best,
        finalized_number=finalized,
        has_block=lambda x: x in have,
        is_final=lambda x: x in final,
        now_ms=now,
    )


def kinds(requests) -> list[tuple[str, str]]:
    return [(peer, kind) for peer, _tag, kind, _req in requests]


def known_peers(sync: Sync, **bests: int) -> None:
    for peer, best in bests.items():
        sync.add_peer(peer)
        sync.on_status(peer, status(best), cap=CAP, now_ms=NOW)


def ranges(requests) -> list[tuple[str, int, BlockRequest]]:
    return [(peer, tag, request) for peer, tag, kind, request in requests if kind == "range"]


def test_a_new_peer_is_asked_for_its_status_and_again_every_interval():
    sync = Sync()
    sync.add_peer("a")
    assert kinds(asks(sync)) == [("a", "status")]
    assert asks(sync, now=NOW + 1) == []
    assert kinds(asks(sync, now=NOW + STATUS_INTERVAL_MS)) == [("a", "status")]


def test_one_range_request_at_a_time_to_a_peer_that_can_fill_it():
    sync = Sync()
    known_peers(sync, a=50, b=300, c=10)
    requests = [r for r in asks(sync, best=20) if r[2] == "range"]
    ((peer, tag, _kind, request),) = requests
    assert peer == "b" and request == BlockRequest(21, False, MAX_SYNC_BLOCKS)
    assert not [r for r in asks(sync, best=20, now=NOW + 1) if r[2] == "range"]
    sync.finish(tag)
    ((peer, _, _, again),) = [r for r in asks(sync, best=148, now=NOW + 2) if r[2] == "range"]
    assert peer == "b" and again == BlockRequest(149, False, MAX_SYNC_BLOCKS)


def test_nobody_ahead_means_no_range_request():
    sync = Sync()
    known_peers(sync, a=5, b=7)
    assert [r for r in asks(sync, best=7) if r[2] == "range"] == []
    assert not sync.is_syncing(7)
    assert sync.is_syncing(4)


def test_a_peer_on_a_fork_is_synced_from_the_finalized_block():
    sync = Sync()
    known_peers(sync, a=40)
    ((_, tag, _, first),) = [r for r in asks(sync, best=30, finalized=25) if r[2] == "range"]
    assert first.start == 31
    sync.finish(tag)
    assert sync.forked("a")  # its first block did not attach
    assert not sync.forked("a")  # already known: its chain does not attach at all
    ((_, tag, _, second),) = [
        r for r in asks(sync, best=30, finalized=25, now=NOW + 1) if r[2] == "range"
    ]
    assert second.start == 26
    sync.finish(tag)
    sync.attached("a")
    ((_, _, _, third),) = [
        r for r in asks(sync, best=35, finalized=25, now=NOW + 2) if r[2] == "range"
    ]
    assert third.start == 36


def test_a_block_named_by_hash_is_fetched_with_its_ancestors_once():
    sync = Sync()
    known_peers(sync, a=10)
    sync.want_block("a", h(12), 12)
    requests = [r for r in asks(sync, best=10, finalized=4) if r[2] == "fetch"]
    ((peer, tag, _, request),) = requests
    assert peer == "a" and request == BlockRequest(h(12), True, 8)
    assert sync.peers["a"].best_number == 12  # it has #12, so it is ahead
    sync.finish(tag)
    sync.fetched(h(12))
    assert [r for r in asks(sync, best=12, finalized=4, now=NOW + 1) if r[2] == "fetch"] == []


def test_a_wanted_block_that_arrived_meanwhile_is_not_fetched():
    sync = Sync()
    known_peers(sync, a=10)
    sync.want_block("a", h(9), 9)
    assert [r for r in asks(sync, best=10, have={h(9)}) if r[2] == "fetch"] == []


def test_a_justification_is_asked_for_when_a_peer_finalized_a_block_held_here():
    sync = Sync()
    sync.add_peer("a")
    sync.on_status("a", status(20, finalized=18), cap=CAP, now_ms=NOW)
    ((_, tag, _, request),) = [
        r for r in asks(sync, best=20, finalized=15, have={h(18)}) if r[2] == "justification"
    ]
    assert request == BlockRequest(h(18), True, 1, bodies=False)
    sync.finish(tag)
    # Not again at once (a peer that cannot prove its finality is not asked in a loop) ...
    assert not [
        r
        for r in asks(sync, best=20, finalized=15, have={h(18)}, now=NOW + 10)
        if r[2] == "justification"
    ]
    # ... but after the interval; and never for a block that is final here already.
    later = NOW + JUSTIFICATION_INTERVAL_MS
    assert [
        r
        for r in asks(sync, best=20, finalized=15, have={h(18)}, now=later)
        if r[2] == "justification"
    ]
    assert not [
        r
        for r in asks(sync, best=20, finalized=18, have={h(18)}, final={h(18)}, now=later * 2)
        if r[2] == "justification"
    ]


def test_a_peer_that_leaves_takes_its_requests_and_wanted_blocks_with_it():
    sync = Sync()
    known_peers(sync, a=50)
    sync.want_block("a", h(60), 60)
    requests = asks(sync, best=10)
    assert {kind for _, _, kind, _ in requests} == {"status", "fetch"}
    sync.remove_peer("a")
    assert sync.pending == {} and sync.peers == {}
    assert asks(sync, best=10, now=NOW + 1) == []


def test_requests_left_unanswered_are_forgotten_after_the_timeout():
    sync = Sync()
    known_peers(sync, a=50)
    asks(sync, best=10)
    assert sync.peers["a"].busy
    later = NOW + 60_000
    requests = asks(sync, best=10, now=later)
    assert kinds(requests) == [("a", "status")]  # asked again, afresh
    assert all(p.sent_ms == later for p in sync.pending.values())
    # The range that timed out did not back its claim: it is asked again once it shows a block.
    sync.note_block("a", 50, h(50))
    assert ranges(asks(sync, best=10, now=later + 1))


# Claims that are impossible or not backed up


def test_no_chain_can_be_longer_than_one_block_a_slot_since_the_finalized_block():
    assert highest_possible_block(0, 0, 600 * 1_000, 1_000) == 600 + MAX_FUTURE_SLOTS
    assert highest_possible_block(50, 1_000, 1_010 * 6_000, 6_000) == 60 + MAX_FUTURE_SLOTS
    assert highest_possible_block(50, 1_000, 990 * 6_000, 6_000) == 50  # a clock behind


def test_a_best_block_above_the_cap_is_capped_and_said_to_be_a_lie():
    sync = Sync()
    sync.add_peer("liar")
    assert sync.on_status("liar", status(2**32 - 1), cap=700, now_ms=NOW)
    assert sync.peers["liar"].best_number == 700
    assert not sync.on_status("liar", status(650), cap=700, now_ms=NOW)
    assert sync.peers["liar"].best_number == 650


def test_a_peer_that_moved_to_a_shorter_chain_is_not_asked_for_its_old_best():
    sync = Sync()
    known_peers(sync, a=30)
    sync.on_status("a", status(26, finalized=25), cap=CAP, now_ms=NOW)  # finality chose a fork
    assert sync.peers["a"].best_number == 26
    assert ranges(asks(sync, best=27, finalized=25)) == []


def test_range_requests_take_turns_among_the_peers_that_can_fill_them():
    sync = Sync()
    known_peers(sync, a=600, b=600, c=600, slow=21)
    asked = []
    for i in range(4):
        ((peer, tag, request),) = ranges(asks(sync, best=20, now=NOW + i))
        asked.append(peer)
        assert request.max_blocks == MAX_SYNC_BLOCKS
        sync.finish(tag)
        sync.range_backed(peer, 20 + MAX_SYNC_BLOCKS, round_trip_ms=100)
    assert asked == ["a", "b", "c", "a"]  # never "slow", which has one block to give


def test_a_slow_range_request_lets_a_second_go_to_another_peer():
    sync = Sync()
    known_peers(sync, a=600, b=600, c=600)
    ((first, _, _),) = ranges(asks(sync, best=20))
    assert ranges(asks(sync, best=20, now=NOW + RANGE_HEDGE_MS - 1)) == []
    ((second, _, request),) = ranges(asks(sync, best=20, now=NOW + RANGE_HEDGE_MS))
    assert second != first and request.start == 21
    # Two in flight at most, however slow both are.
    assert ranges(asks(sync, best=20, now=NOW + 3 * RANGE_HEDGE_MS)) == []


def test_the_hedge_delay_follows_the_round_trips_of_range_answers_within_bounds():
    sync = Sync()
    assert sync.hedge_ms() == RANGE_HEDGE_MS  # nothing timed yet
    sync.range_backed("a", 10, round_trip_ms=400)
    assert sync.hedge_ms() == 800
    for _ in range(40):
        sync.range_backed("a", 10, round_trip_ms=20)
    assert sync.hedge_ms() == MIN_RANGE_HEDGE_MS
    for _ in range(40):
        sync.range_backed("a", 10, round_trip_ms=REQUEST_TIMEOUT_MS)
    assert sync.hedge_ms() == MAX_RANGE_HEDGE_MS


def test_a_peer_that_does_not_back_its_claim_loses_it_and_is_doubted_for_longer_each_time():
    sync = Sync()
    known_peers(sync, liar=CAP, honest=25)
    sync.range_backed("liar", 18, round_trip_ms=100)  # it brought blocks up to #18 once
    ((peer, tag, _),) = ranges(asks(sync, best=20))
    assert peer == "liar"  # it claims most
    sync.finish(tag)
    sync.range_failed("liar", NOW)
    assert sync.peers["liar"].best_number == 18
    # Its claims are not believed while it is doubted ...
    sync.on_status("liar", status(CAP), cap=CAP, now_ms=NOW + DOUBT_MS - 1)
    assert sync.peers["liar"].best_number == 18
    # ... and it is asked only when nobody else is ahead.
    sync.note_block("liar", 40, h(40))
    ((peer, tag, _),) = ranges(asks(sync, best=20, now=NOW + 1))
    assert peer == "honest"
    sync.finish(tag)
    ((peer, tag, _),) = ranges(asks(sync, best=25, now=NOW + 2))
    assert peer == "liar"
    sync.finish(tag)
    # Each failure in a row doubles the doubt, up to a bound; an answer that backs it clears it.
    sync.range_failed("liar", NOW + 2)
    assert sync.peers["liar"].doubted_until_ms == NOW + 2 + 2 * DOUBT_MS
    for _ in range(40):
        sync.range_failed("liar", NOW + 2)
    assert sync.peers["liar"].doubted_until_ms == NOW + 2 + MAX_DOUBT_MS
    sync.range_backed("liar", 40, round_trip_ms=100)
    assert not sync.peers["liar"].doubted(NOW + 3)
    sync.on_status("liar", status(60), cap=CAP, now_ms=NOW + 3)
    assert sync.peers["liar"].best_number == 60


def test_a_range_request_that_times_out_does_not_back_the_claim():
    sync = Sync()
    known_peers(sync, silent=600)
    ((_, tag, _),) = ranges(asks(sync, best=20))
    later = NOW + REQUEST_TIMEOUT_MS + 1
    assert ranges(asks(sync, best=20, now=later)) == []  # forgotten, and its claim with it
    assert tag not in sync.pending
    assert sync.peers["silent"].best_number == 0 and sync.peers["silent"].doubted(later)


def test_a_failed_range_request_does_not_back_the_claim():
    sync = Sync()
    known_peers(sync, silent=600)
    ((_, tag, _),) = ranges(asks(sync, best=20))
    pending = sync.finish(tag)
    assert pending is not None
    sync.unanswered(pending, NOW + 1)
    assert sync.peers["silent"].best_number == 0


def test_a_block_too_far_ahead_to_attach_is_left_to_range_sync():
    sync = Sync()
    known_peers(sync, a=10)
    far = 10 + MAX_SYNC_BLOCKS + 1
    sync.want_block("a", h(far), far)
    first = asks(sync, best=10)
    assert [r for r in first if r[2] == "fetch"] == []
    ((_, tag, _),) = ranges(first)
    sync.finish(tag)
    # Once range sync brought this node within reach, it is fetched (if still missing).
    assert [r for r in asks(sync, best=far - 5, now=NOW + 1) if r[2] == "fetch"]
