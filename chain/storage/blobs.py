"""The node's blob store: content-addressed data (job inputs and results) kept by Merkle root.

A blob is a list of leaves (byte strings) and its root is `merkle_root(leaves)`, which binds the
leaf count too. A file a requester uploads is cut into 64 KiB chunks (`chain.client.blobs`), a
worker's result is its result leaves, so the result root committed on chain is the blob's root.
Whoever reads a leaf gets it with its Merkle proof and checks it against the root they trust;
this store is not trusted by its readers.

Blobs live in the node's key-value store, beside the chain (which uses h b n j m t s u d):

    x ‖ root                → leaf count (4 bytes BE) ‖ size (8 bytes BE) ‖ the leaf hashes
    y ‖ root ‖ index (4 BE) → the leaf's bytes

A finished blob is written in one batch, metadata and every leaf together, so a crash leaves it
whole or absent. Uploads in progress live in memory only: a restart forgets them. Each upload
reserves its declared size at `begin`, so the memory all uploads may take is bounded up front and
an upload that has begun can always finish. An upload idle for longer than `upload_idle_ms` is
dropped; time comes in as `now_ms` arguments, so the store never reads a clock.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from chain.client.blob_info import MAX_BLOB_BYTES, BlobInfo
from chain.storage.kv import KeyValueStore, WriteBatch
from runtime.primitives.merkle import leaf_hash, proof_from_levels, root_of_hashes, tree_levels
from runtime.workloads import MAX_LEAF_BYTES, MAX_LEAVES

MAX_BLOB_LEAVES: Final = MAX_LEAVES
MAX_UPLOADS: Final = 16
MAX_BUFFERED_BYTES: Final = 512 * 1024 * 1024
UPLOAD_IDLE_MS: Final = 10 * 60 * 1000
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
    """The upload slots or the byte budget for uploads in progress are taken."""

    kind = "busy"


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


@dataclass(slots=True)
class _Upload:
    leaf_count: int
    size: int
    leaves: list[bytes | None]
    received_bytes: int
    touched_ms: int


def _meta_key(root: bytes) -> bytes:
    return _META + root


def _leaf_key(root: bytes, index: int) -> bytes:
    return _LEAF + root + index.to_bytes(4, "big")


def _is_count(value: object) -> bool:
    return type(value) is int and value >= 0


class BlobStore:
    """Blobs by root in a KeyValueStore, and the uploads that create them."""

    def __init__(
        self,
        kv: KeyValueStore,
        *,
        max_blob_bytes: int = MAX_BLOB_BYTES,
        max_leaf_bytes: int = MAX_LEAF_BYTES,
        max_leaves: int = MAX_BLOB_LEAVES,
        max_uploads: int = MAX_UPLOADS,
        max_buffered_bytes: int = MAX_BUFFERED_BYTES,
        upload_idle_ms: int = UPLOAD_IDLE_MS,
        proof_cache_nodes: int = PROOF_CACHE_NODES,
    ) -> None:
        for name, value in (
            ("max_blob_bytes", max_blob_bytes),
            ("max_leaf_bytes", max_leaf_bytes),
            ("max_leaves", max_leaves),
            ("max_uploads", max_uploads),
            ("max_buffered_bytes", max_buffered_bytes),
            ("upload_idle_ms", upload_idle_ms),
        ):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        if max_leaves >= 2**32:
            raise ValueError("max_leaves must fit the 4-byte leaf index")
        self.kv = kv
        self.max_blob_bytes = max_blob_bytes
        self.max_leaf_bytes = max_leaf_bytes
        self.max_leaves = max_leaves
        self.max_uploads = max_uploads
        self.max_buffered_bytes = max_buffered_bytes
        self.upload_idle_ms = upload_idle_ms
        self.proof_cache_nodes = proof_cache_nodes
        self._uploads: dict[str, _Upload] = {}
        self._trees: OrderedDict[bytes, tuple[BlobInfo, list[list[bytes]]]] = OrderedDict()
        self._cached_nodes = 0

    # Uploads

    @property
    def uploads_in_progress(self) -> int:
        return len(self._uploads)

    @property
    def reserved_bytes(self) -> int:
        """Bytes the uploads in progress have declared, and so may buffer."""
        return sum(upload.size for upload in self._uploads.values())

    def begin(self, leaf_count: int, total_size: int, *, now_ms: int) -> str:
        """Start an upload of `leaf_count` leaves totalling `total_size` bytes; its id."""
        if not _is_count(leaf_count) or not 1 <= leaf_count <= self.max_leaves:
            raise InvalidBlobRequest(
                f"leaf count {leaf_count!r} is out of range: 1 to {self.max_leaves}"
            )
        if not _is_count(total_size):
            raise InvalidBlobRequest(f"size {total_size!r} must be a non-negative integer")
        if total_size > self.max_blob_bytes:
            raise BlobTooLarge(
                f"a blob of {total_size} bytes is over the limit of {self.max_blob_bytes}"
            )
        if total_size > leaf_count * self.max_leaf_bytes:
            raise BlobTooLarge(
                f"{leaf_count} leaves of at most {self.max_leaf_bytes} bytes cannot hold "
                f"{total_size} bytes"
            )
        self.expire_idle(now_ms)
        if len(self._uploads) >= self.max_uploads:
            raise UploadsBusy(
                f"too many uploads in progress (the limit is {self.max_uploads}): finish or "
                "abort one, or wait for idle ones to expire"
            )
        reserved = self.reserved_bytes
        if reserved + total_size > self.max_buffered_bytes:
            raise UploadsBusy(
                f"uploads in progress already reserve {reserved} bytes; {total_size} more would "
                f"pass the limit of {self.max_buffered_bytes}"
            )
        upload_id = secrets.token_hex(16)
        self._uploads[upload_id] = _Upload(leaf_count, total_size, [None] * leaf_count, 0, now_ms)
        return upload_id

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
        upload.received_bytes = received

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
        upload.received_bytes = received

    def finish(self, upload_id: str, *, now_ms: int) -> BlobInfo:
        """Check that every leaf and byte arrived, then store the blob in one batch.

        A blob already stored is not written again. A refused finish leaves the upload open.
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
        info = self._commit([leaf for leaf in upload.leaves if leaf is not None])
        del self._uploads[upload_id]
        return info

    def abort(self, upload_id: str) -> bool:
        """Drop an upload and what it buffered; whether there was one."""
        return self._uploads.pop(upload_id, None) is not None

    def expire_idle(self, now_ms: int) -> int:
        """Drop uploads idle for longer than `upload_idle_ms`; how many were dropped."""
        idle = [
            upload_id
            for upload_id, upload in self._uploads.items()
            if now_ms - upload.touched_ms > self.upload_idle_ms
        ]
        for upload_id in idle:
            del self._uploads[upload_id]
        return len(idle)

    def store_leaves(self, leaves: Sequence[bytes]) -> BlobInfo:
        """Store a blob in one step, for callers in the node's own process (a worker's result)."""
        if not 1 <= len(leaves) <= self.max_leaves:
            raise InvalidBlobRequest(
                f"leaf count {len(leaves)} is out of range: 1 to {self.max_leaves}"
            )
        for index, leaf in enumerate(leaves):
            self._check_leaf_size(index, len(leaf))
        size = sum(len(leaf) for leaf in leaves)
        if size > self.max_blob_bytes:
            raise BlobTooLarge(f"a blob of {size} bytes is over the limit of {self.max_blob_bytes}")
        return self._commit([bytes(leaf) for leaf in leaves])

    # Reads

    def info(self, root: bytes) -> BlobInfo | None:
        """The stored blob with this root, or None."""
        cached = self._trees.get(root)
        if cached is not None:
            return cached[0]
        raw = self.kv.get(_meta_key(root))
        return None if raw is None else self._parse_meta(root, raw)[0]

    def leaf(self, root: bytes, index: int) -> tuple[bytes, list[bytes]]:
        """Leaf `index` of the blob and its Merkle proof against `root`."""
        info, levels = self._tree(root)
        if not _is_count(index) or index >= info.leaf_count:
            raise LeafOutOfRange(
                f"leaf index {index!r} is out of range: blob 0x{root.hex()} has "
                f"{info.leaf_count} leaves"
            )
        return self._read_leaf(root, index), proof_from_levels(levels, index)

    def read_all(self, root: bytes) -> bytes:
        """The blob's leaves, concatenated (a file's content, for a chunked file)."""
        info = self.info(root)
        if info is None:
            raise UnknownBlob(f"unknown blob 0x{root.hex()}")
        return b"".join(self._read_leaf(root, index) for index in range(info.leaf_count))

    # Internals

    def _upload(self, upload_id: str, now_ms: int) -> _Upload:
        self.expire_idle(now_ms)
        upload = self._uploads.get(upload_id)
        if upload is None:
            raise UnknownUpload(
                f"unknown upload {upload_id!r}: never begun, already finished or aborted, or "
                f"idle for more than {self.upload_idle_ms // 1000} s"
            )
        upload.touched_ms = now_ms
        return upload

    def _check_leaf_size(self, index: int, size: int) -> None:
        if size > self.max_leaf_bytes:
            raise BlobTooLarge(
                f"leaf {index} is {size} bytes, over the limit of {self.max_leaf_bytes}"
            )

    def _check_declared(self, upload: _Upload, received: int) -> None:
        if received > upload.size:
            raise SizeMismatch(
                f"declared size exceeded: the upload declared {upload.size} bytes and these "
                f"leaves bring it to {received}"
            )

    def _commit(self, leaves: list[bytes]) -> BlobInfo:
        hashes = [leaf_hash(leaf) for leaf in leaves]
        root = root_of_hashes(hashes)
        size = sum(len(leaf) for leaf in leaves)
        info = BlobInfo(root, len(leaves), size)
        if self.kv.get(_meta_key(root)) is not None:
            return info  # content-addressed: what is stored under this root is these leaves
        batch = WriteBatch()
        for index, leaf in enumerate(leaves):
            batch.put(_leaf_key(root, index), leaf)
        meta = len(leaves).to_bytes(4, "big") + size.to_bytes(8, "big") + b"".join(hashes)
        batch.put(_meta_key(root), meta)
        self.kv.write(batch)
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
