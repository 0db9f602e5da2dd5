"""A signature the pool checked is not checked again when a block holding it is imported; the
cache is keyed by the exact triple checked, so a peer's block cannot ride on it with a
transaction whose signature does not hold on that block's chain."""

from __future__ import annotations

import pytest

import runtime.executive as executive
from chain.core.importer import ExecutionFailed
from runtime.primitives.keys import dev_keypair, verify
from runtime.transaction import Mortality

from .test_node_core import author, submit

ALICE, BOB, CHARLIE, DAVE = (dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave"))
XPL = 10**12


@pytest.fixture
def checks(monkeypatch):
    """The signature checks the runtime makes, counted."""
    made: list[bytes] = []

    def counting(public: bytes, message: bytes, signature: bytes) -> bool:
        made.append(message)
        return verify(public, message, signature)

    monkeypatch.setattr(executive, "verify", counting)
    return made


def test_a_block_of_pooled_transactions_imports_without_checking_them_again(local, h, checks):
    chain = local(2)
    alice, observer, stranger = chain.node(ALICE), chain.node(None), chain.node(None)
    g = chain.genesis_header.hash
    txs = [h.transfer(CHARLIE, DAVE.public, XPL + i, nonce=i, genesis_hash=g) for i in range(3)]
    for tx in txs:
        submit(alice, tx, chain)
        submit(observer, tx, chain)
    assert len(observer.checked_signatures) == 3
    a1 = author(alice, chain, 10, h)
    assert len(a1.extrinsics) == 3

    checks.clear()
    observer.import_block(a1, chain.at(10))
    assert checks == []  # all three were checked on admission
    stranger.import_block(a1, chain.at(10))
    assert len(checks) == 3  # a node that never pooled them checks every one
    assert observer.store.header(a1.header.hash) == stranger.store.header(a1.header.hash)
    assert observer.best_header == stranger.best_header == a1.header


def test_only_valid_signatures_are_remembered(local, h):
    chain = local(2)
    observer = chain.node(None)
    g = chain.genesis_header.hash
    tx = h.transfer(CHARLIE, DAVE.public, XPL, nonce=0, genesis_hash=g)
    forged = tx.raw.replace(tx.signature, bytes(64))
    with pytest.raises(executive.BadSignature):
        observer.submit_transaction(forged, chain.at(1))
    assert len(observer.checked_signatures) == 0


def test_a_peers_block_with_a_pooled_transaction_born_on_another_fork_is_checked_and_refused(
    local, h, checks
):
    """The observer pooled a transaction born at Alice's block #1; Bob's fork has another #1, so
    the same bytes (the same transaction hash) in Bob's #2 are signed over a block his chain does
    not hold. The cached check is of another message: the signature is checked, and fails."""
    chain = local(2)
    alice, bob, observer = chain.node(ALICE), chain.node(BOB), chain.node(None)
    a1 = author(alice, chain, 10, h)
    observer.import_block(a1, chain.at(10))
    tx = h.transfer(
        CHARLIE,
        DAVE.public,
        XPL,
        nonce=0,
        genesis_hash=chain.genesis_header.hash,
        mortality=Mortality(32, 1),
        birth_hash=a1.header.hash,
    )
    submit(observer, tx, chain)
    assert observer.pool.is_ready(tx.hash) and len(observer.checked_signatures) == 1

    b1 = author(bob, chain, 11, h)
    b2 = chain.build_on(bob.store, b1.header, slot=13, author=BOB, txs=[tx])
    assert b2.extrinsics == (tx.raw,)
    observer.import_block(b1, chain.at(13))
    checks.clear()
    with pytest.raises(ExecutionFailed, match="bad signature"):
        observer.import_block(b2, chain.at(13))
    assert len(checks) == 1
    assert observer.store.header(b2.header.hash) is None


def test_the_cache_keys_the_whole_triple_and_stays_bounded() -> None:
    checked = executive.CheckedSignatures(max_entries=8)
    key = dev_keypair("Alice")
    message = bytes(range(32))
    signature = key.sign(message)
    assert checked.verify(key.public, message, signature)
    assert checked.known([(key.public, message, signature)]) == [True]
    assert checked.known([(key.public, bytes(32), signature)]) == [False]
    assert not checked.verify(key.public, bytes(32), signature)
    assert len(checked) == 1
    for i in range(20):
        checked.add(key.public, i.to_bytes(32, "big"), signature)
        assert len(checked) <= 8


def test_skipping_known_triples_keeps_each_result_in_place() -> None:
    key = dev_keypair("Bob")
    items = []
    for i in range(6):
        message = i.to_bytes(32, "big")
        items.append((key.public, message, key.sign(message) if i != 4 else bytes(64)))
    checked = executive.CheckedSignatures()
    for i in (0, 2, 3):
        checked.add(*items[i])
    submitted: list[tuple[bytes, bytes, bytes]] = []

    class Recording:
        def submit(self, batch):
            submitted.extend(batch)
            return executive.DeferredSignatures(batch)

    pending = executive.SkipChecked(checked, Recording()).submit(items)
    assert submitted == [items[1], items[4], items[5]]
    assert pending() == [True, True, True, True, False, True]
