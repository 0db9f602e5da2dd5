"""The node's blob store on a MemoryStore and on LevelDB: uploads and reads round-trip, every proof
verifies against the root, each limit refuses with a message that names it, idle uploads expire,
and a blob is written in one batch or not at all."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.client.blob_info import MAX_BLOB_BYTES, BlobInfo
from chain.client.blobs import chunk_file
from chain.storage.blob_tree import tree_keys
from chain.storage.blob_uploads import (
    MAX_BUFFERED_BYTES,
    MAX_UPLOADS,
    UPLOAD_IDLE_MS,
    UploadLimits,
)
from chain.storage.blobs import (
    MAX_BLOB_LEAVES,
    BlobError,
    BlobStore,
    BlobTooLarge,
    InvalidBlobRequest,
    UploadsBusy,
)
from chain.storage.kv import KeyValueStore, LevelDBStore, MemoryStore, StoreError, WriteBatch
from runtime.primitives.merkle import (
    MerkleProofError,
    merkle_proof,
    merkle_root,
    verify_merkle_proof,
)
from runtime.workloads import CHUNK_BYTES, MAX_LEAF_BYTES

KIB = 1024


class CountingStore:
    """A MemoryStore that counts its writes and can be told to fail the next one."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.writes: list[WriteBatch] = []
        self.fail_next = False

    def get(self, key: bytes) -> bytes | None:
        return self.inner.get(key)

    def write(self, batch: WriteBatch) -> None:
        if self.fail_next:
            self.fail_next = False
            raise StoreError("database write failed: disk full")
        self.writes.append(batch)
        self.inner.write(batch)

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        return self.inner.iterate(prefix)

    def close(self) -> None:
        pass


@pytest.fixture(params=["memory", "leveldb"])
def kv(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyValueStore]:
    store: KeyValueStore = (
        MemoryStore() if request.param == "memory" else LevelDBStore(tmp_path / "db")
    )
    yield store
    store.close()


@pytest.fixture
def blobs(kv: KeyValueStore) -> BlobStore:
    return BlobStore(kv)


UPLOADER = b"\x01" * 32
"""The account the uploads of these tests belong to (the RPC layer checked its grant)."""
_UPLOAD_LIMITS = frozenset(UploadLimits.__dataclass_fields__)


def small_store(**limits: int) -> BlobStore:
    """A store on a MemoryStore with the limits given (the store's and the upload table's)."""
    uploads = UploadLimits(**{k: v for k, v in limits.items() if k in _UPLOAD_LIMITS})
    store_limits = {k: v for k, v in limits.items() if k not in _UPLOAD_LIMITS}
    return BlobStore(MemoryStore(), uploads=uploads, **store_limits)


def begin(
    blobs: BlobStore,
    leaf_count: int,
    size: int,
    *,
    now_ms: int = 0,
    root: bytes = bytes(32),
    account: bytes = UPLOADER,
) -> str:
    """Begin an upload by UPLOADER of a blob with `root` (any root, if it is never finished)."""
    return blobs.begin(leaf_count, size, account=account, root=root, now_ms=now_ms)


def upload(blobs: BlobStore, leaves: list[bytes], *, now_ms: int = 0, batch: int = 3) -> BlobInfo:
    """Upload through begin/put/finish, `batch` leaves per put, the batches in reverse order."""
    upload_id = begin(
        blobs, len(leaves), sum(map(len, leaves)), now_ms=now_ms, root=merkle_root(leaves)
    )
    starts = list(range(0, len(leaves), batch))
    for start in reversed(starts):
        blobs.put(upload_id, start, leaves[start : start + batch], now_ms=now_ms)
    return blobs.finish(upload_id, now_ms=now_ms)


def assert_blob_reads_back(blobs: BlobStore, info: BlobInfo, leaves: list[bytes]) -> None:
    assert info == BlobInfo(merkle_root(leaves), len(leaves), sum(map(len, leaves)))
    assert blobs.info(info.root) == info
    assert blobs.read_all(info.root) == b"".join(leaves)
    for index, expected in enumerate(leaves):
        leaf, proof = blobs.leaf(info.root, index)
        assert leaf == expected
        verify_merkle_proof(info.root, leaf, index, info.leaf_count, proof)


# ---------------------------------------------------------------------------------------------
# Round trips


FILE_SIZES = {
    "empty": 0,
    "one byte": 1,
    "exactly one chunk": CHUNK_BYTES,
    "one chunk and a byte": CHUNK_BYTES + 1,
    "many chunks": 9 * CHUNK_BYTES + 12_345,
}


@pytest.mark.parametrize("size", FILE_SIZES.values(), ids=FILE_SIZES.keys())
def test_a_chunked_file_round_trips_through_an_upload(blobs: BlobStore, size: int) -> None:
    data = os.urandom(size)
    chunks = chunk_file(data)
    assert len(chunks) == max(1, -(-size // CHUNK_BYTES))
    assert all(len(chunk) == CHUNK_BYTES for chunk in chunks[:-1])
    if size == 0:  # an empty upload would hold a slot with no byte to bring
        with pytest.raises(InvalidBlobRequest, match="size 0 must be a positive integer"):
            upload(blobs, chunks)
        return
    info = upload(blobs, chunks)
    assert_blob_reads_back(blobs, info, chunks)
    assert blobs.uploads_in_progress == 0 and blobs.reserved_bytes == 0


@pytest.mark.parametrize("size", FILE_SIZES.values(), ids=FILE_SIZES.keys())
def test_a_chunked_file_round_trips_through_store_leaves(blobs: BlobStore, size: int) -> None:
    chunks = chunk_file(os.urandom(size))
    assert_blob_reads_back(blobs, blobs.store_leaves(chunks), chunks)


def test_an_empty_file_is_one_empty_chunk(blobs: BlobStore) -> None:
    info = blobs.store_leaves(chunk_file(b""))
    assert (info.leaf_count, info.size) == (1, 0)
    assert blobs.leaf(info.root, 0) == (b"", [])


def test_result_leaves_of_varied_sizes_round_trip(blobs: BlobStore) -> None:
    leaves = [b"", os.urandom(1), os.urandom(300 * KIB), b"\x00" * 17, os.urandom(5)]
    assert_blob_reads_back(blobs, upload(blobs, leaves, batch=2), leaves)


def test_a_leaf_larger_than_a_request_arrives_in_parts(blobs: BlobStore) -> None:
    big = os.urandom(MAX_LEAF_BYTES)
    leaves = [b"head", big, b"tail"]
    upload_id = begin(blobs, 3, sum(map(len, leaves)), root=merkle_root(leaves))
    blobs.put(upload_id, 0, [b"head"], now_ms=0)
    blobs.put(upload_id, 2, [b"tail"], now_ms=0)
    blobs.put_part(upload_id, 1, 0, b"wrong start", now_ms=0)
    blobs.put_part(upload_id, 1, 0, big[:3_000_000], now_ms=0)  # 0 starts the leaf over
    for offset in range(3_000_000, len(big), 3_000_000):
        blobs.put_part(upload_id, 1, offset, big[offset : offset + 3_000_000], now_ms=0)
    assert_blob_reads_back(blobs, blobs.finish(upload_id, now_ms=0), leaves)


def test_a_leaf_sent_again_replaces_the_first_copy(blobs: BlobStore) -> None:
    upload_id = begin(blobs, 2, 6, root=merkle_root([b"abc", b"def"]))
    blobs.put(upload_id, 0, [b"abc", b"d"], now_ms=0)
    blobs.put(upload_id, 1, [b"def"], now_ms=0)  # a retried batch, corrected
    assert_blob_reads_back(blobs, blobs.finish(upload_id, now_ms=0), [b"abc", b"def"])


def test_a_finished_blob_survives_a_restart_and_an_upload_in_progress_does_not(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db"
    kv = LevelDBStore(path)
    blobs = BlobStore(kv)
    leaves = chunk_file(os.urandom(3 * CHUNK_BYTES))
    info = upload(blobs, leaves)
    open_id = begin(blobs, 1, 1, now_ms=0)
    kv.close()
    kv = LevelDBStore(path)
    try:
        reopened = BlobStore(kv)
        assert_blob_reads_back(reopened, info, leaves)
        with pytest.raises(BlobError, match="unknown upload"):
            reopened.put(open_id, 0, [b"x"], now_ms=0)
    finally:
        kv.close()


def test_blobs_use_only_their_own_key_prefixes() -> None:
    kv = MemoryStore()
    blobs = BlobStore(kv)
    info = blobs.store_leaves([b"a", b"bc", b"def"])
    assert kv.data.keys() == {
        b"x" + info.root,
        *(b"y" + info.root + i.to_bytes(4, "big") for i in range(3)),
        b"z" + info.root,  # its ledger record
        *tree_keys(info.root, 3),  # its tree in pages
    }
    assert {key[:1] for key in tree_keys(info.root, 3)} == {b"w"}


def test_proofs_stay_right_when_the_proof_cache_evicts() -> None:
    blobs = small_store(proof_cache_nodes=20)  # room for one tree of 8 leaves (15 nodes)
    stored = [[b"%d-%d" % (blob, i) for i in range(8 + blob)] for blob in range(4)]
    infos = [blobs.store_leaves(leaves) for leaves in stored]
    for _ in range(2):
        for info, leaves in zip(infos, stored, strict=True):
            assert_blob_reads_back(blobs, info, leaves)
    huge = [b"%d" % i for i in range(40)]  # more nodes than the cache holds: served, not kept
    assert_blob_reads_back(blobs, blobs.store_leaves(huge), huge)


def test_a_wrong_leaf_does_not_verify_against_the_root(blobs: BlobStore) -> None:
    info = blobs.store_leaves([b"a", b"b", b"c"])
    leaf, proof = blobs.leaf(info.root, 1)
    with pytest.raises(MerkleProofError):
        verify_merkle_proof(info.root, b"B", 1, 3, proof)
    with pytest.raises(MerkleProofError):
        verify_merkle_proof(info.root, leaf, 2, 3, proof)


# ---------------------------------------------------------------------------------------------
# Refusals


def test_the_default_limits() -> None:
    blobs = BlobStore(MemoryStore())
    assert blobs.max_blob_bytes == MAX_BLOB_BYTES == 256 * 1024 * KIB
    assert blobs.max_leaf_bytes == MAX_LEAF_BYTES == 8 * 1024 * KIB
    assert blobs.max_leaves == MAX_BLOB_LEAVES == 65_536
    limits = blobs.uploads.limits
    assert limits.max_uploads == MAX_UPLOADS == 16
    assert limits.max_account_uploads == 4
    assert limits.max_buffered_bytes == MAX_BUFFERED_BYTES == 512 * 1024 * KIB
    assert limits.upload_idle_ms == UPLOAD_IDLE_MS == 600_000
    assert blobs.max_stored_bytes == 16 * 1024 * 1024 * KIB
    assert blobs.account_quota_bytes == 1024 * 1024 * KIB


@pytest.mark.parametrize(
    ("leaf_count", "size", "kind", "message"),
    [
        (0, 0, "invalid", "leaf count 0 is out of range: 1 to 10"),
        (11, 0, "invalid", "leaf count 11 is out of range"),
        (-1, 0, "invalid", "out of range"),
        (True, 0, "invalid", "out of range"),
        (1, -1, "invalid", "size -1 must be a positive integer"),
        (1, 1.5, "invalid", "must be a positive integer"),
        (1, 0, "invalid", "size 0 must be a positive integer"),
        (10, 1001, "too_large", "a blob of 1001 bytes is over the limit of 1000"),
        (2, 201, "too_large", "2 leaves of at most 100 bytes cannot hold 201 bytes"),
    ],
)
def test_begin_refuses_impossible_blobs(
    leaf_count: int, size: int, kind: str, message: str
) -> None:
    blobs = small_store(max_blob_bytes=1000, max_leaf_bytes=100, max_leaves=10)
    with pytest.raises(BlobError, match=message) as caught:
        begin(blobs, leaf_count, size, now_ms=0)
    assert caught.value.kind == kind
    assert type(caught.value) is {"invalid": InvalidBlobRequest, "too_large": BlobTooLarge}[kind]
    assert blobs.uploads_in_progress == 0


def test_each_kind_of_refusal_is_its_own_exception_type() -> None:
    """RPC reports `kind` as `data.kind`: one subclass per kind, none shared."""
    kinds = [cls.kind for cls in BlobError.__subclasses__()]
    assert sorted(kinds) == sorted(set(kinds))
    assert set(kinds) == {
        "invalid", "too_large", "busy", "unknown_upload", "out_of_range", "out_of_order",
        "incomplete", "size_mismatch", "unknown_blob", "corrupt", "account_limit", "quota",
        "storage_full", "root_mismatch",
    }  # fmt: skip


def test_begin_refuses_more_uploads_than_the_limit() -> None:
    blobs = small_store(max_uploads=2)
    first = begin(blobs, 1, 1, now_ms=0)
    begin(blobs, 1, 1, now_ms=0)
    with pytest.raises(BlobError, match="upload slots \\(2 of 2\\)") as e:
        begin(blobs, 1, 1, now_ms=0)
    assert isinstance(e.value, UploadsBusy)
    assert e.value.kind == "busy"
    assert blobs.abort(first)
    begin(blobs, 1, 1, now_ms=0)


def test_begin_refuses_to_reserve_more_than_the_buffer_limit() -> None:
    blobs = small_store(max_buffered_bytes=1000, max_blob_bytes=800, max_leaf_bytes=800)
    begin(blobs, 1, 600, now_ms=0)
    with pytest.raises(BlobError, match="upload buffer \\(600 of 1000 bytes reserved\\)") as e:
        begin(blobs, 1, 401, now_ms=0)
    assert e.value.kind == "busy"
    begin(blobs, 1, 400, now_ms=0)
    assert blobs.reserved_bytes == 1000


def test_put_refusals_name_the_problem() -> None:
    blobs = small_store(max_leaf_bytes=10)
    upload_id = begin(blobs, 3, 15, root=merkle_root([b"x" * 10, b"y" * 5, b""]))
    u = upload_id
    cases: list[tuple[Callable[[], object], str, str]] = [
        (
            lambda: blobs.put("nope", 0, [b"a"], now_ms=0),
            "unknown upload 'nope'",
            "unknown_upload",
        ),
        (
            lambda: blobs.put(u, 3, [b"a"], now_ms=0),
            "leaf index 3 is out of range",
            "out_of_range",
        ),
        (
            lambda: blobs.put(u, -1, [b"a"], now_ms=0),
            "leaf index -1 is out of range",
            "out_of_range",
        ),
        (
            lambda: blobs.put(u, 2, [b"a", b"b"], now_ms=0),
            "leaves 2..3 go past the upload's 3 leaves",
            "out_of_range",
        ),
        (
            lambda: blobs.put(u, 0, [b"x" * 11], now_ms=0),
            "leaf 0 is 11 bytes, over the limit of 10",
            "too_large",
        ),
        (
            lambda: blobs.put(u, 0, [b"x" * 10, b"y" * 6], now_ms=0),
            "declared size exceeded: the upload declared 15 bytes and these leaves bring it to 16",
            "size_mismatch",
        ),
        (
            lambda: blobs.put(u, 0, [], now_ms=0),
            "at least one leaf",
            "invalid",
        ),
        (
            lambda: blobs.put_part(u, 3, 0, b"a", now_ms=0),
            "leaf index 3 is out of range",
            "out_of_range",
        ),
        (
            lambda: blobs.put_part(u, 0, 5, b"a", now_ms=0),
            "leaf 0 has 0 bytes so far: a part must start at 0",
            "out_of_order",
        ),
        (
            lambda: blobs.put_part(u, 0, 0, b"x" * 11, now_ms=0),
            "leaf 0 is 11 bytes, over the limit",
            "too_large",
        ),
        (
            lambda: blobs.put_part("nope", 0, 0, b"a", now_ms=0),
            "unknown upload",
            "unknown_upload",
        ),
    ]
    for call, message, kind in cases:
        with pytest.raises(BlobError, match=message) as caught:
            call()
        assert caught.value.kind == kind, message
    # None of them changed the upload: it still takes exactly its declared bytes.
    blobs.put(upload_id, 0, [b"x" * 10, b"y" * 5], now_ms=0)
    blobs.put_part(upload_id, 2, 0, b"", now_ms=0)
    with pytest.raises(BlobError, match="declared size exceeded"):
        blobs.put_part(upload_id, 2, 0, b"z", now_ms=0)
    assert blobs.finish(upload_id, now_ms=0).size == 15


def test_parts_must_come_in_order() -> None:
    blobs = small_store(max_leaf_bytes=10)
    upload_id = begin(blobs, 1, 10, root=merkle_root([b"abcdefghij"]))
    blobs.put_part(upload_id, 0, 0, b"abcd", now_ms=0)
    with pytest.raises(BlobError, match="leaf 0 has 4 bytes so far: a part must start at 4"):
        blobs.put_part(upload_id, 0, 2, b"cdef", now_ms=0)
    with pytest.raises(BlobError, match="leaf 0 is 11 bytes"):
        blobs.put_part(upload_id, 0, 4, b"efghijk", now_ms=0)
    blobs.put_part(upload_id, 0, 4, b"efghij", now_ms=0)
    assert blobs.read_all(blobs.finish(upload_id, now_ms=0).root) == b"abcdefghij"


def test_finish_refuses_missing_leaves_and_missing_bytes_and_leaves_the_upload_open() -> None:
    kv = CountingStore()
    blobs = BlobStore(kv)
    upload_id = begin(blobs, 4, 8, root=merkle_root([b"ab", b"cd", b"ef", b"gh"]))
    blobs.put(upload_id, 0, [b"ab", b"cd"], now_ms=0)
    with pytest.raises(BlobError, match="leaf count mismatch: 2 of the 4 declared leaves") as e:
        blobs.finish(upload_id, now_ms=0)
    assert e.value.kind == "incomplete" and "the first is leaf 2" in str(e.value)
    blobs.put(upload_id, 2, [b"ef", b"g"], now_ms=0)
    expected = "size mismatch: the upload declared 8 bytes and received 7"
    with pytest.raises(BlobError, match=expected):
        blobs.finish(upload_id, now_ms=0)
    assert kv.writes == [] and kv.inner.data == {}
    blobs.put(upload_id, 3, [b"gh"], now_ms=0)
    info = blobs.finish(upload_id, now_ms=0)
    assert blobs.read_all(info.root) == b"abcdefgh"
    with pytest.raises(BlobError, match="unknown upload"):
        blobs.finish(upload_id, now_ms=0)


def test_store_leaves_refusals() -> None:
    blobs = small_store(max_blob_bytes=100, max_leaf_bytes=60, max_leaves=4)
    with pytest.raises(BlobError, match="leaf count 0 is out of range"):
        blobs.store_leaves([])
    with pytest.raises(BlobError, match="leaf count 5 is out of range: 1 to 4"):
        blobs.store_leaves([b""] * 5)
    with pytest.raises(BlobError, match="leaf 1 is 61 bytes, over the limit of 60"):
        blobs.store_leaves([b"", b"x" * 61])
    with pytest.raises(BlobError, match="a blob of 120 bytes is over the limit of 100"):
        blobs.store_leaves([b"x" * 60, b"y" * 60])
    assert blobs.kv.iterate(b"") is not None and not list(blobs.kv.iterate(b""))


def test_reads_of_unknown_blobs_and_leaves_are_refused(blobs: BlobStore) -> None:
    unknown = bytes(32)
    assert blobs.info(unknown) is None
    with pytest.raises(BlobError, match=f"unknown blob 0x{unknown.hex()}") as e:
        blobs.leaf(unknown, 0)
    assert e.value.kind == "unknown_blob"
    with pytest.raises(BlobError, match="unknown blob"):
        blobs.read_all(unknown)
    info = blobs.store_leaves([b"a", b"b"])
    for index in (2, -1):
        with pytest.raises(BlobError, match=f"leaf index {index} is out of range: blob 0x"):
            blobs.leaf(info.root, index)


def test_a_blob_whose_leaf_is_gone_from_the_database_says_so() -> None:
    kv = MemoryStore()
    blobs = BlobStore(kv)
    info = blobs.store_leaves([b"a", b"b"])
    batch = WriteBatch()
    batch.delete(b"y" + info.root + (1).to_bytes(4, "big"))
    kv.write(batch)
    with pytest.raises(BlobError, match=r"leaf 1 of blob 0x.* is missing") as e:
        blobs.leaf(info.root, 1)
    assert e.value.kind == "corrupt"


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_uploads must be at least 1"):
        BlobStore(MemoryStore(), uploads=UploadLimits(max_uploads=0))
    with pytest.raises(ValueError, match="max_stored_bytes must be at least 1"):
        BlobStore(MemoryStore(), max_stored_bytes=0)


# ---------------------------------------------------------------------------------------------
# Idle uploads


def test_an_upload_idle_for_more_than_ten_minutes_is_dropped() -> None:
    blobs = small_store()
    upload_id = begin(blobs, 2, 2, now_ms=1_000)
    blobs.put(upload_id, 0, [b"a"], now_ms=1_000 + UPLOAD_IDLE_MS)  # exactly 10 min: still there
    assert blobs.expire_idle(1_000 + 2 * UPLOAD_IDLE_MS) == 0  # the put brought a new byte
    blobs.put(upload_id, 0, [b"a"], now_ms=1_000 + 2 * UPLOAD_IDLE_MS)  # no new byte: no progress
    with pytest.raises(BlobError, match="without new bytes for more than 600 s") as e:
        blobs.put(upload_id, 1, [b"b"], now_ms=1_001 + 2 * UPLOAD_IDLE_MS)
    assert e.value.kind == "unknown_upload"
    assert blobs.uploads_in_progress == 0 and blobs.reserved_bytes == 0


def test_expiry_frees_upload_slots_and_reservations() -> None:
    # Stalls never count here, so that only the idle expiry frees room.
    blobs = small_store(
        max_uploads=2,
        max_buffered_bytes=10,
        max_leaf_bytes=10,
        max_blob_bytes=10,
        stall_idle_ms=10**9,
        stall_grace_ms=10**9,
    )
    begin(blobs, 1, 5, now_ms=0)
    kept = begin(blobs, 1, 5, now_ms=0)
    blobs.put(kept, 0, [b"abc"], now_ms=500_000)
    with pytest.raises(BlobError, match="upload slots"):
        begin(blobs, 1, 5, now_ms=600_000)
    fresh = begin(
        blobs, 1, 5, now_ms=600_001, root=merkle_root([b"12345"])
    )  # the first one expired; `kept` was touched
    assert blobs.uploads_in_progress == 2
    with pytest.raises(BlobError, match="unknown upload"):
        blobs.finish(kept, now_ms=1_100_001)
    blobs.put(fresh, 0, [b"12345"], now_ms=1_100_001)
    assert blobs.finish(fresh, now_ms=1_100_001).size == 5


# ---------------------------------------------------------------------------------------------
# Writing once, atomically


def test_a_blob_is_written_in_one_batch_and_a_second_upload_rewrites_only_its_record() -> None:
    kv = CountingStore()
    blobs = BlobStore(kv)
    leaves = chunk_file(os.urandom(2 * CHUNK_BYTES + 5))
    info = upload(blobs, leaves)
    tree = len(tree_keys(info.root, len(leaves)))
    assert len(kv.writes) == 1 and len(kv.writes[0]) == len(leaves) + 2 + tree  # + meta, record
    assert upload(blobs, leaves, now_ms=5) == info  # the uploader takes it over: a new record
    assert [key for key, _ in kv.writes[1].ops] == [b"z" + info.root]
    assert blobs.store_leaves(leaves) == info
    assert len(kv.writes) == 2
    assert_blob_reads_back(blobs, info, leaves)


def test_a_failed_write_leaves_nothing_and_the_upload_can_finish_later() -> None:
    kv = CountingStore()
    blobs = BlobStore(kv)
    upload_id = begin(blobs, 2, 4, root=merkle_root([b"ab", b"cd"]))
    blobs.put(upload_id, 0, [b"ab", b"cd"], now_ms=0)
    kv.fail_next = True
    with pytest.raises(StoreError, match="disk full"):
        blobs.finish(upload_id, now_ms=0)
    assert kv.inner.data == {}
    info = blobs.finish(upload_id, now_ms=0)
    assert_blob_reads_back(blobs, info, [b"ab", b"cd"])
    kv.fail_next = True
    with pytest.raises(StoreError):
        blobs.store_leaves([b"other"])
    assert blobs.info(merkle_root([b"other"])) is None


# ---------------------------------------------------------------------------------------------
# Properties


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=40), st.integers(1, 7))
def test_any_leaf_list_round_trips_and_every_proof_verifies(
    leaves: list[bytes], batch: int
) -> None:
    if not any(leaves):  # an upload brings at least one byte
        leaves = [*leaves, b"\x01"]
    blobs = BlobStore(MemoryStore())
    info = upload(blobs, leaves, batch=batch)
    assert_blob_reads_back(blobs, info, leaves)
    assert blobs.store_leaves(leaves) == info


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.data())
def test_proofs_read_from_the_stored_pages_are_the_trees_proofs(
    count: int, data: st.DataObject
) -> None:
    blobs = BlobStore(MemoryStore())
    leaves = [b"%d" % i for i in range(count)]
    info = blobs.store_leaves(leaves)
    index = data.draw(st.integers(0, count - 1))
    leaf, proof = blobs.leaf(info.root, index)
    assert (leaf, proof) == (leaves[index], merkle_proof(leaves, index))
    assert blobs._trees == {}  # no tree was built to answer it
    blobs.sweep(1, [])
    blobs.sweep(10**12, [])
    assert blobs.kv.data == {} or set(blobs.kv.data) == {b"zledger"}  # every page deleted
