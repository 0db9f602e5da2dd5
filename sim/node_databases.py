"""Where a simulated network's nodes keep their databases: in memory, or each in a LevelDB of a
temporary directory that the run owns.

In memory (`MemoryStore`) every block a node stores stays in Python's heap, so a run's memory
grows with its simulated duration (about 3 KB a node a simulated second with one-second slots).
In LevelDB (`LevelDBStore`, as the real node keeps its database) the blocks go to disk instead;
LevelDB's own memory is bounded by its block cache (`CACHE_BYTES` a node) and its write buffer
(`WRITE_BUFFER_BYTES`). The directory is removed when the run ends, however it ends (`close`, or
leaving the `with` block on an exception or Ctrl-C). A node that crashes and restarts keeps its
database either way, as a real node's disk outlives its process.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

from chain.storage.kv import KeyValueStore, LevelDBStore, MemoryStore, WriteBatch

StoreKind = Literal["memory", "leveldb"]
"""How a simulated node keeps its database."""
STORE_KINDS: Final[tuple[StoreKind, ...]] = ("memory", "leveldb")
CACHE_BYTES: Final = 4 * 1024 * 1024
"""LevelDB's block cache of each simulated node: bounds the memory LevelDB spends on reads
outside Python's heap (the real node's 64 MiB would cost gigabytes for 64 validators); the chain
store caches what it reads often itself."""
WRITE_BUFFER_BYTES: Final = 1024 * 1024
"""LevelDB's write buffer (memtable) of each simulated node, a quarter of its default: with the
block cache, what LevelDB holds in RAM a node is about 6 MiB."""
DIRECTORY_PREFIX: Final = "xpl-sim-db-"
"""The prefix of a run's temporary directory (under the system's temporary directory)."""


class UnsyncedLevelDBStore(LevelDBStore):
    """A LevelDB store that never waits for the disk: a simulated crash loses the node's
    process, never the machine's page cache, so a sync would only cost time (it made a run
    several times slower)."""

    def write(self, batch: WriteBatch) -> None:
        """Apply the batch atomically, unsynced whatever it asks."""
        batch.sync = False
        super().write(batch)


class NodeDatabases:
    """Opens each simulated node's database and, for LevelDB, owns the directory they live in:
    `close` (or the end of a `with` block) closes them and removes it."""

    def __init__(self, kind: StoreKind = "memory", *, parent: Path | None = None) -> None:
        if kind not in STORE_KINDS:
            raise ValueError(f"store must be one of {', '.join(STORE_KINDS)}, got {kind!r}")
        self.kind: Final = kind
        self._parent = parent
        self.directory: Path | None = None
        """The run's temporary directory (None: in memory, or not made yet, or removed)."""
        self._open: list[LevelDBStore] = []
        self.disk_bytes_at_close = 0
        """What the databases took on disk when they were closed (0 in memory)."""

    def open(self, name: str) -> KeyValueStore:
        """A new, empty database for node `name`."""
        if self.kind == "memory":
            return MemoryStore()
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix=DIRECTORY_PREFIX, dir=self._parent))
        path = self.directory / name
        if path.exists():
            raise ValueError(f"a database for node {name} was opened already")
        store = UnsyncedLevelDBStore(
            path, cache_bytes=CACHE_BYTES, write_buffer_bytes=WRITE_BUFFER_BYTES
        )
        self._open.append(store)
        return store

    def disk_bytes(self) -> int:
        """What the databases take on disk now (0 in memory)."""
        if self.directory is None:
            return 0
        return sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())

    def close(self) -> None:
        """Close every database and remove the directory (again: nothing to do)."""
        if self.directory is not None:
            self.disk_bytes_at_close = self.disk_bytes()
        stores, self._open = self._open, []
        for store in stores:
            store.close()
        directory, self.directory = self.directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def __enter__(self) -> NodeDatabases:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["CACHE_BYTES", "STORE_KINDS", "NodeDatabases", "StoreKind"]
