"""Blobs cannot fill the disk the chain's database is on: uploads and blobs fetched for a check
stop at a free-space reserve, data fetched for a check goes when the check ends, and a fault
caused by anything else is recovered from with the room of the reserve file."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from chain.core.node import NodeCore
from chain.service.metrics import NodeMetrics
from chain.service.network import BLOB_FETCH_IN_FLIGHT_BYTES
from chain.service.storage_faults import StorageHealth, StorageRecovery
from chain.storage.blobs import ACCOUNT_QUOTA_BYTES, BlobStore, StorageFull
from chain.storage.disk_room import DiskRoom, reserve_for
from chain.storage.kv import LevelDBStore, MemoryStore, StoreWriteFailed, WriteBatch
from runtime.primitives.keys import dev_keypair
from runtime.primitives.merkle import leaf_hash, merkle_root, root_of_hashes
from tests.chain.service.test_blob_service_attacks import FakePeers, fetcher, real_blob_server
from tests.chain.tiny_filesystem import TinyFilesystem, tiny_filesystem

ALICE = dev_keypair("Alice")
DISK_BYTES = 24 * 1024 * 1024
LEAF = 1024 * 1024
DAY_MS = 24 * 60 * 60 * 1000


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[TinyFilesystem]:
    with tiny_filesystem(tmp_path / "disk", DISK_BYTES) as fs:
        yield fs


def _leaves(seed: int) -> list[bytes]:
    rng = random.Random(seed)  # incompressible, as LevelDB compresses what it stores
    return [rng.randbytes(LEAF), rng.randbytes(LEAF)]


def _upload(blobs: BlobStore, account: bytes, n: int, now_ms: int) -> None:
    """One funded account's upload of a 2-leaf, 2 MiB blob (as `blob_begin`/`put`/`finish` do)."""
    leaves = _leaves(n)
    root = root_of_hashes([leaf_hash(leaf) for leaf in leaves])
    upload = blobs.begin(2, 2 * LEAF, account=account, root=root, now_ms=now_ms)
    blobs.put(upload, 0, leaves, now_ms=now_ms)
    blobs.finish(upload, now_ms=now_ms)


def _author_until_a_write_fails(core: NodeCore, dev: Any, slot: int) -> int:
    while core.storage_fault is None and slot < 200:
        core.on_timer("slot", dev.at(slot))
        core.on_timer("tick", dev.at(slot))
        slot += 1
    return slot


LEVELDB_WRITE_BUFFER = 4 * 1024 * 1024
"""LevelDB's default write buffer: what it may hold twice on disk while writing its log out."""


def test_uploads_stop_at_the_disk_reserve_and_the_node_recovers_from_a_full_disk_by_itself(
    dev: Any, disk: TinyFilesystem
) -> None:
    """One funded account uploads within its quota on a 24 MiB disk: uploads are refused ("disk
    nearly full") with the reserve still free, the core never halts (the attacker gains no halted
    slot). When something else fills the disk, the fault releases the reserve file, the sweep
    runs during it, and the node resumes by itself, ballast still in place."""
    kv = LevelDBStore(disk.path / "db")
    store = dev.store(kv)
    core = NodeCore(store, authority=ALICE)
    core.start(dev.at(10))
    health = StorageHealth(str(kv.path), NodeMetrics(), lambda: 0)
    room = DiskRoom(kv.path)
    blobs = BlobStore(kv, disk=room)
    stranger = dev_keypair("Mallory").public
    recovery = StorageRecovery(
        kv,
        store,
        health,
        halt=core.halt,
        resume=lambda: None,
        disk=room,
        free_space=lambda: blobs.sweep(2 * DAY_MS, (), unfunded=frozenset({stranger})),
    )
    assert room.reserve_file.stat().st_size == DISK_BYTES // 4
    stored = 0
    with pytest.raises(StorageFull, match="disk nearly full"):
        for n in range(64):
            _upload(blobs, stranger, n, now_ms=1_000 + n)
            stored += 2 * LEAF
    assert 0 < stored < DISK_BYTES < ACCOUNT_QUOTA_BYTES
    reserve = reserve_for(DISK_BYTES, 1024 * 1024)
    # LevelDB keeps what it was last given in its log and, while it writes that out as a table,
    # in both for a moment: free space may dip by up to its write buffer (4 MiB by default).
    assert disk.free_bytes() >= reserve - LEVELDB_WRITE_BUFFER
    halted_slots = 0 if core.storage_fault is None else 1
    assert halted_slots == 0 and health.healthy  # the attacker's gain: no halted slot
    slot = 11
    for slot in range(11, 14):  # the chain goes on beside the refused uploads
        core.on_timer("slot", dev.at(slot))
        core.on_timer("tick", dev.at(slot))
    assert core.storage_fault is None and store.best_header.number >= 3

    # Anything else fills the disk: the chain's next write fails, the fault releases the
    # reserve file, and the first try recovers (the probe fits in its room).
    disk.fill()
    slot = _author_until_a_write_fails(core, dev, slot + 1)
    assert core.storage_fault is not None and not room.reserve_file.exists()
    started = time.perf_counter()
    assert recovery.try_recover() is True
    print(f"recovered in {time.perf_counter() - started:.3f} s; {stored >> 20} MiB were refused")
    assert health.healthy and len(blobs.ledger) == 0  # the sweep ran during the fault
    core.resume(dev.at(slot))
    # Blobs stay refused while the disk is this full; the chain resumes from what it holds.
    with pytest.raises(StorageFull, match="disk nearly full"):
        _upload(blobs, stranger, 99, now_ms=2 * DAY_MS)
    disk.free()
    # The reserve file comes back only where it leaves the free-space reserve intact (the swept
    # blobs' space returns as LevelDB compacts).
    made = room.ensure_reserve_file()
    assert made == room.reserve_file.exists() and disk.free_bytes() >= reserve
    kv.close()


def test_blobs_fetched_for_a_check_stop_at_the_reserve_and_go_when_the_check_ends(
    disk: TinyFilesystem,
) -> None:
    """A requester names inputs that checkers must fetch whole: fetches stop at the reserve
    (refused, no fault), and each check's data is deleted when it releases it, so the disk holds
    nothing of it after the check (the attacker's lasting gain: 0 bytes)."""
    kv = LevelDBStore(disk.path / "db")
    faults: list[StoreWriteFailed] = []
    kv.failure_listeners.append(faults.append)
    blobs = BlobStore(kv)
    served = {merkle_root(leaves): leaves for leaves in map(_leaves, range(1_000, 1_016))}
    network = fetcher(blobs, FakePeers(real_blob_server(served)))
    fetched: list[bytes] = []
    refused = 0
    for root in served:
        info = trio.run(network.fetch_blob, root)
        if info is None:
            refused += 1
        else:
            fetched.append(root)
            assert blobs.ledger.get(root) is not None
    assert refused > 0 and fetched and not faults
    assert disk.free_bytes() >= reserve_for(DISK_BYTES, 1024 * 1024)
    for root in fetched:  # the checks end
        assert network.drop_fetched(root) > 0
    assert len(blobs.ledger) == 0 and blobs.stored_bytes == 0 and not network.fetched_roots
    lasting_bytes = sum(blobs.info(root) is not None for root in fetched)
    assert lasting_bytes == 0
    kv.close()


def test_a_fetched_blob_an_account_uploads_meanwhile_is_kept() -> None:
    blobs = BlobStore(MemoryStore())
    leaves = _leaves(7)
    root = merkle_root(leaves)
    network = fetcher(blobs, FakePeers(real_blob_server({root: leaves})))
    assert trio.run(network.fetch_blob, root) is not None
    _upload(blobs, dev_keypair("Bob").public, 7, now_ms=1_000)
    assert network.drop_fetched(root) == 0 and blobs.info(root) is not None


class RecordingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.synced: list[bool] = []

    def write(self, batch: WriteBatch) -> None:
        self.synced.append(batch.sync)
        super().write(batch)


def test_voter_records_and_finality_steps_are_synced_to_disk(dev: Any) -> None:
    """A vote sent must survive a power loss: its record is written with sync, as is each
    finality step; block imports without one are not (they can be fetched again)."""
    kv = RecordingStore()
    store = dev.store(kv)
    core = NodeCore(store, authority=ALICE)
    core.start(dev.at(10))
    kv.synced.clear()
    store.save_voter_state(b"state")
    assert kv.synced == [True]
    core.on_timer("slot", dev.at(11))
    core.on_timer("tick", dev.at(11))
    assert store.finalized_header.number >= 1 and True in kv.synced


def test_whole_blob_fetches_in_flight_stay_within_their_bound() -> None:
    """Fetches in progress already declare the bound: the next is refused after leaf 0."""
    blobs = BlobStore(MemoryStore())
    leaves = _leaves(9)
    root = merkle_root(leaves)
    peers = FakePeers(real_blob_server({root: leaves}))
    network = fetcher(blobs, peers)
    network._fetching_bytes = BLOB_FETCH_IN_FLIGHT_BYTES - LEAF
    assert trio.run(network.fetch_blob, root) is None
    assert peers.requests == 1 and blobs.info(root) is None
    network._fetching_bytes = 0
    assert trio.run(network.fetch_blob, root) is not None and network._fetching_bytes == 0
