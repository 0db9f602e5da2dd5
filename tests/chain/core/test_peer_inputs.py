"""What the node core makes of its peers' messages: gossip checked before it is relayed, requests
answered from the store, answers imported; bad input refused, the sender charged, the node going
on. Two validators' cores over one local genesis; messages are handed between them by hand."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chain.core.actions import Gossip, ReportPeer, SendRequest
from chain.core.messages import (
    MAX_SYNC_BLOCKS,
    PROTOCOL_CATCH_UP,
    PROTOCOL_STATUS,
    PROTOCOL_SYNC,
    TOPIC_BLOCKS,
    TOPIC_FINALITY,
    TOPIC_TRANSACTIONS,
    BlockAnnounce,
    BlockRequest,
    Status,
    SyncedBlock,
    decode_blocks,
    encode_blocks,
    encode_catch_up_request,
    encode_finality,
    encode_transactions,
)
from chain.core.node import NodeCore, RequestRefused
from chain.core.voter_messages import Verdict
from runtime.block import Block, Header
from runtime.consensus import PREVOTE, SignedVote
from runtime.pallets.randomness import vrf_input
from runtime.primitives import codec, vrf
from runtime.primitives.codec import DecodeError
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import dev_keypair

ALICE, BOB, CHARLIE, DAVE, EVE = (
    dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave", "Eve")
)
XPL = 10**12


def reports(actions) -> list[ReportPeer]:
    return [a for a in actions if isinstance(a, ReportPeer)]


def requests(actions, protocol: str | None = None) -> list[SendRequest]:
    return [a for a in actions if isinstance(a, SendRequest) and protocol in (None, a.protocol)]


def gossip(actions, topic: str) -> list[Gossip]:
    return [a for a in actions if isinstance(a, Gossip) and a.topic == topic]


def authored(core: NodeCore, chain, slot: int) -> tuple[Block, list]:
    actions = core.on_timer("slot", chain.at(slot))
    (announce,) = gossip(actions, TOPIC_BLOCKS)
    decoded = BlockAnnounce.decode(announce.data)
    assert decoded.body is not None
    return Block(decoded.header, decoded.body), actions


@pytest.fixture
def pair(local):
    """Two validators of a two-validator chain: Alice (slots 10, 12, ...) and Bob."""
    chain = local(2)
    return chain, chain.node(ALICE), chain.node(BOB)


# Blocks


def test_an_authored_block_is_gossiped_and_a_peer_imports_and_relays_it(pair):
    chain, alice, bob = pair
    block, _ = authored(alice, chain, 10)
    verdict, actions = bob.on_gossip(
        "alice", TOPIC_BLOCKS, BlockAnnounce.of(block).encode(), chain.at(10)
    )
    assert verdict is Verdict.ACCEPT
    assert bob.best_header == block.header
    # Bob, an authority of the set, prevotes the new block.
    assert gossip(actions, TOPIC_FINALITY)
    # The same block again is nothing new (and is not relayed again).
    again, _ = bob.on_gossip("alice", TOPIC_BLOCKS, BlockAnnounce.of(block).encode(), chain.at(10))
    assert again is Verdict.IGNORE


def resealed(block: Block, **digest_fields: bytes) -> Header:
    """The block's header with digest fields changed, sealed again by Alice (its author)."""
    header = block.header
    changed = replace(header.digest, seal=b"", **digest_fields)
    return replace(header, digest=changed).sealed_by(ALICE)


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        (
            lambda c, b: replace(
                replace(b.header, state_root=bytes(32)),
                digest=replace(b.header.digest, seal=b""),
            ).sealed_by(ALICE),
            "state root",
        ),
        (
            lambda c, b: replace(b.header, digest=replace(b.header.digest, seal=bytes(64))),
            "seal",
        ),
        (
            lambda c, b: resealed(b, vrf_output=b"", vrf_proof=b""),
            "VRF",
        ),
        (
            lambda c, b: resealed(b, vrf_proof=bytes(80)),
            "VRF",
        ),
        (
            # Bob's VRF on the block's own input (block 1's parent randomness is the genesis hash).
            lambda c, b: resealed(
                b,
                **dict(
                    zip(
                        ("vrf_output", "vrf_proof"),
                        vrf.prove(BOB, vrf_input(b.header.parent_hash, b.header.digest.slot)),
                        strict=True,
                    )
                ),
            ),
            "VRF",
        ),
    ],
)
def test_a_block_that_breaks_a_rule_is_refused_and_costs_the_sender(pair, tamper, why):
    chain, alice, bob = pair
    block, _ = authored(alice, chain, 10)
    bad = Block(tamper(chain, block), block.extrinsics)
    verdict, actions = bob.on_gossip(
        "alice", TOPIC_BLOCKS, BlockAnnounce.of(bad).encode(), chain.at(10)
    )
    assert verdict is Verdict.REJECT
    (report,) = reports(actions)
    assert report.peer == "alice" and report.cost > 0 and why in report.reason
    assert bob.best_header.number == 0
    # The node goes on: the genuine block still imports.
    ok, _ = bob.on_gossip("alice", TOPIC_BLOCKS, BlockAnnounce.of(block).encode(), chain.at(10))
    assert ok is Verdict.ACCEPT


def test_a_block_by_a_non_authority_is_refused_even_without_its_parent(pair):
    chain, alice, bob = pair
    parent, _ = authored(alice, chain, 10)
    eve_block = chain.build_on(alice.store, parent.header, slot=11, author=EVE)
    verdict, actions = bob.on_gossip(
        "alice", TOPIC_BLOCKS, BlockAnnounce.of(eve_block).encode(), chain.at(11)
    )
    assert verdict is Verdict.REJECT and "unknown author" in reports(actions)[0].reason


def test_a_block_whose_parent_is_missing_is_relayed_and_fetched(pair):
    chain, alice, bob = pair
    authored(alice, chain, 10)
    bob.on_peer_connected("alice", chain.at(10))
    second, _ = authored(alice, chain, 12)
    verdict, actions = bob.on_gossip(
        "alice", TOPIC_BLOCKS, BlockAnnounce.of(second).encode(), chain.at(12)
    )
    assert verdict is Verdict.ACCEPT  # sealed by the right kind of author: others may have #1
    (fetch,) = requests(actions, PROTOCOL_SYNC)
    request = BlockRequest.decode(fetch.data)
    assert request.start == second.header.hash and request.descending
    # Alice answers with #2 and #1; Bob imports both, oldest first.
    answer = alice.on_request("bob", PROTOCOL_SYNC, fetch.data, chain.at(12))
    assert [b.header.number for b in decode_blocks(answer)] == [2, 1]
    bob.on_response("alice", fetch.tag, answer, chain.at(12))
    assert bob.best_header == second.header


def test_a_block_below_the_finalized_height_is_refused(dev):
    alice, bob = dev.node(ALICE), dev.node(ALICE)
    block, _ = authored(alice, dev, 10)
    bob_own, _ = authored(bob, dev, 11)  # Bob's store finalized its own #1 (sole authority)
    verdict, actions = bob.on_gossip(
        "alice", TOPIC_BLOCKS, BlockAnnounce.of(block).encode(), dev.at(11)
    )
    assert verdict is Verdict.IGNORE  # not relayed
    (report,) = reports(actions)
    assert "finalized chain" in report.reason and report.cost > 0
    assert bob.best_header == bob_own.header


# Transactions


def test_gossiped_transactions_enter_the_pool_and_bad_ones_are_refused(pair, h):
    chain, _, bob = pair
    g = chain.genesis_header.hash

    good = h.transfer(CHARLIE, DAVE.public, XPL, nonce=0, genesis_hash=g)
    verdict, _ = bob.on_gossip(
        "alice", TOPIC_TRANSACTIONS, encode_transactions([good.raw]), chain.at(10)
    )
    assert verdict is Verdict.ACCEPT and good.hash in bob.pool
    # Already pooled: nothing new, not relayed again, nobody charged.
    again, actions = bob.on_gossip(
        "alice", TOPIC_TRANSACTIONS, encode_transactions([good.raw]), chain.at(10)
    )
    assert again is Verdict.IGNORE and reports(actions) == []
    forged = bytearray(h.transfer(DAVE, CHARLIE.public, XPL, nonce=0, genesis_hash=g).raw)
    forged[40] ^= 1  # inside the signature
    verdict, actions = bob.on_gossip(
        "alice", TOPIC_TRANSACTIONS, encode_transactions([bytes(forged)]), chain.at(10)
    )
    assert verdict is Verdict.REJECT and reports(actions)[0].peer == "alice"


def test_a_locally_submitted_transaction_is_gossiped_in_a_batch(pair, h):
    chain, alice, _ = pair
    g = chain.genesis_header.hash
    txs = [h.transfer(CHARLIE, DAVE.public, XPL, nonce=n, genesis_hash=g) for n in range(3)]
    for tx in txs:
        alice.submit_transaction(tx.raw, chain.at(10))
    (batch,) = gossip(alice.on_timer("gossip", chain.at(10) + 100), TOPIC_TRANSACTIONS)
    assert codec.decode(batch.data) == [tx.raw for tx in txs]


# Garbage and unknown topics


@pytest.mark.parametrize("topic", [TOPIC_BLOCKS, TOPIC_TRANSACTIONS, TOPIC_FINALITY, "other"])
@pytest.mark.parametrize("data", [b"", b"\xc1", codec.encode([1, 2, 3]), bytes(1000)])
def test_undecodable_gossip_is_refused_and_charged(pair, topic, data):
    chain, _, bob = pair
    verdict, actions = bob.on_gossip("mallory", topic, data, chain.at(10))
    assert verdict is Verdict.REJECT
    assert reports(actions)[0].peer == "mallory"


def test_a_vote_from_outside_the_set_is_refused(pair):
    chain, alice, bob = pair
    block, _ = authored(alice, chain, 10)
    bob.import_block(block, chain.at(10))
    vote = SignedVote.sign(EVE, phase=PREVOTE, set_id=0, round_=1, block_hash=block.hash, number=1)
    data = encode_finality("votes", [vote.to_value()])
    verdict, actions = bob.on_gossip("mallory", TOPIC_FINALITY, data, chain.at(10))
    assert verdict is Verdict.REJECT and reports(actions)[0].peer == "mallory"


# Requests


def test_status_and_sync_requests_are_answered_from_the_store(pair):
    chain, alice, _ = pair
    blocks = [authored(alice, chain, slot)[0] for slot in (10, 12, 14, 16)]
    status = Status.decode(alice.on_request("bob", PROTOCOL_STATUS, b"", chain.at(16)))
    assert (status.genesis_hash, status.best_number, status.authority) == (
        alice.genesis_hash,
        4,
        True,
    )

    def ask(start, descending=False, count=MAX_SYNC_BLOCKS, bodies=True) -> list[SyncedBlock]:
        raw = BlockRequest(start, descending, count, bodies).encode()
        return decode_blocks(alice.on_request("bob", PROTOCOL_SYNC, raw, chain.at(16)))

    assert [b.header.number for b in ask(2)] == [2, 3, 4]
    assert [b.header.number for b in ask(3, descending=True)] == [3, 2, 1, 0]
    assert [b.header.number for b in ask(blocks[3].hash, descending=True, count=2)] == [4, 3]
    assert [b.header.number for b in ask(blocks[1].hash)] == [2, 3, 4]
    assert ask(blocks[0].hash, bodies=False)[0].body is None
    assert ask(99) == [] and ask(blake2b_256(b"unknown")) == []
    assert ask(1)[0].body == blocks[0].extrinsics


@pytest.mark.parametrize(
    ("protocol", "data"),
    [
        (PROTOCOL_SYNC, b"\xc1"),
        (PROTOCOL_SYNC, codec.encode([0, False, 0, True])),  # asks for no block
        (PROTOCOL_SYNC, codec.encode([0, False, MAX_SYNC_BLOCKS + 1, True])),
        (PROTOCOL_CATCH_UP, codec.encode(["x"])),
    ],
)
def test_malformed_requests_are_refused(pair, protocol, data):
    chain, alice, _ = pair
    with pytest.raises(DecodeError):
        alice.on_request("bob", protocol, data, chain.at(10))


def test_unknown_protocols_and_unanswerable_catch_ups_are_refused(pair):
    chain, alice, _ = pair
    with pytest.raises(RequestRefused, match="unknown protocol"):
        alice.on_request("bob", "nonsense", b"", chain.at(10))
    with pytest.raises(RequestRefused, match="no completed round"):
        alice.on_request("bob", PROTOCOL_CATCH_UP, encode_catch_up_request(0, 50), chain.at(10))


# Answers


def test_range_sync_imports_what_a_peer_has_and_charges_for_bad_answers(pair):
    chain, alice, bob = pair
    blocks = [authored(alice, chain, slot)[0] for slot in (10, 12, 14)]
    actions = bob.on_peer_connected("alice", chain.at(14))
    (status_request,) = requests(actions, PROTOCOL_STATUS)
    actions = bob.on_response(
        "alice", status_request.tag, alice.on_request("bob", PROTOCOL_STATUS, b"", 0), chain.at(14)
    )
    (range_request,) = requests(actions, PROTOCOL_SYNC)
    assert BlockRequest.decode(range_request.data).start == 1
    # An answer with a tampered block: refused, charged, nothing imported past it.
    tampered = [
        SyncedBlock(blocks[0].header, blocks[0].extrinsics, None),
        SyncedBlock(replace(blocks[1].header, state_root=bytes(32)), blocks[1].extrinsics, None),
    ]
    actions = bob.on_response("alice", range_request.tag, encode_blocks(tampered), chain.at(14))
    assert reports(actions) and reports(actions)[0].cost > 0
    assert bob.best_header == blocks[0].header
    # Undecodable answers are charged too; the next range request then brings the rest.
    (retry,) = requests(actions, PROTOCOL_SYNC) or requests(
        bob.on_timer("tick", chain.at(14) + 500), PROTOCOL_SYNC
    )
    actions = bob.on_response("alice", retry.tag, b"\xc1", chain.at(14))
    assert reports(actions)
    (again,) = requests(actions, PROTOCOL_SYNC) or requests(
        bob.on_timer("tick", chain.at(14) + 1000), PROTOCOL_SYNC
    )
    answer = alice.on_request("bob", PROTOCOL_SYNC, again.data, chain.at(14))
    bob.on_response("alice", again.tag, answer, chain.at(14))
    assert bob.best_header == blocks[2].header


def test_a_peer_on_another_chain_is_charged(pair, dev):
    chain, _, bob = pair
    stranger = dev.node(ALICE)
    actions = bob.on_peer_connected("stranger", chain.at(10))
    (status_request,) = requests(actions, PROTOCOL_STATUS)
    answer = stranger.on_request("bob", PROTOCOL_STATUS, b"", chain.at(10))
    actions = bob.on_response("stranger", status_request.tag, answer, chain.at(10))
    assert "another chain" in reports(actions)[0].reason


def test_two_blocks_sealed_for_one_slot_are_noticed(pair, caplog, h):
    chain, alice, bob = pair
    first, _ = authored(alice, chain, 10)
    other = chain.build_on(
        alice.store, chain.genesis_header, slot=10, author=ALICE, timestamp=10 * chain.slot_ms
    )
    assert other.hash == first.hash  # same contents, same block: no offence
    tx = h.transfer(CHARLIE, DAVE.public, XPL, nonce=0, genesis_hash=chain.genesis_header.hash)
    twin = chain.build_on(alice.store, chain.genesis_header, slot=10, author=ALICE, txs=[tx])
    assert twin.hash != first.hash
    bob.on_gossip("alice", TOPIC_BLOCKS, BlockAnnounce.of(first).encode(), chain.at(10))
    with caplog.at_level("WARNING"):
        bob.on_gossip("alice", TOPIC_BLOCKS, BlockAnnounce.of(twin).encode(), chain.at(10))
    assert "sealed two blocks for slot 10" in caplog.text
