"""What sync makes of its peers' answers: claims that could not be true, range answers that bring
nothing, and fetches whose answer does not reach this node's chain. Two validators' cores over
one local genesis: Alice authors, Bob syncs from her and from a liar, messages handed by hand."""

from __future__ import annotations

from chain.core.actions import ReportPeer, SendRequest
from chain.core.aura import MAX_FUTURE_SLOTS, slot_at
from chain.core.inbound import COST_BAD_RESPONSE, COST_USELESS
from chain.core.messages import (
    PROTOCOL_STATUS,
    PROTOCOL_SYNC,
    TOPIC_BLOCKS,
    BlockAnnounce,
    BlockRequest,
    Status,
    SyncedBlock,
    encode_blocks,
)
from chain.core.node import NodeCore
from chain.core.sync_exchange import COST_IMPOSSIBLE_BEST
from runtime.block import Block
from runtime.primitives.keys import dev_keypair

ALICE, BOB = dev_keypair("Alice"), dev_keypair("Bob")


def reports(actions) -> list[ReportPeer]:
    return [a for a in actions if isinstance(a, ReportPeer)]


def sync_requests(actions) -> list[SendRequest]:
    return [a for a in actions if isinstance(a, SendRequest) and a.protocol == PROTOCOL_SYNC]


def alice_blocks(chain, alice: NodeCore, slots) -> list[Block]:
    blocks = []
    for slot in slots:
        alice.on_timer("slot", chain.at(slot))
        header = alice.best_header
        blocks.append(Block(header, alice.store.body(header.hash) or ()))
    return blocks


def connect(bob: NodeCore, peer: str, status: Status, now: int) -> list:
    """`peer` connects to Bob and answers his status request with `status`."""
    (asked,) = [a for a in bob.on_peer_connected(peer, now) if a.protocol == PROTOCOL_STATUS]
    return bob.on_response(peer, asked.tag, status.encode(), now)


def lie(core: NodeCore, best: int) -> Status:
    real = core.status()
    return Status(real.genesis_hash, best, bytes(32), 0, real.finalized_hash, False)


def test_a_best_block_that_could_not_be_authored_by_now_is_charged_and_capped(local):
    chain = local(2)
    bob = chain.node(BOB)
    now = chain.at(14)
    actions = connect(bob, "liar", lie(bob, 2**32 - 1), now)
    (report,) = reports(actions)
    assert report.cost == COST_IMPOSSIBLE_BEST and "#4294967295" in report.reason
    assert bob.sync.peers["liar"].best_number == slot_at(now, chain.slot_ms) + MAX_FUTURE_SLOTS


def test_a_best_block_a_little_ahead_of_our_clock_is_capped_but_not_charged(local):
    chain = local(2)
    bob = chain.node(BOB)
    now = chain.at(14)
    cap = slot_at(now, chain.slot_ms) + MAX_FUTURE_SLOTS
    assert reports(connect(bob, "early", lie(bob, cap + 5), now)) == []  # its clock may be ahead
    assert bob.sync.peers["early"].best_number == cap


def test_a_range_answer_with_nothing_new_is_charged_a_little_and_the_claim_forgotten(local):
    chain = local(2)
    alice, bob = chain.node(ALICE), chain.node(BOB)
    blocks = alice_blocks(chain, alice, (10, 12, 14))
    now = chain.at(14)
    (to_liar,) = sync_requests(connect(bob, "liar", lie(alice, 3), now))
    assert connect(bob, "alice", alice.status(), now) == []  # one range at a time
    genesis = bob.store.require_header(bob.store.genesis_hash)
    known = encode_blocks([SyncedBlock(genesis, (), None)])
    actions = bob.on_response("liar", to_liar.tag, known, now)
    (report,) = reports(actions)
    assert report.peer == "liar" and report.cost == COST_USELESS
    assert bob.sync.peers["liar"].best_number == 0
    # The next range goes to Alice, who has the blocks, and she is not charged.
    (to_alice,) = sync_requests(actions)
    assert to_alice.peer == "alice"
    answer = alice.on_request("bob", PROTOCOL_SYNC, to_alice.data, now)
    assert reports(bob.on_response("alice", to_alice.tag, answer, now)) == []
    assert bob.best_header == blocks[-1].header


def test_an_empty_range_answer_costs_nothing_but_the_claim_is_forgotten(local):
    chain = local(2)
    alice, bob = chain.node(ALICE), chain.node(BOB)
    blocks = alice_blocks(chain, alice, (10, 12))
    now = chain.at(12)
    (to_alice,) = sync_requests(connect(bob, "alice", lie(alice, 5), now))
    # An honest peer whose best moved to a shorter chain answers so: not charged, not believed.
    assert reports(bob.on_response("alice", to_alice.tag, encode_blocks([]), now)) == []
    assert bob.sync.peers["alice"].best_number == 0
    # A block it gossips makes it worth asking again.
    bob.on_gossip("alice", TOPIC_BLOCKS, BlockAnnounce.of(blocks[1]).encode(), now)
    assert bob.sync.peers["alice"].best_number == 2


def test_a_range_answer_short_of_what_was_asked_tells_where_the_peers_chain_ends(local):
    chain = local(2)
    alice, bob = chain.node(ALICE), chain.node(BOB)
    blocks = alice_blocks(chain, alice, (10, 12))
    now = chain.at(12)
    (to_alice,) = sync_requests(connect(bob, "alice", lie(alice, 5), now))
    assert BlockRequest.decode(to_alice.data).max_blocks == 5
    answer = alice.on_request("bob", PROTOCOL_SYNC, to_alice.data, now)
    actions = bob.on_response("alice", to_alice.tag, answer, now)
    assert reports(actions) == [] and sync_requests(actions) == []  # not asked for #3 again
    assert bob.best_header == blocks[-1].header
    assert bob.sync.peers["alice"].best_number == 2


def test_a_range_answer_whose_blocks_came_another_way_meanwhile_is_not_charged(local):
    chain = local(2)
    alice, bob = chain.node(ALICE), chain.node(BOB)
    blocks = alice_blocks(chain, alice, (10, 12))
    now = chain.at(12)
    (to_alice,) = sync_requests(connect(bob, "alice", alice.status(), now))
    answer = alice.on_request("bob", PROTOCOL_SYNC, to_alice.data, now)
    for block in blocks:  # gossip was faster
        bob.on_gossip("alice", TOPIC_BLOCKS, BlockAnnounce.of(block).encode(), now)
    assert reports(bob.on_response("alice", to_alice.tag, answer, now)) == []
    assert not bob.sync.peers["alice"].doubted(now)


def test_a_fetch_answered_with_a_true_but_short_ancestry_costs_nothing(local):
    chain = local(2)
    alice, bob = chain.node(ALICE), chain.node(BOB)
    blocks = alice_blocks(chain, alice, (10, 12, 14, 16))
    now = chain.at(16)
    connect(bob, "alice", bob.status(), now)  # Alice's status is stale: no range sync yet
    _verdict, actions = bob.on_gossip(
        "alice", TOPIC_BLOCKS, BlockAnnounce.of(blocks[3]).encode(), now
    )
    (fetch,) = sync_requests(actions)
    assert BlockRequest.decode(fetch.data).start == blocks[3].hash
    # Cut short (by the size limit, say): #4 and #3, whose parent Bob lacks. Not her fault.
    short = encode_blocks([SyncedBlock(b.header, b.extrinsics, None) for b in blocks[:1:-1]])
    assert reports(bob.on_response("alice", fetch.tag, short, now)) == []


def test_a_fetch_answered_with_other_blocks_than_the_ancestry_asked_is_charged(local):
    chain = local(2)
    alice, bob = chain.node(ALICE), chain.node(BOB)
    blocks = alice_blocks(chain, alice, (10, 12, 14, 16))
    now = chain.at(16)
    connect(bob, "liar", bob.status(), now)
    _verdict, actions = bob.on_gossip(
        "liar", TOPIC_BLOCKS, BlockAnnounce.of(blocks[3]).encode(), now
    )
    (fetch,) = sync_requests(actions)
    gapped = encode_blocks([SyncedBlock(b.header, b.extrinsics, None) for b in blocks[3:0:-2]])
    (report,) = reports(bob.on_response("liar", fetch.tag, gapped, now))
    assert report.cost == COST_BAD_RESPONSE
