"""Sync's decisions on their own: whom to ask for what, one range at a time, forks, blocks named
by hash, justifications, status refreshes, and peers that leave."""

from __future__ import annotations

from chain.core.messages import MAX_SYNC_BLOCKS, BlockRequest, Status
from chain.core.sync import JUSTIFICATION_INTERVAL_MS, STATUS_INTERVAL_MS, Sync
from runtime.primitives.hashing import blake2b_256

GENESIS = blake2b_256(b"genesis")
NOW = 1_000_000


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
        sync.on_status(peer, status(best))


def test_a_new_peer_is_asked_for_its_status_and_again_every_interval():
    sync = Sync()
    sync.add_peer("a")
    assert kinds(asks(sync)) == [("a", "status")]
    assert asks(sync, now=NOW + 1) == []
    assert kinds(asks(sync, now=NOW + STATUS_INTERVAL_MS)) == [("a", "status")]


def test_one_range_request_at_a_time_to_the_peer_furthest_ahead():
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
    sync.on_status("a", status(20, finalized=18))
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
    asks(sync, best=10, now=NOW + 60_000)
    assert any(p.kind == "range" for p in sync.pending.values())  # asked again, afresh
    assert all(p.sent_ms == NOW + 60_000 for p in sync.pending.values())
