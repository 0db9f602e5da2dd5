"""The key-value store the node persists to: LevelDB on disk, a dict in tests and the simulator.

Every change goes through `write(batch)`, which applies a whole batch atomically: a crash leaves
the store before or after the batch, never in between. That is what makes each block import one
step that cannot be half done.

A write can fail (no space left on the device, an I/O error): `write` then raises
StoreWriteFailed and tells the store's failure listeners. LevelDB may keep refusing writes after
such an error until the database is closed and opened again, which `reopen` does.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import repeat
from pathlib import Path
from typing import Protocol

import plyvel


class StoreError(Exception):
    """The database cannot be opened or used (locked by another process, corrupt, no space)."""


class StoreWriteFailed(StoreError):
    """A write to the database failed (no space left, an I/O error); the caller must not count on
    it having been applied, and LevelDB may refuse every later write until it is reopened."""


class StoreCorrupt(StoreError):
    """The database's files are damaged: opening it again will not help."""


class StoreUnavailable(StoreError):
    """The database is closed (being reopened after a failed write); nothing can be read or written
    until it is open again."""


class WriteBatch:
    """Puts and deletes applied together, in order (so for one key, the last operation wins)."""

    __slots__ = ("ops", "sync")

    def __init__(self, *, sync: bool = False) -> None:
        self.ops: list[tuple[bytes, bytes | None]] = []
        self.sync = sync
        """Whether the write waits for the disk (fsync) before it returns: for records a power
        loss must not lose once acted on (a vote sent, a finality step announced)."""

    def put(self, key: bytes, value: bytes) -> None:
        """Set `key` to `value` when the batch is written."""
        self.ops.append((key, value))

    def delete(self, key: bytes) -> None:
        """Remove `key` when the batch is written."""
        self.ops.append((key, None))

    def delete_all(self, prefix: bytes, keys: Iterable[bytes]) -> None:
        """Remove each `prefix ‖ key` when the batch is written (a pruned state's thousands of
        trie nodes, added in one C-level pass)."""
        self.ops.extend(zip(map(prefix.__add__, keys), repeat(None)))

    def update(self, prefix: bytes, changes: Mapping[bytes, bytes | None]) -> None:
        """Set each `prefix ‖ key` to its value, or remove it where the value is None (a block's
        thousands of trie nodes and state changes, added in one C-level pass)."""
        self.ops.extend(zip(map(prefix.__add__, changes), changes.values(), strict=True))

    def __len__(self) -> int:
        return len(self.ops)


class KeyValueStore(Protocol):
    """What the node needs from a database."""

    def get(self, key: bytes) -> bytes | None:
        """The value stored under `key`, or None."""
        ...

    def write(self, batch: WriteBatch) -> None:
        """Apply the batch atomically."""
        ...

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """All pairs whose key starts with `prefix`, in key order."""
        ...

    def close(self) -> None:
        """Release the database; the store is not used afterwards."""
        ...


class MemoryStore:
    """A dict-backed store with the same semantics, for tests and the simulator."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self._sorted: list[bytes] | None = None

    def get(self, key: bytes) -> bytes | None:
        """The value stored under `key`, or None."""
        return self.data.get(key)

    def write(self, batch: WriteBatch) -> None:
        """Apply the batch's operations in order, all at once."""
        for key, value in batch.ops:
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value
        self._sorted = None

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """The pairs whose key starts with `prefix`, in key order, as they were at the call."""
        # A snapshot, as LevelDB's iterators are: later writes do not show.
        if self._sorted is None:
            self._sorted = sorted(self.data)
        keys = self._sorted
        start = bisect.bisect_left(keys, prefix)
        end = start
        while end < len(keys) and keys[end].startswith(prefix):
            end += 1
        snapshot = [(key, self.data[key]) for key in keys[start:end]]
        return iter(snapshot)

    def close(self) -> None:
        """Nothing to release: the data lives as long as the object."""
        pass


def _reason(exc: Exception) -> str:
    """plyvel's messages are bytes; show them as text."""
    detail = exc.args[0] if exc.args else exc
    return detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)


class LevelDBStore:
    """LevelDB through plyvel; one process may open a database at a time."""

    def __init__(
        self,
        path: Path,
        *,
        sync: bool = False,
        cache_bytes: int = 64 * 1024 * 1024,
        write_buffer_bytes: int | None = None,
        compression: str | None = None,
    ) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._sync = sync
        self._cache_bytes = cache_bytes
        self._write_buffer: dict[str, int] = (
            {} if write_buffer_bytes is None else {"write_buffer_size": write_buffer_bytes}
        )
        """LevelDB's memtable size, where not its default (4 MiB; two may be held at once)."""
        self._compression = compression
        """None (the default here): blocks are stored as they are. Most of what a node stores is
        trie nodes, which are hashes and do not compress: with LevelDB's default (snappy) an
        import of 20,000 transfers took 80-81 us of process CPU a transfer (compactions
        included) against 66-67 us without, for a database 22% smaller (25 against 32 MB).
        A database written either way opens either way (LevelDB marks each block)."""
        self.failure_listeners: list[Callable[[StoreWriteFailed], None]] = []
        """Called with every failed write, before `write` raises it."""
        self._db: plyvel.DB | None = self._open()

    def _open(self) -> plyvel.DB:
        try:
            return plyvel.DB(
                str(self.path),
                create_if_missing=True,
                lru_cache_size=self._cache_bytes,
                bloom_filter_bits=10,
                compression=self._compression,
                **self._write_buffer,
            )
        except plyvel.IOError as exc:
            raise StoreError(f"cannot open the database at {self.path}: {_reason(exc)}") from exc
        except plyvel.CorruptionError as exc:
            raise StoreCorrupt(f"the database at {self.path} is corrupt: {_reason(exc)}") from exc

    def _open_db(self) -> plyvel.DB:
        db = self._db
        if db is None:
            raise StoreUnavailable(f"the database at {self.path} is closed while it is reopened")
        return db

    def get(self, key: bytes) -> bytes | None:
        """The value stored under `key`, or None."""
        return self._open_db().get(key)  # type: ignore[no-any-return]

    def write(self, batch: WriteBatch) -> None:
        """Apply the batch in one LevelDB transaction (synced to disk if opened with `sync` or the
        batch asks for it); StoreWriteFailed if it fails."""
        db = self._open_db()
        try:
            with db.write_batch(transaction=True, sync=self._sync or batch.sync) as wb:
                put, delete = wb.put, wb.delete
                for key, value in batch.ops:
                    if value is None:
                        delete(key)
                    else:
                        put(key, value)
        except plyvel.Error as exc:
            failed = StoreWriteFailed(f"cannot write the database at {self.path}: {_reason(exc)}")
            for listener in self.failure_listeners:
                listener(failed)
            raise failed from exc

    def compact(self) -> None:
        """Compact the whole database now (LevelDB otherwise does it in a background thread
        after large writes, such as a genesis state's, taking CPU from what runs next)."""
        self._open_db().compact_range()

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """The pairs whose key starts with `prefix`, in key order, from a LevelDB snapshot."""
        with self._open_db().iterator(prefix=prefix) as it:
            yield from it

    def reopen(self) -> None:
        """Close the database and open it again, which clears an error LevelDB keeps after a
        failed write; StoreError if it does not open (StoreCorrupt if its files are damaged)."""
        if self._db is not None:
            db, self._db = self._db, None
            db.close()
        self._db = self._open()

    def close(self) -> None:
        """Close the database, releasing its lock for other processes."""
        if self._db is not None:
            db, self._db = self._db, None
            db.close()
