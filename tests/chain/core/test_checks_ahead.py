"""The next block's signature checks start while the block before it imports; its import uses
them only for exactly its own body and triples, and a stranger's block costs the workers nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

import chain.core.checks_ahead as checks_ahead
import chain.core.node as node_module
import runtime.executive as executive_module
from chain.core.importer import ExecutionFailed, execute_and_commit
from runtime.block import Block, extrinsics_root
from runtime.executive import CheckedAhead, DeferredSignatures, PendingSignatures
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.transaction import Mortality, SignedTransaction, signing_messages

ALICE, BOB, CHARLIE, DAVE = (dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave"))
XPL = 10**12


class AllGood:
    """Checks made ahead that say "all good" for `count` signatures whatever they were, logging
    whether they were trusted or cancelled."""

    def __init__(self, log: list[str], count: int) -> None:
        self.log, self.count = log, count

    def __call__(self) -> list[bool]:
        self.log.append("trusted")
        return [True] * self.count

    def cancel(self) -> None:
        self.log.append("cancelled")


class Counting:
    """A verifier that checks in this process and logs each batch submitted, each wait for
    results and each cancel."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int]] = []

    def submit(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> PendingSignatures:
        log, checks = self.log, DeferredSignatures(items)
        log.append(("submitted", len(items)))

        class Pending:
            def __call__(self) -> list[bool]:
                log.append(("waited", len(items)))
                return checks()

            def cancel(self) -> None:
                log.append(("cancelled", len(items)))

        return Pending()

    def events(self, kind: str) -> list[int]:
        return [n for k, n in self.log if k == kind]


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """Blocks of a few transactions are checked ahead too (the node's bound is 64)."""
    monkeypatch.setattr(checks_ahead, "MIN_AHEAD", 1)


def first_block(local, h):
    """A one-validator chain, Alice's node, and block 1 (2 transfers) built and imported by it."""
    chain = local(1)
    author = chain.node(ALICE)
    g = chain.genesis_header.hash
    first = [h.transfer(CHARLIE, DAVE.public, XPL + i, nonce=i, genesis_hash=g) for i in range(2)]
    b1 = chain.build_on(author.store, chain.genesis_header, slot=1, author=ALICE, txs=first)
    author.import_block(b1, chain.at(1))
    return chain, author, b1


@pytest.fixture
def run(local, h):
    """A chain of two blocks built by Alice's node (2 and 3 transfers, the second block's last
    one mortal, born at the first), and the chain."""
    chain, author, b1 = first_block(local, h)
    g = chain.genesis_header.hash
    second = [h.transfer(CHARLIE, DAVE.public, XPL, nonce=i, genesis_hash=g) for i in (2, 3)]
    second.append(
        h.transfer(
            CHARLIE,
            DAVE.public,
            XPL,
            nonce=4,
            genesis_hash=g,
            mortality=Mortality(8, 1),
            birth_hash=b1.header.hash,
        )
    )
    b2 = chain.build_on(author.store, b1.header, slot=2, author=ALICE, txs=second)
    return chain, b1, b2


def resealed(block: Block, extrinsics: Sequence[bytes], by: Keypair = ALICE) -> Block:
    """The block with another body, its extrinsics root matching, sealed again by `by`."""
    digest = replace(block.header.digest, author=by.public)
    header = replace(block.header, extrinsics_root=extrinsics_root(extrinsics), digest=digest)
    return Block(header.sealed_by(by), tuple(extrinsics))


def with_bad_signature(block: Block, index: int) -> Block:
    tx = SignedTransaction.decode(block.extrinsics[index])
    bad = tx.raw.replace(tx.signature, bytes([tx.signature[0] ^ 1]) + tx.signature[1:])
    extrinsics = list(block.extrinsics)
    extrinsics[index] = bad
    return resealed(block, extrinsics)


def test_the_next_blocks_checks_run_ahead_and_are_used(run) -> None:
    chain, b1, b2 = run
    verifier = Counting()
    node, plain = chain.node(None), chain.node(None)
    node.verifier = verifier
    node.import_block(b1, chain.at(2), next_block=b2)
    assert verifier.events("submitted") == [2, 3]  # b1's, then b2's behind them
    node.import_block(b2, chain.at(2))
    assert verifier.events("submitted") == [2, 3]  # b2's were not submitted again
    assert verifier.events("waited") == [2, 3]
    for block in (b1, b2):
        plain.import_block(block, chain.at(2))
    assert node.best_header == plain.best_header == b2.header


def test_checks_ahead_for_another_block_are_dropped(local, h) -> None:
    chain, author, b1 = first_block(local, h)
    g = chain.genesis_header.hash
    b2, other = (
        chain.build_on(
            author.store,
            b1.header,
            slot=slot,
            author=ALICE,
            txs=[h.transfer(CHARLIE, DAVE.public, XPL, nonce=n, genesis_hash=g) for n in nonces],
        )
        for slot, nonces in ((2, (2, 3, 4)), (3, (2, 3)))
    )
    verifier = Counting()
    node = chain.node(None)
    node.verifier = verifier
    node.import_block(b1, chain.at(2), next_block=b2)
    node.import_block(other, chain.at(3))  # another block #2 came first
    assert ("cancelled", 3) in verifier.log  # b2's checks, dropped
    assert verifier.events("submitted") == [2, 3, 2]
    assert node.best_header == other.header


def test_a_bad_signature_checked_ahead_still_refuses_the_block(run) -> None:
    chain, b1, b2 = run
    bad = with_bad_signature(b2, 2)
    verifier = Counting()
    node = chain.node(None)
    node.verifier = verifier
    node.import_block(b1, chain.at(2), next_block=bad)
    assert verifier.events("submitted") == [2, 3]
    with pytest.raises(ExecutionFailed, match="extrinsic 2 has a bad signature"):
        node.import_block(bad, chain.at(2))
    assert node.store.header(bad.hash) is None and node.best_header == b1.header


@pytest.mark.parametrize(
    "problem", ["root", "stranger", "forged seal", "no workers", "not a child"]
)
def test_no_checks_ahead_for_a_block_a_stranger_could_send(run, problem: str) -> None:
    chain, b1, b2 = run
    verifier = Counting()
    node = chain.node(None)
    node.verifier = verifier
    if problem == "root":  # a body that is not the one its header commits to
        b2 = Block(b2.header, b2.extrinsics[:2])
    elif problem == "stranger":  # sealed by a key that is no authority
        b2 = resealed(b2, b2.extrinsics, by=BOB)
    elif problem == "forged seal":  # the authority's name, not its signature
        digest = replace(b2.header.digest, seal=bytes(64))
        b2 = Block(replace(b2.header, digest=digest), b2.extrinsics)
    elif problem == "no workers":
        node.verifier = None
    else:
        b2 = b1
    node.import_block(b1, chain.at(2), next_block=b2)
    assert verifier.events("submitted") == ([] if problem == "no workers" else [2])


def test_checks_ahead_whose_triples_differ_are_not_trusted(run) -> None:
    """Checks made ahead that say "all good" for other triples (another birth hash guessed) are
    cancelled, and the block's own are made: here they find the bad signature."""
    chain, b1, b2 = run
    bad = with_bad_signature(b2, 0)
    node = chain.node(None)
    node.import_block(b1, chain.at(2))
    log: list[str] = []
    txs = [SignedTransaction.decode(raw) for raw in bad.extrinsics]
    items = [(tx.signer, bytes(32), tx.signature) for tx in txs]  # wrong messages
    ahead = CheckedAhead(
        tuple(bad.extrinsics),
        bad.header.extrinsics_root,
        txs,
        items,
        AllGood(log, len(bad.extrinsics)),
    )
    with pytest.raises(ExecutionFailed, match="extrinsic 0 has a bad signature"):
        execute_and_commit(node.store, b1.header, bad, verifier=None, cache=None, ahead=ahead)
    assert log == ["cancelled"]


def _ahead_with_births(
    block: Block, births: list[bytes], genesis: bytes, pending: PendingSignatures
) -> CheckedAhead:
    """Checks made ahead as `check_ahead` makes them: the triples of the block's transactions
    over `births` and `genesis`."""
    txs = [SignedTransaction.decode(raw) for raw in block.extrinsics]
    messages = signing_messages(genesis, zip(births, [tx.body_bytes for tx in txs], strict=True))
    items = [(tx.signer, m, tx.signature) for tx, m in zip(txs, messages, strict=True)]
    root = block.header.extrinsics_root
    return CheckedAhead(
        tuple(block.extrinsics), root, txs, items, pending, births=births, genesis_hash=genesis
    )


@pytest.mark.parametrize("guess", ["birth", "genesis"])
def test_checks_ahead_over_other_births_are_not_trusted(run, guess: str) -> None:
    """Checks made ahead over a birth hash guessed wrong (the mortal transaction's, from another
    fork), or over another chain's genesis, say "all good" for other triples: the import computes
    its own messages, cancels them and finds the bad signature."""
    chain, b1, b2 = run
    bad = with_bad_signature(b2, 0)
    node = chain.node(None)
    node.import_block(b1, chain.at(2))
    g = chain.genesis_header.hash
    births, genesis = [g, g, bytes(32)], g
    if guess == "genesis":
        births, genesis = [g, g, b1.hash], bytes(32)
    log: list[str] = []
    ahead = _ahead_with_births(bad, births, genesis, AllGood(log, len(bad.extrinsics)))
    with pytest.raises(ExecutionFailed, match="extrinsic 0 has a bad signature"):
        execute_and_commit(node.store, b1.header, bad, verifier=None, cache=None, ahead=ahead)
    assert log == ["cancelled"]


def test_checks_ahead_over_the_same_births_are_used_as_they_are(run, monkeypatch) -> None:
    """Births and genesis as the import finds them: its messages are those, not hashed again,
    and the checks ahead decide (here they find the bad signature, with no check of its own)."""
    chain, b1, b2 = run
    bad = with_bad_signature(b2, 1)
    node = chain.node(None)
    node.import_block(b1, chain.at(2))
    g = chain.genesis_header.hash
    ahead = _ahead_with_births(bad, [g, g, b1.hash], g, DeferredSignatures([]))
    checks = DeferredSignatures(ahead.items)
    ahead = replace(ahead, pending=checks)
    hashed: list[int] = []
    real = executive_module.signing_messages
    monkeypatch.setattr(
        executive_module, "signing_messages", lambda *a: hashed.append(1) or real(*a)
    )
    with pytest.raises(ExecutionFailed, match="extrinsic 1 has a bad signature"):
        execute_and_commit(node.store, b1.header, bad, verifier=None, cache=None, ahead=ahead)
    assert hashed == []


def test_the_root_computed_ahead_is_held_against_the_imported_header(run) -> None:
    """The same body under a header committing to another extrinsics root is refused, though its
    checks (and root) were computed ahead from a header that matched."""
    chain, b1, b2 = run
    digest = b2.header.digest
    other_root = replace(b2.header, extrinsics_root=extrinsics_root(b2.extrinsics[:1]))
    lying = Block(other_root.sealed_by(ALICE), b2.extrinsics)
    assert lying.header.digest.author == digest.author
    verifier = Counting()
    node = chain.node(None)
    node.verifier = verifier
    node.import_block(b1, chain.at(2), next_block=b2)
    with pytest.raises(ExecutionFailed, match="extrinsics root"):
        node.import_block(lying, chain.at(2))
    assert ("cancelled", 3) in verifier.log


def test_a_failure_checking_the_next_block_does_not_refuse_this_one(run, monkeypatch) -> None:
    chain, b1, b2 = run

    def broken(*_args: object) -> None:
        raise RuntimeError("a bug in the check ahead")

    monkeypatch.setattr(node_module, "check_ahead", broken)
    node = chain.node(None)
    node.verifier = Counting()
    node.import_block(b1, chain.at(2), next_block=b2)
    node.import_block(b2, chain.at(2))
    assert node.best_header == b2.header
