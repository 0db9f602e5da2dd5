"""Adversarial checks of the node's handling of a full disk: each test passes while the attack it
plays still works, and measures what it achieves."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chain.core.node import NodeCore
from chain.service.metrics import NodeMetrics
from chain.service.storage_faults import StorageHealth, StorageRecovery
from chain.storage.blobs import ACCOUNT_QUOTA_BYTES, MAX_STORED_BYTES, BlobStore
from chain.storage.kv import LevelDBStore, StoreError, StoreWriteFailed
from runtime.primitives.keys import dev_keypair
from runtime.primitives.merkle import leaf_hash, root_of_hashes
from tests.chain.tiny_filesystem import TinyFilesystem, tiny_filesystem

ALICE = dev_keypair("Alice")
DISK_BYTES = 24 * 1024 * 1024
LEAF = 1024 * 1024
DAY_MS = 24 * 60 * 60 * 1000


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[TinyFilesystem]:
    with tiny_filesystem(tmp_path / "disk", DISK_BYTES) as fs:
        yield fs


def _upload(blobs: BlobStore, account: bytes, n: int, now_ms: int) -> None:
    """One funded account's upload of a 2-leaf, 2 MiB blob (as `blob_begin`/`put`/`finish` do)."""
    rng = random.Random(n)  # incompressible, as LevelDB compresses what it stores
    leaves = [rng.randbytes(LEAF), rng.randbytes(LEAF)]
    root = root_of_hashes([leaf_hash(leaf) for leaf in leaves])
    upload = blobs.begin(2, 2 * LEAF, account=account, root=root, now_ms=now_ms)
    blobs.put(upload, 0, leaves, now_ms=now_ms)
    blobs.finish(upload, now_ms=now_ms)


def test_uploads_within_one_accounts_quota_fill_the_disk_and_the_node_cannot_leave_the_fault(
    dev: Any, disk: TinyFilesystem
) -> None:
    """The node's blob limits are fixed sizes (16 GiB in all, 1 GiB an account), not a share of
    the free space of the disk the database is on, and blobs live in the chain's own database. On
    a disk with 24 MiB, one funded account's uploads, well within its quota, fill it: the failed
    write halts the core. Recovery then needs a 1 MiB probe write, which the uploaded blobs leave
    no room for, so the node never resumes (and exits after STORAGE_GIVE_UP_MS); the only thing
    that would free the space is the blob sweep, which runs on new best blocks (none come while
    halted) and is a database write itself. The attacker's blobs are what keep the node down."""
    kv = LevelDBStore(disk.path / "db")
    store = dev.store(kv)
    core = NodeCore(store, authority=ALICE)
    core.start(dev.at(10))
    health = StorageHealth(str(kv.path), NodeMetrics(), lambda: 0)
    recovery = StorageRecovery(kv, store, health, halt=core.halt, resume=lambda: None)
    blobs = BlobStore(kv)
    stranger = dev_keypair("Mallory").public
    stored = 0
    with pytest.raises(StoreWriteFailed, match="No space left on device"):
        for n in range(64):
            _upload(blobs, stranger, n, now_ms=1_000 + n)
            stored += 2 * LEAF
    assert stored < DISK_BYTES < ACCOUNT_QUOTA_BYTES < MAX_STORED_BYTES
    assert core.storage_fault is not None and not health.healthy
    # No ballast to delete: the disk is full of the stranger's blobs, and the node stays down.
    for _ in range(5):
        assert recovery.try_recover() is False
    assert core.storage_fault is not None
    # The database does not even open again on the full disk, so the blob sweep (a day later,
    # the stranger's account unfunded) cannot run, and a restart fails the same way: nothing
    # but the owner's hand frees the disk.
    with pytest.raises(StoreError, match="No space left on device"):
        kv.reopen()
    with pytest.raises(StoreError):  # the database is closed
        blobs.sweep(2 * DAY_MS, (), unfunded=frozenset({stranger}))
    restarted = None
    try:
        restarted = LevelDBStore(disk.path / "db")
    except StoreError as exc:
        assert "No space left on device" in str(exc)
    print(
        f"stored {stored / 2**20:.0f} MiB of one account's 1024 MiB quota; {disk.free_bytes()} "
        f"bytes free; the database reopens after a restart: {restarted is not None}"
    )
    if restarted is not None:
        restarted.close()
    assert restarted is None  # a restarted node cannot open its database either
    kv.close()


def test_blobs_fetched_from_peers_for_a_check_fill_the_disk_charged_to_no_account(
    dev: Any, disk: TinyFilesystem
) -> None:
    """A committee member that checks a job whose inputs are not served in chunks fetches each
    input whole from peers (`verification._with_peer_data` → `network.fetch_blob` →
    `BlobStore.store_leaves`), charged to no account and bounded only by the node's 16 GiB limit
    (`check_room`), never by the disk's free space. A requester whose jobs name such inputs (up
    to 8 × 256 MiB a job, kept while the job is open and a day after) puts them on the disk of
    every member that checks them: on a 24 MiB disk, peer data stored within every limit halts
    the core, and the 1 MiB probe never fits again, so the member stays down."""
    kv = LevelDBStore(disk.path / "db")
    store = dev.store(kv)
    core = NodeCore(store, authority=ALICE)
    core.start(dev.at(10))
    health = StorageHealth(str(kv.path), NodeMetrics(), lambda: 0)
    recovery = StorageRecovery(kv, store, health, halt=core.halt, resume=lambda: None)
    blobs = BlobStore(kv)
    stored = 0
    with pytest.raises(StoreWriteFailed, match="No space left on device"):
        for n in range(64):
            rng = random.Random(1_000 + n)
            leaves = [rng.randbytes(LEAF), rng.randbytes(LEAF)]
            blobs.check_room(2, 2 * LEAF)  # what `fetch_blob` asks before fetching
            info = blobs.store_leaves(leaves)
            record = blobs.ledger.get(info.root)
            assert record is not None and record.owner is None  # charged to nobody
            stored += 2 * LEAF
    assert stored < DISK_BYTES and blobs.stored_bytes < MAX_STORED_BYTES
    assert core.storage_fault is not None and not health.healthy
    for _ in range(5):
        assert recovery.try_recover() is False
    print(f"stored {stored / 2**20:.0f} MiB of peer data, charged to no account; node halted")
    kv.close()
