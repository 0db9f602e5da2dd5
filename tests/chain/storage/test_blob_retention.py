"""Retention: a blob nothing references is deleted after the retention period and not before; a
referenced one is never deleted, however long; a job's blobs stay one period after it ends; the
records survive a restart; one sweep does bounded work."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.storage.blob_ledger import MAX_SWEEP_LEAVES
from chain.storage.blobs import BlobStore
from chain.storage.kv import LevelDBStore, MemoryStore, WriteBatch
from runtime.primitives.merkle import merkle_root

OWNER = b"\x07" * 32
RETENTION = 60_000


def store(kv: MemoryStore | LevelDBStore | None = None) -> BlobStore:
    return BlobStore(MemoryStore() if kv is None else kv, retention_ms=RETENTION)


def upload(blobs: BlobStore, leaves: list[bytes], *, now_ms: int) -> bytes:
    upload_id = blobs.begin(
        len(leaves),
        sum(map(len, leaves)),
        account=OWNER,
        root=merkle_root(leaves),
        now_ms=now_ms,
    )
    blobs.put(upload_id, 0, leaves, now_ms=now_ms)
    return blobs.finish(upload_id, now_ms=now_ms).root


def test_an_unreferenced_blob_goes_after_the_retention_period_and_not_before() -> None:
    blobs = store()
    root = upload(blobs, [b"a", b"b"], now_ms=1_000)
    assert blobs.sweep(1_000 + RETENTION, []).deleted == ()
    assert blobs.info(root) is not None
    result = blobs.sweep(1_001 + RETENTION, [])
    assert result.deleted == (root,) and result.freed_bytes > 0
    assert blobs.info(root) is None and blobs.stored_bytes == 0
    assert list(blobs.kv.iterate(b"y")) == [] and list(blobs.kv.iterate(b"z" + root)) == []
    assert blobs.ledger.unbound_bytes_of(OWNER) == 0 and blobs.deleted_blobs == 1


def test_a_referenced_blob_is_never_deleted_and_goes_one_period_after_it_is_released() -> None:
    blobs = store()
    kept = upload(blobs, [b"input"], now_ms=0)
    other = upload(blobs, [b"other"], now_ms=0)
    blobs.sweep(10, [kept])  # a job names it
    for now in (RETENTION + 1, 10 * RETENTION, 100 * RETENTION):
        blobs.sweep(now, [kept])
        assert blobs.info(kept) is not None
    assert blobs.info(other) is None
    assert blobs.ledger.unbound_bytes_of(OWNER) == 0  # bound: paid for on chain
    released_at = 100 * RETENTION + 5
    blobs.sweep(released_at, [])  # the job ended
    assert blobs.sweep(released_at + RETENTION, []).deleted == ()  # the result-keeping window
    assert blobs.sweep(released_at + RETENTION + 1, []).deleted == (kept,)


def test_a_pending_upload_of_a_stored_blob_does_not_keep_it_and_stores_it_again() -> None:
    """An upload in progress that declares a stored root does not pin it (it could pin any
    blob without its bytes): the sweep deletes it on time, and the upload's finish stores it
    again from its own leaves, retained from then on."""
    blobs = store()
    root = upload(blobs, [b"again"], now_ms=0)
    upload_id = blobs.begin(1, 5, account=OWNER, root=root, now_ms=RETENTION)
    assert blobs.sweep(RETENTION + 2, []).deleted == (root,)
    blobs.put(upload_id, 0, [b"again"], now_ms=RETENTION + 2)
    blobs.finish(upload_id, now_ms=RETENTION + 3)
    assert blobs.read_all(root) == b"again"
    assert blobs.ledger.unbound_bytes_of(OWNER) == blobs.stored_bytes > 0
    assert blobs.sweep(2 * RETENTION + 3, []).deleted == ()
    assert blobs.sweep(2 * RETENTION + 4, []).deleted == (root,)


def test_a_blob_stored_without_a_clock_is_timed_from_the_first_sweep() -> None:
    blobs = store()
    root = blobs.store_leaves([b"fetched"]).root
    assert blobs.sweep(5 * RETENTION, []).deleted == ()  # stamped now
    assert blobs.sweep(6 * RETENTION + 1, []).deleted == (root,)


def test_bindings_and_clocks_survive_a_restart(tmp_path: Path) -> None:
    kv = LevelDBStore(tmp_path / "db")
    blobs = store(kv)
    bound = upload(blobs, [b"bound"], now_ms=0)
    loose = upload(blobs, [b"loose"], now_ms=0)
    blobs.sweep(1, [bound])
    kv.close()
    kv = LevelDBStore(tmp_path / "db")
    try:
        reopened = store(kv)
        assert reopened.ledger.get(bound).bound
        assert reopened.ledger.unbound_bytes_of(OWNER) == reopened.ledger.get(loose).charge
        # The job ended while the node was down: its blob gets a full period from the restart.
        restarted = 10 * RETENTION
        assert reopened.sweep(restarted, []).deleted == (loose,)
        assert reopened.sweep(restarted + RETENTION, []).deleted == ()
        assert reopened.sweep(restarted + RETENTION + 1, []).deleted == (bound,)
    finally:
        kv.close()


def test_blobs_stored_before_the_ledger_get_records_and_expire() -> None:
    kv = MemoryStore()
    blobs = store(kv)
    root = blobs.store_leaves([b"old", b"blob"]).root
    batch = WriteBatch()  # as a database written before blobs had records
    for key in [k for k in kv.data if k.startswith(b"z")]:
        batch.delete(key)
    kv.write(batch)
    migrated = store(kv)
    record = migrated.ledger.get(root)
    assert record is not None and record.owner is None and record.leaf_count == 2
    assert migrated.sweep(0 + 7, []).deleted == ()
    assert migrated.sweep(7 + RETENTION + 1, []).deleted == (root,)


def test_one_sweep_deletes_a_bounded_number_of_leaves() -> None:
    blobs = store()
    many = [
        blobs.store_leaves([b"%d-%d" % (i, j) for j in range(MAX_SWEEP_LEAVES // 2)])
        for i in range(3)
    ]
    blobs.sweep(1, [])  # stamps them
    first = blobs.sweep(RETENTION + 2, [])
    assert len(first.deleted) == 2  # a third would pass MAX_SWEEP_LEAVES
    second = blobs.sweep(RETENTION + 3, [])
    assert len(second.deleted) == 1
    assert {info.root for info in many} == {*first.deleted, *second.deleted}


@pytest.mark.parametrize("referenced_first", [True, False])
def test_a_deleted_blob_can_be_uploaded_again(referenced_first: bool) -> None:
    blobs = store()
    root = upload(blobs, [b"x"], now_ms=0)
    if referenced_first:
        blobs.sweep(0, [root])
        blobs.sweep(1, [])
    blobs.sweep(RETENTION + 2, [])
    assert blobs.info(root) is None
    assert upload(blobs, [b"x"], now_ms=RETENTION + 3) == root
    assert blobs.read_all(root) == b"x"
