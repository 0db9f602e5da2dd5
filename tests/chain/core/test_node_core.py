"""The node core driven as the node process drives it: slots authored, transactions pooled and
included, blocks moved between nodes over one genesis, every import rule, and fork choice.

Fixtures (conftest): `dev` is the single-validator dev chain, `local(n)` a chain with n
validators; each `.node(authority)` is a NodeCore over its own fresh store. `h` reads actions.
"""

from __future__ import annotations

import gc
from dataclasses import replace

import pytest

from chain.core import node as node_module
from chain.core.actions import BlockImported, SetTimer
from chain.core.importer import AlreadyKnown, BlockRejected, UnknownParent, verify_and_execute
from chain.core.node import NodeCore
from chain.core.pool import PoolError
from chain.storage.chain_store import ChainStore
from chain.storage.kv import MemoryStore
from runtime.accounts import TREASURY
from runtime.api import account_info, query_fee
from runtime.block import Block, extrinsics_root
from runtime.executive import InvalidTransaction
from runtime.pallets import system
from runtime.pallets.balances import EXISTENTIAL_DEPOSIT, TRANSFER_WEIGHT
from runtime.pallets.transaction_payment import AUTHOR_FEE_PERCENT
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import DEV_ACCOUNT_NAMES, dev_keypair
from runtime.transaction import Mortality

ALICE, BOB, CHARLIE, DAVE = (dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave"))
XPL = 10**12
ED = EXISTENTIAL_DEPOSIT


def author(core: NodeCore, chain, slot: int, h) -> Block:
    """Fire `core`'s slot timer inside `slot`; the block it authors (it must author one)."""
    header = h.authored(core.on_timer("slot", chain.at(slot)))
    assert header is not None, f"no block authored in slot {slot}"
    block = core.store.block(header.hash)
    assert block is not None
    return block


def submit(core: NodeCore, tx, chain) -> list:
    """Submit a transaction; the actions other than gossiping it (it always is)."""
    _, actions = core.submit_transaction(tx.raw, chain.at(core.best_header.digest.slot))
    gossip = [a for a in actions if isinstance(a, SetTimer) and a.name == "gossip"]
    assert len(gossip) <= 1
    return [a for a in actions if a not in gossip]


def state_of(core: NodeCore, block_hash: bytes) -> dict[bytes, bytes]:
    return dict(core.store.iterate_state(block_hash, b""))


# ---------------------------------------------------------------------------------------------
# A dev node on its own


def test_a_dev_node_authors_one_block_per_slot_and_finalizes_it(dev, h):
    core = dev.node(ALICE)
    assert h.timers(core.start(dev.at(10))) == [SetTimer("slot", 11 * dev.slot_ms)]

    actions = core.on_timer("slot", dev.at(11))
    first = h.authored(actions)
    assert first is not None
    assert (first.number, first.digest.slot, first.timestamp) == (1, 11, 11 * dev.slot_ms)
    assert first.digest.author == ALICE.public and first.seal_is_valid()
    assert h.finalized(actions) == [first.hash]
    # Subscribers hear of the block before they hear it is final.
    kinds = [type(a).__name__ for a in actions]
    assert kinds.index("BlockImported") < kinds.index("Finalized")
    assert h.timers(actions) == [SetTimer("slot", 12 * dev.slot_ms)]

    # The timer firing again within the same slot authors nothing.
    assert h.authored(core.on_timer("slot", 12 * dev.slot_ms - 1)) is None
    # Skipped slots are skipped: the next block carries the slot it was authored in.
    second = h.authored(core.on_timer("slot", dev.at(15)))
    assert second is not None and (second.number, second.digest.slot) == (2, 15)
    assert second.parent_hash == first.hash
    store = core.store
    assert [store.hash_at(n) for n in range(4)] == [
        dev.genesis_header.hash,
        first.hash,
        second.hash,
        None,
    ]
    assert store.best_hash == store.finalized_hash == second.hash


def test_a_node_without_a_key_or_slot_authors_nothing(dev, local, h):
    assert h.authored(dev.node(None).on_timer("slot", dev.at(11))) is None
    chain = local(2)
    bob = chain.node(BOB)
    assert chain.author_of(10) == ALICE.public
    assert h.authored(bob.on_timer("slot", chain.at(10))) is None
    assert h.authored(bob.on_timer("slot", chain.at(11))) is not None


def test_pooled_transfers_are_included_finalized_and_move_balances(dev, h):
    core = dev.node(ALICE)
    core.start(dev.at(10))
    before = {
        who: h.free(core, who) for who in (ALICE.public, BOB.public, CHARLIE.public, TREASURY)
    }
    txs = [
        h.transfer(BOB, CHARLIE.public, 5 * XPL, nonce=0, genesis_hash=core.genesis_hash, tip=7),
        h.transfer(BOB, CHARLIE.public, 2 * XPL, nonce=1, genesis_hash=core.genesis_hash),
    ]
    fees = [query_fee(core.reader(), tx).partial_fee for tx in txs]
    for tx in reversed(txs):  # the pool puts them back in nonce order
        assert submit(core, tx, dev) == []
    assert core.pool.ready_count == 2 and core.next_nonce(BOB.public) == 2

    actions = core.on_timer("slot", dev.at(11))
    header = h.authored(actions)
    assert header is not None
    [imported] = [a for a in actions if isinstance(a, BlockImported)]
    assert imported.tx_hashes == tuple(tx.hash for tx in txs)
    assert core.store.body(header.hash) == tuple(tx.raw for tx in txs)
    assert h.finalized(actions) == [header.hash] and core.finalized_header == header
    assert len(core.pool) == 0 and h.dropped(actions) == []

    author_share = sum(fees) * AUTHOR_FEE_PERCENT // 100
    after = {who: h.free(core, who) for who in before}
    assert after[BOB.public] == before[BOB.public] - 7 * XPL - sum(fees) - 7
    assert after[CHARLIE.public] == before[CHARLIE.public] + 7 * XPL
    assert after[ALICE.public] == before[ALICE.public] + author_share + 7
    assert after[TREASURY] == before[TREASURY] + sum(fees) - author_share
    assert account_info(core.reader(), BOB.public).nonce == 2
    assert core.next_nonce(BOB.public) == 2


def test_next_nonce_counts_pooled_transactions_up_to_the_first_gap(dev, h):
    core = dev.node(ALICE)
    core.start(dev.at(10))
    g = core.genesis_hash
    for nonce in (0, 1, 3):
        submit(core, h.transfer(BOB, DAVE.public, XPL, nonce=nonce, genesis_hash=g), dev)
    assert core.next_nonce(BOB.public) == 2
    assert core.next_nonce(CHARLIE.public) == 0
    author(core, dev, 11, h)
    assert account_info(core.reader(), BOB.public).nonce == 2
    assert core.pool.future_count == 1 and core.next_nonce(BOB.public) == 2
    submit(core, h.transfer(BOB, DAVE.public, XPL, nonce=2, genesis_hash=g), dev)
    assert core.pool.ready_count == 2 and core.next_nonce(BOB.public) == 4


def test_submission_refuses_invalid_and_bans_bad_signatures(dev, h):
    core = dev.node(ALICE)
    core.start(dev.at(10))
    author(core, dev, 11, h)
    g = core.genesis_hash
    stale = h.transfer(BOB, DAVE.public, XPL, nonce=0, genesis_hash=g)
    submit(core, stale, dev)
    author(core, dev, 12, h)
    with pytest.raises(InvalidTransaction) as refused:
        submit(core, h.transfer(BOB, DAVE.public, 2 * XPL, nonce=0, genesis_hash=g), dev)
    assert refused.value.kind == "stale"

    # Signed for a birth block this chain does not have: the signature cannot match.
    wrong_birth = h.transfer(
        BOB,
        DAVE.public,
        XPL,
        nonce=1,
        genesis_hash=g,
        mortality=Mortality(8, 1),
        birth_hash=blake2b_256(b"not block 1"),
    )
    with pytest.raises(InvalidTransaction) as refused:
        submit(core, wrong_birth, dev)
    assert refused.value.kind == "bad_signature"
    with pytest.raises(PoolError) as banned:
        submit(core, wrong_birth, dev)
    assert banned.value.kind == "banned"


def test_mortal_transactions_are_included_in_their_window_and_dropped_after_it(dev, h):
    core = dev.node(ALICE)
    core.start(dev.at(10))
    first = author(core, dev, 11, h).header
    g = core.genesis_hash
    # Valid in blocks 2 and 3 (born at #1, period 2).
    in_time = h.transfer(
        BOB,
        DAVE.public,
        XPL,
        nonce=0,
        genesis_hash=g,
        mortality=Mortality(2, 1),
        birth_hash=first.hash,
    )
    waiting = h.transfer(  # nonce 5 waits for a gap that never fills
        BOB,
        DAVE.public,
        XPL,
        nonce=5,
        genesis_hash=g,
        mortality=Mortality(2, 1),
        birth_hash=first.hash,
    )
    submit(core, in_time, dev)
    submit(core, waiting, dev)
    assert author(core, dev, 12, h).extrinsics == (in_time.raw,)
    assert waiting.hash in core.pool
    # Block #3 is the last that may include it: once #3 is built, it goes.
    actions = core.on_timer("slot", dev.at(13))
    assert [(d.tx_hash, d.status) for d in h.dropped(actions)] == [(waiting.hash, "dropped")]
    assert waiting.hash not in core.pool


def test_a_transaction_whose_balance_was_spent_is_dropped_as_invalid(dev, h):
    core = dev.node(ALICE)
    core.start(dev.at(10))
    g = core.genesis_hash
    free = h.free(core, DAVE.public)
    draft = h.transfer(DAVE, BOB.public, 0, nonce=0, genesis_hash=g, keep_alive=True)
    fee = query_fee(core.reader(), draft).partial_fee
    # Dave keeps exactly the existential deposit: not enough to pay another fee.
    spend = h.transfer(DAVE, BOB.public, free - fee - ED, nonce=0, genesis_hash=g, keep_alive=True)
    starved = h.transfer(DAVE, BOB.public, XPL, nonce=1, genesis_hash=g)
    other = h.transfer(CHARLIE, BOB.public, XPL, nonce=0, genesis_hash=g)
    # Behind `spend`, `starved` could not pay its fee after what `spend` moves: refused at once.
    for tx in (spend, other):
        submit(core, tx, dev)
    with pytest.raises(PoolError) as refused:
        submit(core, starved, dev)
    assert refused.value.kind == "balance"

    actions = core.on_timer("slot", dev.at(11))
    block = core.store.block(h.authored(actions).hash)
    assert set(block.extrinsics) == {spend.raw, other.raw}
    assert len(core.pool) == 0 and h.free(core, DAVE.public) == ED
    # Once the balance is spent, it is invalid, and banned for a while.
    with pytest.raises(InvalidTransaction):
        submit(core, starved, dev)
    with pytest.raises(PoolError) as banned:
        submit(core, starved, dev)
    assert banned.value.kind == "banned"


def test_what_does_not_fit_one_block_waits_for_the_next(dev, h):
    core = dev.node(ALICE)
    core.start(dev.at(10))
    per_tx = system.EXTRINSIC_BASE_WEIGHT + TRANSFER_WEIGHT
    fits = system.MAX_NORMAL_WEIGHT // per_tx
    senders = [dev_keypair(n) for n in DEV_ACCOUNT_NAMES]
    per_sender = fits // len(senders) + 2  # a few more than one block holds
    for nonce in range(per_sender):
        for sender in senders:
            dest = CHARLIE.public if sender != CHARLIE else BOB.public
            submit(
                core,
                h.transfer(sender, dest, XPL, nonce=nonce, genesis_hash=core.genesis_hash),
                dev,
            )
    total = per_sender * len(senders)
    assert core.pool.ready_count == total > fits

    actions = core.on_timer("slot", dev.at(11))
    first = core.store.block(h.authored(actions).hash)
    assert len(first.extrinsics) == fits
    assert h.dropped(actions) == []
    assert core.pool.ready_count == total - fits
    second = author(core, dev, 12, h)
    assert len(second.extrinsics) == total - fits and len(core.pool) == 0
    assert set(first.extrinsics).isdisjoint(second.extrinsics)


def test_a_restarted_node_resumes_from_its_store(dev, h):
    kv = MemoryStore()
    core = NodeCore(dev.store(kv), authority=ALICE)
    core.start(dev.at(10))
    author(core, dev, 11, h)
    last = author(core, dev, 12, h).header
    reopened = ChainStore(kv)
    reopened.open()
    again = NodeCore(reopened, authority=ALICE)
    assert again.best_header == again.finalized_header == last
    again.start(dev.at(13))
    assert author(again, dev, 13, h).header.parent_hash == last.hash


# ---------------------------------------------------------------------------------------------
# Several nodes over one genesis


def test_blocks_authored_by_one_node_import_into_another_with_the_same_state(local, h):
    chain = local(2)
    alice, bob = chain.node(ALICE), chain.node(BOB)
    g = chain.genesis_header.hash
    tx = h.transfer(CHARLIE, DAVE.public, 3 * XPL, nonce=0, genesis_hash=g)
    submit(alice, tx, chain)
    submit(bob, tx, chain)

    authoring = alice.on_timer("slot", chain.at(10))
    assert h.finalized(authoring) == []  # one of two validators: no finality on its own
    a1 = alice.store.block(h.authored(authoring).hash)
    assert a1.extrinsics == (tx.raw,)
    actions = bob.import_block(a1, chain.at(10))
    assert actions[0] == BlockImported(a1.header, (tx.hash,), best=True, authored=False)
    assert h.finalized(actions) == [] and tx.hash not in bob.pool

    b2 = author(bob, chain, 11, h)
    assert b2.header.parent_hash == a1.header.hash
    alice.import_block(b2, chain.at(11))
    for block in (a1, b2):
        assert alice.store.header(block.header.hash) == bob.store.header(block.header.hash)
        assert state_of(alice, block.header.hash) == state_of(bob, block.header.hash)
    assert alice.best_header == bob.best_header == b2.header
    assert alice.finalized_header.number == bob.finalized_header.number == 0

    # Finality comes from the validators' precommits: more than 2/3 of two is both.
    justification = chain.justification(b2.header, [ALICE, BOB])
    for core in (alice, bob):
        assert core.store.finalize(b2.header.hash, justification) == [
            a1.header.hash,
            b2.header.hash,
        ]
        assert core.finalized_header == b2.header


def test_a_block_with_a_justification_is_imported_final(local, h):
    chain = local(2)
    alice, bob = chain.node(ALICE), chain.node(BOB)
    a1 = author(alice, chain, 10, h)
    with pytest.raises(BlockRejected, match="bad justification"):
        bob.import_block(a1, chain.at(10), justification=chain.justification(a1.header, [ALICE]))
    assert bob.store.header(a1.header.hash) is None  # refused means not stored
    actions = bob.import_block(
        a1, chain.at(10), justification=chain.justification(a1.header, [ALICE, BOB])
    )
    assert h.finalized(actions) == [a1.header.hash]
    assert bob.finalized_header == a1.header


# ---------------------------------------------------------------------------------------------
# The import rules


@pytest.fixture
def net(local, h):
    """Two validators; Alice has authored block #1 in slot 10, with a transfer in it."""
    chain = local(2)
    alice, bob = chain.node(ALICE), chain.node(BOB)
    tx = h.transfer(CHARLIE, DAVE.public, XPL, nonce=0, genesis_hash=chain.genesis_header.hash)
    submit(alice, tx, chain)
    a1 = author(alice, chain, 10, h)
    return chain, alice, bob, a1


def refused(core: NodeCore, block: Block, now_ms: int, kind=BlockRejected) -> str:
    best = core.store.best_hash
    with pytest.raises(kind) as exc:
        core.import_block(block, now_ms)
    assert core.store.header(block.header.hash) is None or kind is AlreadyKnown
    assert core.store.best_hash == best
    return str(exc.value)


def resealed(block: Block, key, **fields) -> Block:
    header = replace(block.header, **fields)
    header = replace(header, digest=replace(header.digest, seal=b"")).sealed_by(key)
    return Block(header, block.extrinsics)


def test_the_control_block_imports(net):
    chain, _, bob, a1 = net
    bob.import_block(a1, chain.at(10))
    assert bob.best_header == a1.header


def test_collection_is_paused_while_a_block_imports(net, monkeypatch):
    chain, _, bob, a1 = net
    enabled_during = []

    def execute(*args, **kwargs):
        enabled_during.append(gc.isenabled())
        return verify_and_execute(*args, **kwargs)

    monkeypatch.setattr(node_module, "verify_and_execute", execute)
    bob.import_block(a1, chain.at(10))
    assert enabled_during == [False]
    assert gc.isenabled()
    refused(bob, a1, chain.at(10), AlreadyKnown)
    assert gc.isenabled()
    gc.disable()
    try:
        refused(bob, a1, chain.at(10), AlreadyKnown)
        assert not gc.isenabled()  # the caller's choice stands
    finally:
        gc.enable()


def test_a_block_from_another_validators_slot_is_refused(net):
    chain, alice, bob, _ = net
    genesis = chain.genesis_header
    by_bob = chain.build_on(alice.store, genesis, slot=10, author=BOB)  # slot 10 is Alice's
    assert "belongs to another validator" in refused(bob, by_bob, chain.at(10))


def test_a_slot_not_after_the_parents_is_refused(net):
    chain, alice, bob, a1 = net
    bob.import_block(a1, chain.at(10))
    for slot in (10, 8):
        same = chain.build_on(alice.store, a1.header, slot=slot, author=ALICE)
        assert "not after the parent's slot" in refused(bob, same, chain.at(12))


def test_a_block_too_far_in_the_future_is_refused(net):
    chain, alice, bob, _ = net
    ahead = chain.build_on(alice.store, chain.genesis_header, slot=16, author=ALICE)
    assert "too far in the future" in refused(bob, ahead, chain.at(13))
    bob.import_block(ahead, chain.at(14))  # two slots of clock difference are tolerated


def test_a_bad_seal_is_refused(net):
    chain, _, bob, a1 = net
    for seal in (bytes(64), BOB.sign(a1.header.pre_seal_hash())):
        forged = Block(
            replace(a1.header, digest=replace(a1.header.digest, seal=seal)), a1.extrinsics
        )
        assert "seal" in refused(bob, forged, chain.at(10))


def test_a_wrong_timestamp_is_refused(net):
    chain, alice, bob, _ = net
    late = chain.build_on(
        alice.store, chain.genesis_header, slot=10, author=ALICE, timestamp=10_001
    )
    assert "timestamp" in refused(bob, late, chain.at(10))


def test_a_tampered_state_root_is_refused(net):
    chain, _, bob, a1 = net
    wrong_root = resealed(a1, ALICE, state_root=blake2b_256(b"another state"))
    assert "state root" in refused(bob, wrong_root, chain.at(10))


def test_a_tampered_extrinsic_is_refused(net, h):
    chain, _, bob, a1 = net
    other = h.transfer(
        CHARLIE, DAVE.public, 2 * XPL, nonce=0, genesis_hash=chain.genesis_header.hash
    )
    swapped = Block(a1.header, (other.raw,))
    assert "extrinsics root" in refused(bob, swapped, chain.at(10))
    # The same edit with the header recommitted to it: the signature no longer covers the body.
    raw = bytearray(a1.extrinsics[0])
    raw[-1] ^= 1  # the last byte of the amount
    edited = (bytes(raw),)
    recommitted = resealed(Block(a1.header, edited), ALICE, extrinsics_root=extrinsics_root(edited))
    assert "bad signature" in refused(bob, recommitted, chain.at(10))


def test_a_wrong_block_number_is_refused(net):
    chain, _, bob, a1 = net
    assert "number" in refused(bob, resealed(a1, ALICE, number=2), chain.at(10))


def test_an_unknown_parent_and_a_known_block_are_refused_by_name(net):
    chain, alice, bob, a1 = net
    child = chain.build_on(alice.store, a1.header, slot=12, author=ALICE)
    assert "unknown" in refused(bob, child, chain.at(12), UnknownParent)
    bob.import_block(a1, chain.at(10))
    assert "already known" in refused(bob, a1, chain.at(10), AlreadyKnown)
    bob.import_block(child, chain.at(12))
    assert bob.best_header == child.header


def test_a_block_at_or_below_the_finalized_height_is_refused(dev, h):
    core = dev.node(ALICE)
    core.start(dev.at(10))
    author(core, dev, 11, h)
    rival = dev.build_on(core.store, dev.genesis_header, slot=12, author=ALICE)
    assert rival.header.hash != core.finalized_header.hash
    assert "conflicts with the finalized chain" in refused(core, rival, dev.at(12))


# ---------------------------------------------------------------------------------------------
# Fork choice


def test_the_longest_chain_wins_and_equal_length_keeps_the_first(local, h):
    chain = local(2)
    alice, bob, observer = chain.node(ALICE), chain.node(BOB), chain.node(None)
    a1 = author(alice, chain, 10, h)
    b1 = author(bob, chain, 11, h)  # Bob has not seen a1: a fork at height 1
    b2 = author(bob, chain, 13, h)
    a2 = author(alice, chain, 12, h)
    a3 = author(alice, chain, 14, h)
    store = observer.store

    def imported(block: Block) -> bool:
        actions = observer.import_block(block, chain.at(14))
        [event] = [
            a for a in actions if isinstance(a, BlockImported) and a.header.hash == block.hash
        ]
        return event.best

    assert imported(a1)
    assert not imported(b1)  # same length: the first stays
    assert store.best_hash == a1.header.hash
    assert imported(b2)
    assert [store.hash_at(n) for n in (1, 2, 3)] == [b1.header.hash, b2.header.hash, None]
    assert not imported(a2)
    assert store.best_hash == b2.header.hash
    assert imported(a3)
    assert [store.hash_at(n) for n in (1, 2, 3)] == [a1.header.hash, a2.header.hash, a3.header.hash]
    # Both forks stay importable and readable until finality picks one.
    assert store.is_unfinalized(b2.header.hash)
    assert state_of(observer, b2.header.hash) == state_of(bob, b2.header.hash)


def test_a_justified_block_on_a_non_best_fork_moves_best_with_finality(local, h):
    """Finality abandons the best fork: best must follow, or the node cannot author again."""
    chain = local(2)
    alice, bob = chain.node(ALICE), chain.node(BOB)
    a1 = author(alice, chain, 10, h)
    b1 = author(bob, chain, 11, h)
    actions = alice.import_block(
        b1, chain.at(11), justification=chain.justification(b1.header, [ALICE, BOB])
    )
    assert h.finalized(actions) == [b1.header.hash]
    assert alice.store.header(a1.header.hash) is None  # the abandoned fork is gone
    assert alice.best_header == b1.header
    assert alice.store.hash_at(1) == b1.header.hash
    author(alice, chain, 12, h)


def test_an_imported_block_that_spends_a_balance_drops_the_pooled_follow_up(local, h):
    chain = local(2)
    alice, bob = chain.node(ALICE), chain.node(BOB)
    g = chain.genesis_header.hash
    free = h.free(bob, DAVE.public)
    draft = h.transfer(DAVE, BOB.public, 0, nonce=0, genesis_hash=g, keep_alive=True)
    fee = query_fee(bob.reader(), draft).partial_fee
    spend = h.transfer(DAVE, BOB.public, free - fee - ED, nonce=0, genesis_hash=g, keep_alive=True)
    starved = h.transfer(DAVE, BOB.public, XPL, nonce=1, genesis_hash=g)
    submit(alice, spend, chain)
    submit(bob, starved, chain)  # before `spend`: it waits as future, then behind `spend`
    submit(bob, spend, chain)
    assert not bob.pool.is_ready(starved.hash)
    a1 = author(alice, chain, 10, h)
    actions = bob.import_block(a1, chain.at(10))
    assert [(d.tx_hash, d.status) for d in h.dropped(actions)] == [(starved.hash, "invalid")]


def test_finalizing_a_block_finalizes_its_unfinalized_ancestors(local, h):
    chain = local(3)
    alice = chain.node(ALICE)
    blocks = [author(alice, chain, slot, h) for slot in (3, 6, 9)]  # Alice's slots of three
    top = blocks[-1].header
    newly = alice.store.finalize(top.hash, chain.justification(top, [ALICE, BOB, CHARLIE]))
    assert newly == [b.header.hash for b in blocks]
    assert alice.finalized_header == top


def test_a_reorg_returns_the_retracted_blocks_transactions_to_the_pool(local, h):
    chain = local(2)
    alice, bob, observer = chain.node(ALICE), chain.node(BOB), chain.node(None)
    tx = h.transfer(CHARLIE, DAVE.public, XPL, nonce=0, genesis_hash=chain.genesis_header.hash)
    submit(alice, tx, chain)
    submit(observer, tx, chain)
    a1 = author(alice, chain, 10, h)
    assert a1.extrinsics == (tx.raw,)
    observer.import_block(a1, chain.at(10))
    assert tx.hash not in observer.pool
    b1 = author(bob, chain, 11, h)  # Bob never saw the transaction
    b2 = author(bob, chain, 13, h)
    observer.import_block(b1, chain.at(13))
    observer.import_block(b2, chain.at(13))
    assert observer.best_header == b2.header
    assert observer.next_nonce(CHARLIE.public) == 1  # counting the transaction back in the pool
    assert observer.pool.is_ready(tx.hash)


def _longer_fork(chain, bob: NodeCore, observer: NodeCore, h, blocks: int) -> list[Block]:
    """`blocks` blocks of Bob's (odd slots from 11), imported into `observer`: its best now."""
    fork = [author(bob, chain, 11 + 2 * i, h) for i in range(blocks)]
    for block in fork:
        observer.import_block(block, chain.at(11 + 2 * blocks))
    assert observer.best_header == fork[-1].header
    return fork


def _born_at(chain, h, birth: Block):
    """//Charlie's transfer to //Dave, nonce 0, born at `birth` (block #1) for 32 blocks."""
    return h.transfer(
        CHARLIE,
        DAVE.public,
        XPL,
        nonce=0,
        genesis_hash=chain.genesis_header.hash,
        mortality=Mortality(32, 1),
        birth_hash=birth.header.hash,
    )


def test_a_pooled_transaction_born_on_a_fork_left_behind_is_dropped_not_included(local, h):
    """Its signature is over its birth block's hash: on the chain a reorg adopts, another block
    has that height, so the transaction would make the author's block invalid (refused by every
    peer, the slot lost). The pool drops it when it revalidates after the reorg."""
    chain = local(2)
    alice, bob, observer = chain.node(ALICE), chain.node(BOB), chain.node(None)
    a1 = author(alice, chain, 10, h)
    observer.import_block(a1, chain.at(10))
    tx = _born_at(chain, h, a1)
    submit(observer, tx, chain)
    assert observer.pool.is_ready(tx.hash)
    fork = _longer_fork(chain, bob, observer, h, 2)
    assert fork[0].header.hash != a1.header.hash
    assert tx.hash not in observer.pool
    assert observer.next_nonce(CHARLIE.public) == 0


def test_a_retracted_blocks_transaction_born_on_the_retracted_side_is_not_pooled_again(local, h):
    """A reorg puts the retracted blocks' transactions back in the pool; one born at a retracted
    block is checked again over the adopted chain's block of that height, and refused."""
    chain = local(2)
    alice, bob, observer = chain.node(ALICE), chain.node(BOB), chain.node(None)
    a1 = author(alice, chain, 10, h)
    born_there = _born_at(chain, h, a1)
    immortal = h.transfer(
        DAVE, CHARLIE.public, XPL, nonce=0, genesis_hash=chain.genesis_header.hash
    )
    submit(alice, born_there, chain)
    submit(alice, immortal, chain)
    a2 = author(alice, chain, 12, h)
    assert set(a2.extrinsics) == {born_there.raw, immortal.raw}
    observer.import_block(a1, chain.at(12))
    observer.import_block(a2, chain.at(12))
    _longer_fork(chain, bob, observer, h, 3)
    assert observer.pool.is_ready(immortal.hash)  # valid on any fork: back in the pool
    assert born_there.hash not in observer.pool
