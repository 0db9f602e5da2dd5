"""The node's slot offence reports: two blocks sealed for one slot are reported on chain only if
the sealer was that slot's author (the runtime refuses any other, and the report's fee would be
lost)."""

from __future__ import annotations

import pytest

from chain.core.messages import TOPIC_BLOCKS, BlockAnnounce
from runtime.primitives.keys import dev_keypair

ALICE, BOB, CHARLIE, DAVE = (dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave"))
XPL = 10**12


@pytest.fixture
def pair(local):
    """Two validators of a two-validator chain: Alice (slots 10, 12, ...) and Bob."""
    chain = local(2)
    return chain, chain.node(ALICE), chain.node(BOB)


def _reports(core) -> list[object]:
    return [
        tx
        for tx in core.pool.pending()
        if (tx.call.pallet, tx.call.name) == ("staking", "report_equivocation")
    ]


def _twins(chain, store, slot: int, h):
    """Two different blocks Alice sealed for `slot` on genesis."""
    first = chain.build_on(store, chain.genesis_header, slot=slot, author=ALICE)
    tx = h.transfer(CHARLIE, DAVE.public, XPL, nonce=0, genesis_hash=chain.genesis_header.hash)
    second = chain.build_on(store, chain.genesis_header, slot=slot, author=ALICE, txs=[tx])
    assert first.hash != second.hash
    return first, second


@pytest.mark.parametrize(("slot", "reported"), [(10, 1), (11, 0)])
def test_a_slot_offence_is_reported_only_by_the_slots_author(pair, h, slot, reported):
    """Alice seals two blocks for her slot 10 (an offence the runtime slashes) or for Bob's slot
    11 (refused at import, and no offence the runtime would take): Bob reports only the first."""
    chain, alice, bob = pair
    assert chain.author_of(10) == ALICE.public and chain.author_of(11) == BOB.public
    first, second = _twins(chain, alice.store, slot, h)
    for block in (first, second):
        bob.on_gossip("alice", TOPIC_BLOCKS, BlockAnnounce.of(block).encode(), chain.at(slot))
    bob.on_timer("gossip", chain.at(slot) + 100)
    assert len(_reports(bob)) == reported
