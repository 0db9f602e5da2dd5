"""The node's blob store: content-addressed data (job inputs and results) kept by Merkle root.

A blob is a list of leaves (byte strings) and its root is `merkle_root(leaves)`, which binds the
leaf count too. A file a requester uploads is cut into 64 KiB chunks (`chain.client.blobs`), a
worker's result is its result leaves, so the result root committed on chain is the blob's root.
Whoever reads a leaf gets it with its Merkle proof and checks it against the root they trust;
this store is not trusted by its readers.

Blobs live in the node's key-value store, beside the chain (which uses h b n j m t s u d):

    x ‖ root                → leaf count (4 bytes BE) ‖ size (8 bytes BE) ‖ the leaf hashes
    y ‖ root ‖ index (4 BE) → the leaf's bytes
    z ‖ root                → its ledger record (`chain.storage.blob_ledger`)
    w ‖ root ‖ ...          → its tree in pages, for proofs (`chain.storage.blob_tree`)

A blob stored before its tree was kept in pages has its proofs built from the leaf hashes (a
few trees are cached).

A finished blob is written in one batch, metadata, every leaf and its record together, so a
crash leaves it whole or absent. Uploads in progress live in memory only
(`chain.storage.blob_uploads`): a restart forgets them.

Who may upload, and how much (the RPC layer checks the account's signed, funded grant first):

- an upload belongs to an account and declares the root of the blob it brings; `finish` refuses
  other leaves, so a grant uploads one blob only;
- the account's slots and reserved bytes are limited (`blob_uploads`), and a stalled reservation
  gives way to a new upload that needs its room;
- the blobs it stored that nothing references, plus its uploads in progress, stay within
  `account_quota_bytes` (`--blob-account-bytes`); a blob a job references is paid for on chain
  and no longer counts (`blob_ledger`);
- everything stored plus everything reserved stays within `max_stored_bytes`
  (`--blob-max-bytes`), and leaves the disk's free-space reserve (`disk_room`): past either an
  upload, or a blob fetched from peers, is refused with StorageFull;
- blobs nothing references are deleted by `sweep` after the retention period.

What an attacker can still do: with N funded accounts (each holding the minimum balance, which
is not spent), keep N × `account_quota_bytes` stored for one retention period; so the node's
limit, or on a smaller disk its free-space reserve, is what bounds its disk (never the chain's
room), and honest uploads are refused (StorageFull, with a message that
says so) once that many sybils fill it, until their blobs expire. Making that cost money, not
just capital, would take an on-chain deposit per byte.

Time comes in as `now_ms` arguments, so the store never reads a clock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Final

from chain.client.blob_info import MAX_BLOB_BYTES, BlobInfo
from chain.storage.blob_ledger import (
    BLOB_RETENTION_MS,
    BlobLedger,
    BlobRecord,
    SweepResult,
    charge_of,
)
from chain.storage.blob_tree import read_header, read_proof, write_tree
from chain.storage.blob_uploads import DEFAULT_UPLOAD_LIMITS, Upload, UploadLimits, UploadTable
from chain.storage.disk_room import DiskNearlyFull, DiskRoom
from chain.storage.kv import KeyValueStore, LevelDBStore, WriteBatch
from runtime.primitives.merkle import leaf_hash, proof_from_levels, root_of_hashes, tree_levels
from runtime.primitives.merkle_range import range_proof_from_edges
from runtime.workloads import MAX_LEAF_BYTES, MAX_LEAVES

MAX_BLOB_LEAVES: Final = MAX_LEAVES
MAX_STORED_BYTES: Final = 16 * 1024 * 1024 * 1024
"""What all stored blobs and uploads in progress may charge on a node (`--blob-max-bytes`)."""
ACCOUNT_QUOTA_BYTES: Final = 1024 * 1024 * 1024
"""What one account's unreferenced blobs and uploads in progress may charge (`--blob-account-
bytes`): four of the largest blobs, uploaded before the job that uses them is submitted."""
MAX_ACCOUNT_BLOBS: Final = 16_384
"""Blobs one account may have stored unreferenced plus uploads in progress: bounds the ledger
records (memory) one funded account adds, whatever its blobs' sizes."""
MAX_STORED_BLOBS: Final = 1 << 20
"""Blobs a node holds in all (stored plus uploads in progress): bounds the ledger's memory to
about 200 MiB, and the sweep looks at all of them within 43 minutes."""
PROOF_CACHE_NODES: Final = 1 << 19
"""Tree nodes kept for serving proofs (about 40 MB): four trees of the most leaves a blob has."""

_META: Final = b"x"
_LEAF: Final = b"y"
_HEADER_BYTES: Final = 12
_HASH_BYTES: Final = 32


class BlobError(ValueError):
    """A blob operation refused; the message names the problem, the subclass (and its `kind`,
    which RPC reports as `data.kind`) classifies it."""

    kind: str = "invalid"


class InvalidBlobRequest(BlobError):
    """A request that breaks the store's rules (a bad count, size or leaf)."""

    kind = "invalid"


class BlobTooLarge(BlobError):
    """A blob or leaf over the store's size limits."""

    kind = "too_large"


class UploadsBusy(BlobError):
    """The upload slots or the byte budget for uploads in progress are taken (by uploads that
    have not stalled): try again shortly."""

    kind = "busy"


class AccountLimit(BlobError):
    """The account has as many uploads in progress, or reserves as many bytes, as one may."""

    kind = "account_limit"


class QuotaExceeded(BlobError):
    """The account's unreferenced blobs and uploads would pass its stored quota."""

    kind = "quota"


class StorageFull(BlobError):
    """The node's blob storage limit (`--blob-max-bytes`) would be passed, or the free space of
    the database's disk would fall below its reserve ("disk nearly full", `disk_room`)."""

    kind = "storage_full"


class RootMismatch(BlobError):
    """An upload's leaves have another root than the one its grant declared."""

    kind = "root_mismatch"


class UnknownUpload(BlobError):
    """No upload in progress by that id (never begun, finished or expired)."""

    kind = "unknown_upload"


class LeafOutOfRange(BlobError):
    """A leaf index beyond the blob's leaf count."""

    kind = "out_of_range"


class LeafOutOfOrder(BlobError):
    """A leaf put out of turn: uploads go in index order."""

    kind = "out_of_order"


class UploadIncomplete(BlobError):
    """An upload finished before all its leaves arrived."""

    kind = "incomplete"


class SizeMismatch(BlobError):
    """The leaves' total size differs from the size declared."""

    kind = "size_mismatch"


class UnknownBlob(BlobError):
    """No blob by that root in this store."""

    kind = "unknown_blob"


class CorruptBlob(BlobError):
    """A stored blob whose metadata or leaves are damaged or missing."""

    kind = "corrupt"


def _meta_key(root: bytes) -> bytes:
    return _META + root


def _leaf_key(root: bytes, index: int) -> bytes:
    return _LEAF + root + index.to_bytes(4, "big")


def _is_count(value: object) -> bool:
    return type(value) is int and value >= 0


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


class BlobStore:
    """Blobs by root in a KeyValueStore, the uploads that create them, and the ledger that says
    what each charges and when it may go.

    The ledger is read from the store the first time something needs it (an upload, a sweep, a
    metric), so a reader that only serves leaves (the verification service's own view) never
    loads it.
    """

    def __init__(
        self,
        kv: KeyValueStore,
        *,
        max_blob_bytes: int = MAX_BLOB_BYTES,
        max_leaf_bytes: int = MAX_LEAF_BYTES,
        max_leaves: int = MAX_BLOB_LEAVES,
        max_stored_bytes: int = MAX_STORED_BYTES,
        account_quota_bytes: int = ACCOUNT_QUOTA_BYTES,
        retention_ms: int = BLOB_RETENTION_MS,
        uploads: UploadLimits = DEFAULT_UPLOAD_LIMITS,
        proof_cache_nodes: int = PROOF_CACHE_NODES,
        max_account_blobs: int = MAX_ACCOUNT_BLOBS,
        max_blobs: int = MAX_STORED_BLOBS,
        disk: DiskRoom | None = None,
    ) -> None:
        for name, value in (
            ("max_blob_bytes", max_blob_bytes),
            ("max_leaf_bytes", max_leaf_bytes),
            ("max_leaves", max_leaves),
            ("max_stored_bytes", max_stored_bytes),
            ("account_quota_bytes", account_quota_bytes),
            ("retention_ms", retention_ms),
            ("max_account_blobs", max_account_blobs),
            ("max_blobs", max_blobs),
        ):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        if max_leaves >= 2**32:
            raise ValueError("max_leaves must fit the 4-byte leaf index")
        self.kv = kv
        self.max_blob_bytes = max_blob_bytes
        self.max_leaf_bytes = max_leaf_bytes
        self.max_leaves = max_leaves
        self.max_stored_bytes = max_stored_bytes
        self.account_quota_bytes = account_quota_bytes
        self.retention_ms = retention_ms
        self.proof_cache_nodes = proof_cache_nodes
        self.max_account_blobs = max_account_blobs
        self.max_blobs = max_blobs
        self.uploads = UploadTable(uploads)
        if disk is None and isinstance(kv, LevelDBStore):
            disk = DiskRoom(kv.path)
        self.disk = disk
        """The free-space check of the database's disk (none for a store in memory)."""
        self._ledger: BlobLedger | None = None
        self._trees: OrderedDict[bytes, tuple[BlobInfo, list[list[bytes]]]] = OrderedDict()
        self._cached_nodes = 0
        self.deleted_blobs = 0
        """Blobs the sweeps deleted since the start."""

    @property
    def ledger(self) -> BlobLedger:
        """The stored blobs' records (loaded on first use)."""
        if self._ledger is None:
            self._ledger = BlobLedger(self.kv)
        return self._ledger

    # Uploads

    @property
    def uploads_in_progress(self) -> int:
        return len(self.uploads)

    @property
    def reserved_bytes(self) -> int:
        """Bytes the uploads in progress have declared, and so may buffer."""
        return self.uploads.reserved_bytes

    @property
    def stored_bytes(self) -> int:
        """What the stored blobs charge, all together (about their size on disk)."""
        return self.ledger.stored_bytes

    def check_shape(self, leaf_count: int, total_size: int) -> None:
        """Refuse a blob's declared leaf count and size if the store could never hold it."""
        if not _is_count(leaf_count) or not 1 <= leaf_count <= self.max_leaves:
            raise InvalidBlobRequest(
                f"leaf count {leaf_count!r} is out of range: 1 to {self.max_leaves}"
            )
        if not _is_count(total_size) or total_size < 1:
            # An empty blob would reserve a slot that never has a byte to bring.
            raise InvalidBlobRequest(f"size {total_size!r} must be a positive integer")
        if total_size > self.max_blob_bytes:
            raise BlobTooLarge(
                f"a blob of {total_size} bytes is over the limit of {self.max_blob_bytes}"
            )
        if total_size > leaf_count * self.max_leaf_bytes:
            raise BlobTooLarge(
                f"{leaf_count} leaves of at most {self.max_leaf_bytes} bytes cannot hold "
                f"{total_size} bytes"
            )

    def begin(
        self, leaf_count: int, total_size: int, *, account: bytes, root: bytes, now_ms: int
    ) -> str:
        """Start `account`'s upload of the blob `root`, of `leaf_count` leaves totalling
        `total_size` bytes; its id. The caller has checked that the account may upload."""
        self.check_shape(leaf_count, total_size)
        uploads, limits, ledger = self.uploads, self.uploads.limits, self.ledger
        uploads.expire_idle(now_ms)
        charge = charge_of(leaf_count, total_size)

        def account_fits() -> bool:
            return (
                uploads.count_of(account) < limits.max_account_uploads
                and uploads.reserved_by(account) + total_size <= limits.max_account_buffered_bytes
            )

        if not uploads.drop_stalled_until(account_fits, now_ms, account=account):
            if uploads.count_of(account) >= limits.max_account_uploads:
                raise AccountLimit(
                    f"this account has {limits.max_account_uploads} uploads in progress, as many "
                    "as one account may: finish or abort one first"
                )
            raise AccountLimit(
                f"this account's uploads in progress reserve {uploads.reserved_by(account)} "
                f"bytes; {total_size} more would pass the limit of "
                f"{limits.max_account_buffered_bytes} per account"
            )
        blobs_held = ledger.unbound_records_of(account) + uploads.count_of(account)
        if blobs_held >= self.max_account_blobs:
            raise QuotaExceeded(
                f"this account has {blobs_held} unreferenced blobs and uploads in progress, as "
                f"many as one account may ({self.max_account_blobs}); unreferenced ones are "
                "deleted after the retention period"
            )
        held = ledger.unbound_bytes_of(account) + uploads.charge_of_uploads(account)
        if held + charge > self.account_quota_bytes:
            raise QuotaExceeded(
                f"this account's unreferenced blobs and uploads in progress take {_mib(held)}; "
                f"this blob ({_mib(charge)}) would pass its quota of "
                f"{_mib(self.account_quota_bytes)} (blobs a job references do not count, and "
                "unreferenced ones are deleted after the retention period)"
            )
        # Reservations are checked below: stalled ones may give way.
        self.check_room(leaf_count, total_size, with_reserved=False)

        def fits() -> bool:
            return (
                len(uploads) < limits.max_uploads
                and uploads.reserved_bytes + total_size <= limits.max_buffered_bytes
                and ledger.stored_bytes + uploads.reserved_charge + charge <= self.max_stored_bytes
            )

        # Only an account with no upload in progress may make room by dropping others' stalled
        # uploads: one holding slots cannot evict an honest upload with its next begin.
        may_evict = uploads.count_of(account) == 0
        if not (fits() or (may_evict and uploads.drop_stalled_until(fits, now_ms))):
            if ledger.stored_bytes + uploads.reserved_charge + charge > self.max_stored_bytes:
                raise StorageFull(self._full_message(charge))
            raise UploadsBusy(
                f"the node's upload slots ({len(uploads)} of {limits.max_uploads}) or its "
                f"upload buffer ({uploads.reserved_bytes} of {limits.max_buffered_bytes} bytes "
                "reserved) are taken by uploads that are still sending: try again shortly"
            )
        return uploads.add(account, root, leaf_count, total_size, charge, now_ms)

    def check_room(self, leaf_count: int, size: int, *, with_reserved: bool = True) -> None:
        """StorageFull unless a blob of this shape fits the node's limits beside what is stored
        and (`with_reserved`) what uploads in progress reserve, and leaves the disk's reserve
        free (`disk_room`)."""
        if len(self.ledger) + len(self.uploads) >= self.max_blobs:
            raise StorageFull(
                f"the node holds {len(self.ledger)} blobs and {len(self.uploads)} uploads in "
                f"progress, as many as it keeps ({self.max_blobs}); unreferenced blobs are "
                "deleted after the retention period"
            )
        charge = charge_of(leaf_count, size)
        reserved = self.uploads.reserved_charge if with_reserved else 0
        if self.ledger.stored_bytes + reserved + charge > self.max_stored_bytes:
            raise StorageFull(self._full_message(charge))
        if self.disk is not None:
            try:
                # Uploads in progress are in memory and land on the disk when they finish.
                self.disk.check(self.uploads.reserved_charge + charge)
            except DiskNearlyFull as exc:
                raise StorageFull(str(exc)) from exc

    def _full_message(self, charge: int) -> str:
        return (
            f"the node's blob storage is full: blobs take {_mib(self.ledger.stored_bytes)} and "
            f"uploads in progress reserve {_mib(self.uploads.reserved_charge)} of its "
            f"{_mib(self.max_stored_bytes)} limit (--blob-max-bytes), and this blob needs "
            f"{_mib(charge)}; unreferenced blobs are deleted after the retention period"
        )

    def put(
        self, upload_id: str, start_index: int, leaves: Sequence[bytes], *, now_ms: int
    ) -> None:
        """Receive whole leaves from `start_index` on; a leaf sent again replaces the old."""
        upload = self._upload(upload_id, now_ms)
        if not leaves:
            raise InvalidBlobRequest("a put must carry at least one leaf")
        if not _is_count(start_index) or start_index >= upload.leaf_count:
            raise LeafOutOfRange(
                f"leaf index {start_index!r} is out of range: the upload has "
                f"{upload.leaf_count} leaves"
            )
        end = start_index + len(leaves)
        if end > upload.leaf_count:
            raise LeafOutOfRange(
                f"leaves {start_index}..{end - 1} go past the upload's {upload.leaf_count} leaves"
            )
        received = upload.received_bytes
        for offset, leaf in enumerate(leaves):
            self._check_leaf_size(start_index + offset, len(leaf))
            old = upload.leaves[start_index + offset]
            received += len(leaf) - (0 if old is None else len(old))
        self._check_declared(upload, received)
        upload.leaves[start_index:end] = [bytes(leaf) for leaf in leaves]
        self._progress(upload, received, now_ms)

    def put_part(
        self, upload_id: str, index: int, offset: int, data: bytes, *, now_ms: int
    ) -> None:
        """Receive bytes `offset`.. of leaf `index`, for a leaf too large for one request.

        Parts come in order: `offset` is the length received so far, or 0 to start over.
        """
        upload = self._upload(upload_id, now_ms)
        if not _is_count(index) or index >= upload.leaf_count:
            raise LeafOutOfRange(
                f"leaf index {index!r} is out of range: the upload has {upload.leaf_count} leaves"
            )
        old = upload.leaves[index]
        have = 0 if old is None else len(old)
        if not _is_count(offset) or offset not in (0, have):
            raise LeafOutOfOrder(
                f"leaf {index} has {have} bytes so far: a part must start at {have} (or at 0 "
                f"to start the leaf over), not at {offset!r}"
            )
        length = offset + len(data)
        self._check_leaf_size(index, length)
        received = upload.received_bytes + length - have
        self._check_declared(upload, received)
        upload.leaves[index] = bytes(data) if offset == 0 or old is None else old + data
        self._progress(upload, received, now_ms)

    def finish(self, upload_id: str, *, now_ms: int) -> BlobInfo:
        """Check that every leaf and byte arrived and that they have the declared root, then
        store the blob in one batch, charged to the uploading account.

        A blob already stored is not written again (its charge passes to this account, and its
        retention starts again). A finish refused for a missing leaf or byte leaves the upload
        open; one refused for another root drops it.
        """
        upload = self._upload(upload_id, now_ms)
        missing = [index for index, leaf in enumerate(upload.leaves) if leaf is None]
        if missing:
            raise UploadIncomplete(
                f"leaf count mismatch: {len(missing)} of the {upload.leaf_count} declared leaves "
                f"never arrived (the first is leaf {missing[0]})"
            )
        if upload.received_bytes != upload.size:
            raise SizeMismatch(
                f"size mismatch: the upload declared {upload.size} bytes and received "
                f"{upload.received_bytes}"
            )
        leaves = [leaf for leaf in upload.leaves if leaf is not None]
        hashes = [leaf_hash(leaf) for leaf in leaves]
        root = root_of_hashes(hashes)
        if root != upload.root:
            self.uploads.remove(upload_id)
            raise RootMismatch(
                f"the leaves have root 0x{root.hex()}, not the 0x{upload.root.hex()} that the "
                "upload declared: the upload is dropped"
            )
        # max(): 0 would read as 'not yet stamped' (`blob_ledger`)
        record = BlobRecord(upload.account, len(leaves), upload.size, max(now_ms, 1), False)
        info = self._commit(leaves, hashes, record)
        self.uploads.remove(upload_id)
        return info

    def abort(self, upload_id: str) -> bool:
        """Drop an upload and what it buffered; whether there was one."""
        return self.uploads.remove(upload_id) is not None

    def expire_idle(self, now_ms: int) -> int:
        """Drop uploads idle for longer than the upload idle limit; how many were dropped."""
        return self.uploads.expire_idle(now_ms)

    def store_leaves(self, leaves: Sequence[bytes], *, now_ms: int = 0) -> BlobInfo:
        """Store a blob in one step, for callers in the node's own process (a blob fetched from
        peers, a worker's result); it charges no account, only the node's limit. Without
        `now_ms` its retention starts at the next sweep."""
        if not 1 <= len(leaves) <= self.max_leaves:
            raise InvalidBlobRequest(
                f"leaf count {len(leaves)} is out of range: 1 to {self.max_leaves}"
            )
        for index, leaf in enumerate(leaves):
            self._check_leaf_size(index, len(leaf))
        size = sum(len(leaf) for leaf in leaves)
        if size > self.max_blob_bytes:
            raise BlobTooLarge(f"a blob of {size} bytes is over the limit of {self.max_blob_bytes}")
        hashes = [leaf_hash(bytes(leaf)) for leaf in leaves]
        root = root_of_hashes(hashes)
        if root not in self.ledger:
            self.check_room(len(leaves), size)
        record = BlobRecord(None, len(leaves), size, now_ms, False)
        return self._commit([bytes(leaf) for leaf in leaves], hashes, record)

    # Retention

    def sweep(
        self,
        now_ms: int,
        referenced: Iterable[bytes],
        *,
        unfunded: frozenset[bytes] = frozenset(),
    ) -> SweepResult:
        """Bind the blobs `referenced` names, and delete a bounded number of those unbound for
        longer than the retention period, or owned by an account in `unfunded`
        (`BlobLedger.sweep`).

        An upload in progress does not keep the stored blob whose root it declares: it could
        pin any blob without bringing its bytes. If the blob goes before the upload finishes,
        `finish` stores it again from the upload's own leaves."""
        self.uploads.expire_idle(now_ms)
        result = self.ledger.sweep(
            now_ms, referenced, retention_ms=self.retention_ms, unfunded=unfunded
        )
        for root in result.deleted:
            cached = self._trees.pop(root, None)
            if cached is not None:
                self._cached_nodes -= sum(len(level) for level in cached[1])
        self.deleted_blobs += len(result.deleted)
        return result

    # Reads

    def info(self, root: bytes) -> BlobInfo | None:
        """The stored blob with this root, or None."""
        header = read_header(self.kv, root)
        if header is not None:
            return BlobInfo(root, *header)
        cached = self._trees.get(root)
        if cached is not None:
            return cached[0]
        raw = self.kv.get(_meta_key(root))
        return None if raw is None else self._parse_meta(root, raw)[0]

    def leaf(self, root: bytes, index: int) -> tuple[bytes, list[bytes]]:
        """Leaf `index` of the blob and its Merkle proof against `root`: O(log n) small reads
        from the stored tree (`blob_tree`)."""
        proof = self._proof(root, index)
        return self._read_leaf(root, index), proof

    def _proof(self, root: bytes, index: int) -> list[bytes]:
        header = read_header(self.kv, root)
        if header is None:  # stored before its tree was kept: build it from the leaf hashes
            info, levels = self._tree(root)
            self._check_index(info, index)
            return proof_from_levels(levels, index)
        info = BlobInfo(root, *header)
        self._check_index(info, index)
        proof = read_proof(self.kv, root, info.leaf_count, index)
        if proof is None:
            raise CorruptBlob(f"the tree of blob 0x{root.hex()} is damaged")
        return proof

    def leaf_run(
        self, root: bytes, start: int, count: int, *, max_bytes: int
    ) -> tuple[BlobInfo, list[bytes], list[bytes]]:
        """Up to `count` consecutive leaves from `start`, as many as fit in `max_bytes` (none if
        leaf `start` alone is larger), and their range proof against `root`
        (`runtime.primitives.merkle_range`; empty with no leaves).

        UnknownBlob for a blob not stored here, LeafOutOfRange for a start past the end."""
        info = self.info(root)
        if info is None:
            raise UnknownBlob(f"unknown blob 0x{root.hex()}")
        self._check_index(info, start)
        if not _is_count(count) or count < 1:
            raise InvalidBlobRequest(f"leaf count {count!r} must be at least 1")
        leaves: list[bytes] = []
        size = 0
        for index in range(start, min(info.leaf_count, start + count)):
            leaf = self._read_leaf(root, index)
            if size + len(leaf) > max_bytes:
                break
            leaves.append(leaf)
            size += len(leaf)
        if not leaves:
            return info, [], []
        end = start + len(leaves)
        first = self._proof(root, start)
        last = first if end - 1 == start else self._proof(root, end - 1)
        try:
            proof = range_proof_from_edges(info.leaf_count, start, end, first, last)
        except (IndexError, ValueError) as exc:
            raise CorruptBlob(f"the tree of blob 0x{root.hex()} is damaged: {exc}") from exc
        return info, leaves, proof

    @staticmethod
    def _check_index(info: BlobInfo, index: int) -> None:
        if not _is_count(index) or index >= info.leaf_count:
            raise LeafOutOfRange(
                f"leaf index {index!r} is out of range: blob 0x{info.root.hex()} has "
                f"{info.leaf_count} leaves"
            )

    def read_all(self, root: bytes) -> bytes:
        """The blob's leaves, concatenated (a file's content, for a chunked file)."""
        info = self.info(root)
        if info is None:
            raise UnknownBlob(f"unknown blob 0x{root.hex()}")
        return b"".join(self._read_leaf(root, index) for index in range(info.leaf_count))

    # Internals

    def _upload(self, upload_id: str, now_ms: int) -> Upload:
        self.uploads.expire_idle(now_ms)
        upload = self.uploads.get(upload_id)
        if upload is None:
            raise UnknownUpload(
                f"unknown upload {upload_id!r}: never begun, already finished or aborted, "
                "without new bytes for more than "
                f"{self.uploads.limits.upload_idle_ms // 1000} s, or "
                "dropped after it stalled while others waited for room"
            )
        return upload

    @staticmethod
    def _progress(upload: Upload, received: int, now_ms: int) -> None:
        """Count an accepted request's bytes; only new bytes count as progress (a ping, an
        empty leaf or a leaf sent again does not keep an upload from stalling)."""
        if received > upload.received_bytes:
            upload.progress_ms = now_ms
        upload.received_bytes = received

    def _check_leaf_size(self, index: int, size: int) -> None:
        if size > self.max_leaf_bytes:
            raise BlobTooLarge(
                f"leaf {index} is {size} bytes, over the limit of {self.max_leaf_bytes}"
            )

    def _check_declared(self, upload: Upload, received: int) -> None:
        if received > upload.size:
            raise SizeMismatch(
                f"declared size exceeded: the upload declared {upload.size} bytes and these "
                f"leaves bring it to {received}"
            )

    def _commit(self, leaves: list[bytes], hashes: list[bytes], record: BlobRecord) -> BlobInfo:
        """Write the blob and its record in one batch; a blob already stored gets only its new
        record (content-addressed: what is stored under this root is these leaves)."""
        root = root_of_hashes(hashes)
        info = BlobInfo(root, len(leaves), record.size)
        ledger = self.ledger
        old = ledger.get(root)
        if old is not None and (record.owner is None or old.bound):
            return info  # kept as it is: a blob stored from elsewhere takes nothing over
        batch = WriteBatch()
        if old is not None:
            record = BlobRecord(record.owner, old.leaf_count, old.size, record.released_ms, False)
        elif self.kv.get(_meta_key(root)) is None:
            for index, leaf in enumerate(leaves):
                batch.put(_leaf_key(root, index), leaf)
            meta = len(leaves).to_bytes(4, "big") + record.size.to_bytes(8, "big")
            batch.put(_meta_key(root), meta + b"".join(hashes))
            write_tree(batch, root, tree_levels(hashes), record.size)
        ledger.record_stored(batch, root, record)
        self.kv.write(batch)
        ledger.apply(root, record)
        return info

    def _parse_meta(self, root: bytes, raw: bytes) -> tuple[BlobInfo, bytes]:
        count = int.from_bytes(raw[:4], "big")
        size = int.from_bytes(raw[4:_HEADER_BYTES], "big")
        if len(raw) != _HEADER_BYTES + count * _HASH_BYTES:
            raise CorruptBlob(f"blob 0x{root.hex()} has damaged metadata")
        return BlobInfo(root, count, size), raw[_HEADER_BYTES:]

    def _tree(self, root: bytes) -> tuple[BlobInfo, list[list[bytes]]]:
        """The blob's info and its tree levels, from the cache or built from the stored hashes."""
        cached = self._trees.get(root)
        if cached is not None:
            self._trees.move_to_end(root)
            return cached
        raw = self.kv.get(_meta_key(root))
        if raw is None:
            raise UnknownBlob(f"unknown blob 0x{root.hex()}")
        info, packed = self._parse_meta(root, raw)
        hashes = [packed[i : i + _HASH_BYTES] for i in range(0, len(packed), _HASH_BYTES)]
        levels = tree_levels(hashes)
        nodes = sum(len(level) for level in levels)
        if nodes <= self.proof_cache_nodes:
            self._trees[root] = (info, levels)
            self._cached_nodes += nodes
            while self._cached_nodes > self.proof_cache_nodes:
                _, (_, evicted) = self._trees.popitem(last=False)
                self._cached_nodes -= sum(len(level) for level in evicted)
        return info, levels

    def _read_leaf(self, root: bytes, index: int) -> bytes:
        leaf = self.kv.get(_leaf_key(root, index))
        if leaf is None:
            raise CorruptBlob(f"leaf {index} of blob 0x{root.hex()} is missing")
        return leaf
