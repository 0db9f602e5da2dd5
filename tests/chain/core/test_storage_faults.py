"""A database on a real, small disk that fills up (a real ENOSPC from LevelDB, no mock): the
write that fails halts the core without announcing anything of it, the node keeps what it wrote
before, and after the disk is freed, reopening the database and resuming carries on from the
same chain with nothing finalized lost and the total issuance intact.

The tmpfs is mounted in a user and mount namespace of its own (`tests.chain.tiny_filesystem`);
where that is not allowed the tests are skipped with the reason.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.core.actions import BlockImported, Finalized, Gossip
from chain.core.messages import TOPIC_BLOCKS, TOPIC_FINALITY, TOPIC_TRANSACTIONS
from chain.core.node import NodeCore
from chain.core.voter_messages import Verdict
from chain.service.metrics import NodeMetrics
from chain.service.storage_faults import StorageHealth, StorageLost, StorageRecovery
from chain.storage.chain_store import ChainStore, ChainStoreError
from chain.storage.kv import (
    LevelDBStore,
    MemoryStore,
    StoreUnavailable,
    StoreWriteFailed,
    WriteBatch,
)
from runtime.invariants import check_invariants
from runtime.primitives.keys import dev_keypair
from tests.chain.tiny_filesystem import TinyFilesystem, tiny_filesystem

ALICE, BOB, CHARLIE = (dev_keypair(n) for n in ("Alice", "Bob", "Charlie"))
DISK_BYTES = 24 * 1024 * 1024


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[TinyFilesystem]:
    with tiny_filesystem(tmp_path / "disk", DISK_BYTES) as fs:
        yield fs


def invariants_hold(store: ChainStore) -> None:
    """Every runtime invariant (issuance equals the sum of balances, ...) at the best block."""
    best = store.best_hash
    assert check_invariants(store.reader(best), lambda p: store.iterate_state(best, p)) == []


def test_a_full_disk_fails_the_write_with_the_path_and_reopening_clears_it(disk):
    kv = LevelDBStore(disk.path / "db")
    failures: list[StoreWriteFailed] = []
    kv.failure_listeners.append(failures.append)
    try:
        before = WriteBatch()
        before.put(b"kept", b"before the fault")
        kv.write(before)
        disk.fill()
        big = WriteBatch()
        big.put(b"lost", bytes(256 * 1024))
        with pytest.raises(StoreWriteFailed) as caught:
            kv.write(big)
        message = str(caught.value)
        assert str(disk.path / "db") in message and "No space left on device" in message
        assert failures == [caught.value]
        assert isinstance(caught.value.__cause__, OSError)
        assert caught.value.__cause__.errno in (None, errno.ENOSPC)  # plyvel carries text only

        disk.free()
        kv.reopen()
        kv.write(big)
        assert kv.get(b"kept") == b"before the fault"
        assert kv.get(b"lost") == bytes(256 * 1024)
    finally:
        kv.close()
    with pytest.raises(StoreUnavailable):
        kv.get(b"kept")


def author_until_a_write_fails(core: NodeCore, dev, h, first_slot: int) -> tuple[int, list]:
    """Author slot after slot on the full disk until the core halts; the slot and its actions."""
    for slot in range(first_slot, first_slot + 20):
        actions = core.on_timer("slot", dev.at(slot))
        if core.storage_fault is not None:
            return slot, actions
        assert h.authored(actions) is not None, "a slot authored nothing on a disk with room"
    raise AssertionError("no write failed on a full disk")


def test_a_failed_write_halts_the_core_and_resuming_loses_nothing_final(dev, h, disk):
    kv = LevelDBStore(disk.path / "db")
    store = dev.store(kv)
    core = NodeCore(store, authority=ALICE)
    core.start(dev.at(10))
    genesis = core.genesis_hash
    first = h.authored(core.on_timer("slot", dev.at(11)))
    assert first is not None and core.finalized_header == first
    pooled = h.transfer(BOB, CHARLIE.public, 10**12, nonce=0, genesis_hash=genesis)
    core.submit_transaction(pooled.raw, dev.at(11))

    disk.fill()
    slot, actions = author_until_a_write_fails(core, dev, h, 12)
    fault = core.storage_fault
    assert isinstance(fault, StoreWriteFailed) and "No space left on device" in str(fault)
    # Nothing of the failed step is announced but finality written before the failure: no block
    # imported or gossiped that the store does not hold, no vote sent.
    for action in actions:
        if isinstance(action, BlockImported):
            assert store.header(action.header.hash) is not None
        assert not (isinstance(action, Gossip) and action.topic == TOPIC_BLOCKS)
        assert not (isinstance(action, Gossip) and action.topic == TOPIC_FINALITY)
        if isinstance(action, Finalized):
            assert all(store.hash_at(x.number) == x.hash for x in action.headers)
    best, finalized = store.best_header, store.finalized_header
    assert kv.get(b"mbest") == best.hash and kv.get(b"mfinalized") == finalized.hash

    # Halted: every input is a no-op that writes nothing; local work is refused.
    assert core.on_timer("slot", dev.at(slot + 1)) == []
    assert core.on_timer("tick", dev.at(slot + 1)) == []
    # Transactions pooled before the fault still go out (the batch writes nothing).
    batch = core.on_timer("gossip", dev.at(slot + 1))
    assert [a.topic for a in batch if isinstance(a, Gossip)] == [TOPIC_TRANSACTIONS]
    late = dev.build_on(store, best, slot=slot + 1, author=ALICE)
    assert core.on_gossip("peer", TOPIC_BLOCKS, b"\x00", dev.at(slot + 1)) == (Verdict.IGNORE, [])
    with pytest.raises(StoreUnavailable, match="No space left on device"):
        core.import_block(late, dev.at(slot + 1))
    with pytest.raises(StoreUnavailable):
        core.submit_transaction(
            h.transfer(CHARLIE, BOB.public, 10**12, nonce=0, genesis_hash=genesis).raw,
            dev.at(slot + 1),
        )
    assert (store.best_header, store.finalized_header) == (best, finalized)

    disk.free()
    kv.reopen()
    store.reload()
    assert (store.best_header, store.finalized_header) == (best, finalized)
    resumed = core.resume(dev.at(slot + 2))
    assert core.storage_fault is None and h.timers(resumed)
    header = h.authored(core.on_timer("slot", dev.at(slot + 3)))
    assert header is not None and header.parent_hash == best.hash
    later = h.transfer(CHARLIE, BOB.public, 10**12, nonce=0, genesis_hash=genesis)
    _, queued = core.submit_transaction(later.raw, dev.at(slot + 3))
    assert h.timers(queued, "gossip"), "the transaction batch timer is armed again"
    assert core.finalized_header == header
    assert store.hash_at(first.number) == first.hash and store.hash_at(1) == first.hash
    included = [tx for n in range(1, header.number + 1) for tx in store.body(store.hash_at(n))]
    assert included.count(pooled.raw) == 1, "the pooled transfer is in exactly one block"
    invariants_hold(store)
    store.close()

    # What a restart reads is what the resumed node had.
    reopened = ChainStore(LevelDBStore(disk.path / "db"))
    reopened.open()
    try:
        assert reopened.finalized_hash == header.hash
        invariants_hold(reopened)
    finally:
        reopened.close()


class FillingStore(MemoryStore):
    """A MemoryStore whose writes fail from a chosen one on until `free`: LevelDB's behaviour on a
    full disk, placed at an exact write (the block, its finality, or the voter's record)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.fail_at: int | None = None
        self.full = False

    def write(self, batch: WriteBatch) -> None:
        self.writes += 1
        if self.full or (self.fail_at is not None and self.writes >= self.fail_at):
            self.full = True
            raise StoreWriteFailed("cannot write the database at memory: No space left on device")
        super().write(batch)

    def free(self) -> None:
        self.full, self.fail_at = False, None


@settings(max_examples=30, deadline=None)
@given(fail_at=st.integers(1, 24), transfers=st.integers(0, 5))
def test_a_write_failing_anywhere_loses_nothing_durable_and_the_node_resumes(
    dev, h, fail_at, transfers
):
    kv = FillingStore()
    store = dev.store(kv)
    core = NodeCore(store, authority=ALICE)
    core.start(dev.at(10))
    genesis = core.genesis_hash
    sent = [
        h.transfer(BOB, CHARLIE.public, 10**12, nonce=n, genesis_hash=genesis)
        for n in range(transfers)
    ]
    finalized: dict[int, bytes] = {}

    def step(slot: int) -> None:
        for name in ("slot", "tick"):
            actions = core.on_timer(name, dev.at(slot))
            halted = core.storage_fault is not None
            for action in actions:
                if isinstance(action, BlockImported):
                    assert store.header(action.header.hash) is not None
                if isinstance(action, Finalized):
                    finalized.update((x.number, x.hash) for x in action.headers)
                if isinstance(action, Gossip) and halted:
                    assert action.topic not in (TOPIC_BLOCKS, TOPIC_FINALITY)
            if halted:
                return

    kv.fail_at = kv.writes + fail_at
    slot = 11
    for tx in sent:
        core.submit_transaction(tx.raw, dev.at(slot))
    while core.storage_fault is None:
        step(slot)
        slot += 1
        assert slot < 40, "no write failed"
    # Memory is never ahead of the disk: what the store says is what it wrote.
    assert kv.get(b"mbest") == store.best_hash and kv.get(b"mfinalized") == store.finalized_hash
    before = store.finalized_header.number

    kv.free()
    store.reload()
    core.resume(dev.at(slot))
    for later in range(slot + 1, slot + 4):
        step(later)
    assert core.storage_fault is None
    assert store.finalized_header.number >= before + 2
    for number, block_hash in finalized.items():
        assert store.hash_at(number) == block_hash, f"finalized block #{number} was lost"
    best = store.best_header
    included = [
        raw for n in range(1, best.number + 1) for raw in store.body(store.hash_at(n) or b"") or ()
    ]
    for tx in sent:
        assert included.count(tx.raw) + (tx.hash in core.pool) == 1
    invariants_hold(store)


def test_reload_refuses_a_chain_that_lost_a_finalized_block(dev, h):
    core = dev.node(ALICE)
    core.start(dev.at(10))
    first = h.authored(core.on_timer("slot", dev.at(11)))
    assert first is not None and core.finalized_header == first
    kv = core.store.kv
    assert isinstance(kv, MemoryStore)
    del kv.data[b"n" + (1).to_bytes(4, "big")]
    with pytest.raises(ChainStoreError, match="did not read back"):
        core.store.reload()


def test_a_database_that_stays_full_stops_the_node_after_the_bound(dev, disk):
    kv = LevelDBStore(disk.path / "db")
    store = dev.store(kv)
    core = NodeCore(store, authority=ALICE)
    metrics = NodeMetrics()
    now = [0]
    health = StorageHealth(str(kv.path), metrics, lambda: now[0])
    resumed: list[bool] = []
    recovery = StorageRecovery(
        kv,
        store,
        health,
        halt=core.halt,
        resume=lambda: resumed.append(True),
        retry_first_ms=1,
        retry_max_ms=4,
        give_up_ms=50,
    )
    disk.fill()
    batch = WriteBatch()
    batch.put(b"x", bytes(256 * 1024))
    with pytest.raises(StoreWriteFailed):
        kv.write(batch)
    assert core.storage_fault is not None and not health.healthy
    assert metrics.storage_healthy._value.get() == 0

    async def run() -> None:
        async def advance() -> None:
            while True:
                await trio.sleep(0.001)
                now[0] += 5

        async with trio.open_nursery() as nursery:
            nursery.start_soon(advance)
            await recovery.run()

    with pytest.raises(BaseExceptionGroup) as caught:
        trio.run(run)
    [lost] = caught.value.exceptions
    assert isinstance(lost, StorageLost) and "has taken no write for" in str(lost)
    assert str(kv.path) in str(lost) and resumed == []
    assert health.failures >= 3
    assert metrics.storage_write_failures._value.get() == health.failures
    kv.close()


def test_a_database_damaged_while_faulted_stops_the_node_at_once(dev, tmp_path):
    kv = LevelDBStore(tmp_path / "db")
    store = dev.store(kv)
    core = NodeCore(store, authority=ALICE)
    health = StorageHealth(str(kv.path), NodeMetrics(), lambda: 0)
    recovery = StorageRecovery(kv, store, health, halt=core.halt, resume=lambda: None)
    recovery.on_write_failed(StoreWriteFailed("cannot write the database at db: IO error"))
    assert core.storage_fault is not None
    kv.close()
    (tmp_path / "db" / "CURRENT").write_bytes(b"garbage")  # no manifest named, no newline
    with pytest.raises(StorageLost, match="corrupt"):
        recovery.try_recover()
    kv.close()
