"""The trie commit of a block's changes runs while its signatures may still be checked in the
verification workers; their results are waited for before the state root is compared and before
anything is written, so that a block is refused for the same reason as if they came first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from chain.core.importer import ExecutionFailed, StateRootMismatch, execute_and_commit
from runtime.block import Block, extrinsics_root
from runtime.executive import DeferredSignatures, PendingSignatures
from runtime.primitives.hashing import blake2b_256
from runtime.primitives.keys import dev_keypair
from runtime.transaction import SignedTransaction

ALICE, CHARLIE, DAVE = (dev_keypair(n) for n in ("Alice", "Charlie", "Dave"))
XPL = 10**12


class Logged:
    """A verifier that checks in this process, and logs when its results are waited for and
    when its checks are cancelled."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def submit(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> PendingSignatures:
        log, checks = self.log, DeferredSignatures(items)

        class Pending:
            def __call__(self) -> list[bool]:
                log.append("waited")
                return checks()

            def cancel(self) -> None:
                log.append("cancelled")

        return Pending()


@pytest.fixture
def setup(local, h):
    """A store at genesis, its header, and a block of two transfers built on it."""
    chain = local(1)
    store = chain.store()
    g = chain.genesis_header.hash
    txs = [h.transfer(CHARLIE, DAVE.public, XPL + i, nonce=i, genesis_hash=g) for i in range(2)]
    block = chain.build_on(store, chain.genesis_header, slot=1, author=ALICE, txs=txs)
    return store, chain.genesis_header, block


def with_extrinsics(block: Block, extrinsics: Sequence[bytes], **header: bytes) -> Block:
    """The block with another body (and header fields), its extrinsics root made to match."""
    root = extrinsics_root(extrinsics)
    return Block(replace(block.header, extrinsics_root=root, **header), tuple(extrinsics))


def forged(block: Block, index: int) -> Block:
    """The block with extrinsic `index`'s signature flipped in one bit."""
    tx = SignedTransaction.decode(block.extrinsics[index])
    bad = bytes([tx.signature[0] ^ 1]) + tx.signature[1:]
    extrinsics = list(block.extrinsics)
    extrinsics[index] = tx.raw.replace(tx.signature, bad)
    return with_extrinsics(block, extrinsics)


def test_the_trie_commit_runs_before_the_wait_for_signatures(setup, monkeypatch) -> None:
    store, parent, block = setup
    log: list[str] = []
    commit_state = store.commit_state

    def logged_commit(*args):
        log.append("commit")
        return commit_state(*args)

    monkeypatch.setattr(store, "commit_state", logged_commit)
    executed = execute_and_commit(store, parent, block, verifier=Logged(log), cache=None)
    assert log == ["commit", "waited"]
    assert executed.commit.root == block.header.state_root


def test_a_bad_signature_is_refused_as_such_even_with_a_wrong_state_root(setup) -> None:
    store, parent, block = setup
    bad = forged(block, 1)
    wrong_root = with_extrinsics(bad, bad.extrinsics, state_root=blake2b_256(b"elsewhere"))
    for candidate in (bad, wrong_root):
        log: list[str] = []
        with pytest.raises(ExecutionFailed, match="extrinsic 1 has a bad signature"):
            execute_and_commit(store, parent, candidate, verifier=Logged(log), cache=None)
        assert log == ["waited"]
    # With every signature good, the wrong root is what refuses the block.
    elsewhere = wrong_root.header.state_root
    good_wrong_root = with_extrinsics(block, block.extrinsics, state_root=elsewhere)
    with pytest.raises(StateRootMismatch):
        execute_and_commit(store, parent, good_wrong_root, verifier=None, cache=None)
    # Nothing was written by any of them.
    assert store.best_header == parent


def test_a_failed_trie_commit_cancels_the_checks(setup, monkeypatch) -> None:
    store, parent, block = setup
    log: list[str] = []

    def broken(*_args):
        raise OSError("the store could not be read")

    monkeypatch.setattr(store, "commit_state", broken)
    with pytest.raises(OSError):
        execute_and_commit(store, parent, block, verifier=Logged(log), cache=None)
    assert log == ["cancelled"]
