"""The chain randomness on the simulated network, with real node cores: block variants that an
author could publish for its slot all pass every import rule and all leave R (what every audit
and committee draw reads) the same; only forfeiting the slot to the next author changes it; and
every node agrees on R."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import permutations

from chain.client.chain import transfer_call
from chain.core import aura
from chain.core.importer import seal_block, verify_and_execute
from chain.core.node import NodeCore
from chain.spec import local_spec
from runtime.block import Block, Header
from runtime.executive import BlockBuilder
from runtime.pallets import randomness, session, system
from runtime.primitives.keys import Keypair, keypair_from_suri
from runtime.state import StateOverlay
from runtime.transaction import SignedTransaction, sign_transaction
from sim.network import SimNetwork

NAMES = ("Alice", "Bob", "Charlie", "Dave")
KEYS = {keypair_from_suri("//" + n).public: keypair_from_suri("//" + n) for n in NAMES}
SIGNERS = ("Eve", "Ferdie", "Alice", "Bob")
"""Funded accounts whose transfers the grinding author can include, in any subset and order."""


def build(
    core: NodeCore, parent: Header, slot: int, author: Keypair, txs: Sequence[SignedTransaction]
) -> Block:
    """The block `author` would seal for `slot` on `parent` holding `txs`, built on the core's
    store by the runtime (nothing is stored)."""
    builder = BlockBuilder(
        core.reader(parent.hash),
        parent,
        timestamp=slot * core.slot_duration_ms(),
        slot=slot,
        author=author,
        genesis_hash=core.genesis_hash,
    )
    for tx in txs:
        builder.push(tx)
    result = builder.finish()
    return seal_block(
        core.store, parent, result, builder.extrinsics, slot=slot, author=author
    ).block


def randomness_after(core: NodeCore, block: Block, now_ms: int) -> bytes:
    """R after `block`, which the core's importer checks against every rule (nothing is stored)."""
    executed = verify_and_execute(core.store, block, now_ms=now_ms)
    return randomness.current(executed.result.context.state)


def test_block_variants_on_real_cores_leave_r_unchanged_and_a_forfeit_does_not():
    net = SimNetwork(local_spec(validators=4), seed=11)
    for name in NAMES:
        net.add_node(name, keypair_from_suri("//" + name))
    net.connect_all()
    net.run_for(8_000)
    core = net.core("Alice")
    parent = core.best_header
    slot_ms = core.slot_duration_ms()
    state = StateOverlay(core.reader(parent.hash))
    authorities = session.authority_set(state).keys
    slot = parent.digest.slot + 1
    author = KEYS[aura.slot_author(authorities, slot)]
    next_author = KEYS[aura.slot_author(authorities, slot + 1)]
    assert next_author != author

    txs = [
        sign_transaction(
            keypair_from_suri("//" + name),
            transfer_call(keypair_from_suri("//Eve").public, 10**12 + i),
            nonce=system.nonce_of_state(state, keypair_from_suri("//" + name).public),
            genesis_hash=core.genesis_hash,
        )
        for i, name in enumerate(SIGNERS)
    ]
    bodies = [p for k in range(len(txs) + 1) for p in permutations(range(len(txs)), k)]
    now_ms = (slot + 1) * slot_ms
    hashes, seen = set(), set()
    for body in bodies:
        block = build(core, parent, slot, author, [txs[i] for i in body])
        hashes.add(block.hash)
        seen.add(randomness_after(core, block, now_ms))
    assert len(hashes) == len(bodies) == 65
    assert len(seen) == 1  # 65 valid blocks for the slot, one chain randomness

    # The author forfeits: the next slot's author builds on the same parent instead.
    forfeited = build(core, parent, slot + 1, next_author, [])
    assert randomness_after(core, forfeited, now_ms + slot_ms) not in seen

    # The network goes on and every node holds the same R at the finalized block.
    net.run_for(6_000)
    finalized = core.finalized_header
    values = {randomness.current(StateOverlay(net.core(n).reader(finalized.hash))) for n in NAMES}
    assert len(values) == 1 and values != {bytes(32)}
