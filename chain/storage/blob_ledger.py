"""The ledger of stored blobs: what each one charges, to which account, whether something on chain
references it, and when an unreferenced one may be deleted.

A stored blob *charges* its bytes plus a fixed overhead per leaf and per blob (`charge_of`), so
that a million one-byte blobs cost what their keys and metadata cost. The charge of every blob
counts against the node's limit (`--blob-max-bytes`); the charge of a blob that nothing
references counts against its uploader's stored quota as well. A blob is *bound* while an open
job on the best chain names it (an input or the committed result); an upload in progress that
declares its root does not bind it (it could pin any blob without its bytes). A bound blob is
paid for on chain (the job's escrow, fees and rent) and is never deleted. An unbound blob is
deleted `retention_ms` after it was stored or last bound; a blob that a job names again before
then is kept, so a job's inputs and result stay for the retention period after the job ends
(the window in which its requester downloads the result).

The charge goes to the last account that uploaded the blob (uploading a blob already stored
takes the charge over and starts its retention again); a blob stored from elsewhere (fetched
from peers, a result stored by the node itself) charges no account, only the node's limit, and
goes by the same retention.

Records live beside the blobs, one per blob, so a restart keeps owners, bindings and clocks:

    z ‖ root → leaf count (4 BE) ‖ size (8 BE) ‖ released ms (8 BE) ‖ bound (1) ‖ owner (0 or 32)

`released ms` is when the blob was stored or last stopped being bound (0: not yet stamped by a
sweep, for a blob stored by a caller without a clock). A blob stored before this ledger existed
gets a record without owner the first time the ledger loads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from chain.storage.blob_tree import tree_keys
from chain.storage.kv import KeyValueStore, WriteBatch

BLOB_OVERHEAD_BYTES: Final = 256
"""What a stored blob charges besides its leaves: its metadata and ledger keys."""
LEAF_OVERHEAD_BYTES: Final = 128
"""What each leaf charges besides its bytes: its key, its hash in the blob's metadata, and its
share of the tree pages (`blob_tree`)."""
MIN_BLOB_CHARGE: Final = 4096
"""The least a stored blob charges, however small: its record takes ~200 bytes of the node's
memory, so a node limit filled with tiny blobs holds at most limit / 4 KiB records in RAM (about
5% of the limit)."""
BLOB_RETENTION_MS: Final = 24 * 60 * 60 * 1000
"""How long a blob nothing references is kept (`--blob-retention`): long enough to submit the
job an upload is for, and for a requester to download a finished job's result."""
MAX_SWEEP_LEAVES: Final = 65_536
"""Leaves one sweep deletes at most (one largest blob, or many small ones); the rest wait for the
next sweep, so a sweep never stalls the node."""
MAX_SWEEP_EXAMINED: Final = 4_096
"""Ledger records one sweep looks at for expiry; it resumes after the last one next time. At one
sweep per 10 s this looks at the most records a node holds (`blobs.MAX_STORED_BLOBS`, 1,048,576)
in 43 minutes, well within one retention period."""

_RECORD: Final = b"z"
_MIGRATED: Final = b"zledger"
"""Set once every blob stored before the ledger has its record."""
_META: Final = b"x"
_LEAF: Final = b"y"
_ROOT_BYTES: Final = 32
_FIXED_BYTES: Final = 4 + 8 + 8 + 1


def charge_of(leaf_count: int, size: int) -> int:
    """What a blob of `leaf_count` leaves and `size` bytes counts against quotas and limits."""
    return max(MIN_BLOB_CHARGE, size + leaf_count * LEAF_OVERHEAD_BYTES + BLOB_OVERHEAD_BYTES)


@dataclass(slots=True)
class BlobRecord:
    """A stored blob as the ledger knows it."""

    owner: bytes | None
    leaf_count: int
    size: int
    released_ms: int
    bound: bool

    @property
    def charge(self) -> int:
        return charge_of(self.leaf_count, self.size)

    def encode(self) -> bytes:
        """The record's stored bytes."""
        return (
            self.leaf_count.to_bytes(4, "big")
            + self.size.to_bytes(8, "big")
            + self.released_ms.to_bytes(8, "big")
            + (b"\x01" if self.bound else b"\x00")
            + (self.owner or b"")
        )

    @classmethod
    def decode(cls, raw: bytes) -> BlobRecord | None:
        """A record from its stored bytes; None if they are damaged."""
        if len(raw) not in (_FIXED_BYTES, _FIXED_BYTES + 32):
            return None
        return cls(
            owner=raw[_FIXED_BYTES:] or None,
            leaf_count=int.from_bytes(raw[:4], "big"),
            size=int.from_bytes(raw[4:12], "big"),
            released_ms=int.from_bytes(raw[12:20], "big"),
            bound=raw[20] == 1,
        )


def record_key(root: bytes) -> bytes:
    """Where a blob's ledger record lives."""
    return _RECORD + root


def blob_keys(root: bytes, leaf_count: int) -> list[bytes]:
    """Every key a stored blob occupies: its metadata, its leaves, its tree and its record."""
    leaves = [_LEAF + root + index.to_bytes(4, "big") for index in range(leaf_count)]
    return [_META + root, *leaves, *tree_keys(root, leaf_count), record_key(root)]


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one sweep did."""

    deleted: tuple[bytes, ...]
    """The roots of the blobs it deleted."""
    freed_bytes: int
    """Their charge."""
    bound: int
    """How many stored blobs are bound now."""


class BlobLedger:
    """Every stored blob's record, and the totals the quotas read, kept in memory beside the
    records in the key-value store."""

    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv
        self._records: dict[bytes, BlobRecord] = {}
        self._unbound: dict[bytes, int] = {}
        self._unbound_count: dict[bytes, int] = {}
        self._bound: set[bytes] = set()
        self._unstamped: set[bytes] = set()
        self._cursor: list[bytes] = []
        self.stored_bytes = 0
        """The charge of every stored blob."""
        self._load()

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, root: object) -> bool:
        return root in self._records

    def roots(self) -> list[bytes]:
        """The roots of every stored blob."""
        return list(self._records)

    def get(self, root: bytes) -> BlobRecord | None:
        """The record of a stored blob, or None."""
        return self._records.get(root)

    def unbound_bytes_of(self, account: bytes) -> int:
        """The charge of `account`'s stored blobs that nothing references: its stored quota use."""
        return self._unbound.get(account, 0)

    def unbound_records_of(self, account: bytes) -> int:
        """How many of `account`'s stored blobs nothing references."""
        return self._unbound_count.get(account, 0)

    def owners(self) -> list[bytes]:
        """The accounts that own stored blobs nothing references."""
        return list(self._unbound)

    # Changes (each written to the store before the memory follows)

    def record_stored(self, batch: WriteBatch, root: bytes, record: BlobRecord) -> None:
        """Add a blob's record to `batch` (the batch that stores the blob, or retakes it); call
        `apply` after the batch is written."""
        batch.put(record_key(root), record.encode())

    def apply(self, root: bytes, record: BlobRecord) -> None:
        """Follow a written record in memory."""
        self._forget(root)
        self._records[root] = record
        self.stored_bytes += record.charge
        if record.bound:
            self._bound.add(root)
        elif record.owner is not None:
            self._unbound[record.owner] = self._unbound.get(record.owner, 0) + record.charge
            self._unbound_count[record.owner] = self._unbound_count.get(record.owner, 0) + 1
        if record.released_ms == 0:
            self._unstamped.add(root)

    def sweep(
        self,
        now_ms: int,
        referenced: Iterable[bytes],
        *,
        retention_ms: int,
        max_leaves: int = MAX_SWEEP_LEAVES,
        max_examined: int = MAX_SWEEP_EXAMINED,
        unfunded: frozenset[bytes] = frozenset(),
    ) -> SweepResult:
        """Bind the stored blobs in `referenced` and release the others, then delete up to
        `max_leaves` leaves' worth of blobs unbound for longer than `retention_ms`, or owned by
        an account in `unfunded` (whatever their age).

        The work is bounded: the bindings change only for blobs that `referenced` (open jobs and
        uploads) names or named last time, and at most `max_examined` records are looked at for
        expiry (the next sweep goes on from there). A blob in `referenced` is never deleted.
        """
        referenced_now = {root for root in referenced if root in self._records}
        now_ms = max(now_ms, 1)  # 0 marks a record not yet stamped
        changed: list[tuple[bytes, BlobRecord]] = []
        for root in self._bound - referenced_now:
            old = self._records[root]
            changed.append((root, BlobRecord(old.owner, old.leaf_count, old.size, now_ms, False)))
        for root in referenced_now - self._bound:
            old = self._records[root]
            changed.append((root, BlobRecord(old.owner, old.leaf_count, old.size, now_ms, True)))
        for root in self._unstamped - referenced_now:
            old = self._records[root]
            changed.append((root, BlobRecord(old.owner, old.leaf_count, old.size, now_ms, False)))
        if changed:
            batch = WriteBatch()
            for root, record in changed:
                self.record_stored(batch, root, record)
            self.kv.write(batch)
            for root, record in changed:
                self.apply(root, record)
        deleted, freed = self._delete_expired(
            now_ms, referenced_now, retention_ms, max_leaves, max_examined, unfunded
        )
        return SweepResult(tuple(deleted), freed, len(self._bound))

    def _delete_expired(
        self,
        now_ms: int,
        keep: set[bytes],
        retention_ms: int,
        max_leaves: int,
        max_examined: int,
        unfunded: frozenset[bytes],
    ) -> tuple[list[bytes], int]:
        deleted: list[bytes] = []
        leaves = 0
        batch = WriteBatch()
        for _ in range(min(max_examined, len(self._records))):
            if not self._cursor:
                self._cursor = list(reversed(self._records))
            root = self._cursor.pop()
            record = self._records.get(root)
            if (
                record is None
                or record.bound
                or root in keep
                or (
                    record.owner not in unfunded
                    and (record.released_ms == 0 or now_ms - record.released_ms <= retention_ms)
                )
            ):
                continue
            if deleted and leaves + record.leaf_count > max_leaves:
                self._cursor.append(root)  # first in line next time
                break
            for key in blob_keys(root, record.leaf_count):
                batch.delete(key)
            deleted.append(root)
            leaves += record.leaf_count
        if not deleted:
            return [], 0
        self.kv.write(batch)  # one batch: the blobs go together or, if it fails, none does
        freed = 0
        for root in deleted:
            freed += self._records[root].charge
            self._forget(root)
        return deleted, freed

    def delete(self, root: bytes) -> int:
        """Delete a stored blob now, in one batch (a blob fetched for a check that has ended);
        the charge freed, 0 if it is not stored."""
        record = self._records.get(root)
        if record is None:
            return 0
        batch = WriteBatch()
        for key in blob_keys(root, record.leaf_count):
            batch.delete(key)
        self.kv.write(batch)
        self._forget(root)
        return record.charge

    def _forget(self, root: bytes) -> None:
        old = self._records.pop(root, None)
        if old is None:
            return
        self.stored_bytes -= old.charge
        self._bound.discard(root)
        self._unstamped.discard(root)
        if not old.bound and old.owner is not None:
            left = self._unbound[old.owner] - old.charge
            self._unbound_count[old.owner] -= 1
            if self._unbound_count[old.owner]:
                self._unbound[old.owner] = left
            else:
                del self._unbound[old.owner], self._unbound_count[old.owner]

    # Loading

    def _load(self) -> None:
        if self.kv.get(_MIGRATED) is None:
            self._migrate()
        for key, raw in self.kv.iterate(_RECORD):
            if len(key) != 1 + _ROOT_BYTES:
                continue  # the migration marker
            record = BlobRecord.decode(raw)
            if record is not None:
                self.apply(key[1:], record)

    def _migrate(self) -> None:
        """Give each blob stored before the ledger a record without owner, unstamped."""
        batch = WriteBatch()
        found = False
        for key, raw in self.kv.iterate(_META):
            root = key[1:]
            found = True
            if len(root) != _ROOT_BYTES or self.kv.get(record_key(root)) is not None:
                continue
            count, size = int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:12], "big")
            batch.put(record_key(root), BlobRecord(None, count, size, 0, False).encode())
        if found:  # an empty store has nothing to look at next time either
            batch.put(_MIGRATED, b"\x01")
            self.kv.write(batch)
