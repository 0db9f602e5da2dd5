"""A database that fails its writes (no space left, an I/O error): reported, and recovered from.

The first failed write halts the node core (`NodeCore.halt`: no authoring, no import, no vote
until it resumes) and is logged once, naming the database and the error; later failures while
the fault lasts are only counted (`xpl_storage_write_failures_total`). `system_health` shows the
fault (its `storage` member) and `xpl_storage_healthy` is 0 while it lasts.

When the fault begins the node deletes its reserve file (`chain.storage.disk_room`), so the
disk has room for what recovery writes even when something else filled it. `StorageRecovery.run`
then retries with a back-off: it closes and reopens the database (LevelDB refuses every write
after some failures until it is reopened), reads the chain back (`ChainStore.reload`: the head and
the finalized block must read back, finality must not go back), runs the blob sweep (which only
deletes, so frees space), writes and deletes STORAGE_PROBE_BYTES, and resumes the core; the
reserve file is made again once the disk has room for it beside the free-space reserve. A
damaged database, a chain that does not read back, or a database that has not taken writes for
STORAGE_GIVE_UP_MS stops the node with StorageLost (the command exits non-zero with its message).

What an attacker can do: fill the disk the node writes to (for instance with blobs, within their
quotas, or by anything else that shares the disk). Blobs stop at the free-space reserve
(`DiskRoom.check`), so only something outside the node can fill the disk; once the reserve file's
room is used up too, that stops this node's authoring and import for
as long as the disk is full, as it would stop any program; it cannot make the node lose a
finalized block, write half a block, send a vote it has not recorded, or account for a block it
did not store, so the fault costs the node's owner liveness only, and the node takes writes again
by itself once space is freed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

import trio

from chain.service.metrics import NodeMetrics
from chain.storage.chain_store import ChainStore, ChainStoreError
from chain.storage.disk_room import DiskRoom
from chain.storage.kv import LevelDBStore, StoreCorrupt, StoreError, StoreWriteFailed, WriteBatch

log = logging.getLogger("xpl.node")

STORAGE_RETRY_FIRST_MS: Final = 1_000
"""The wait before the first try to reopen the database after a failed write."""
STORAGE_RETRY_MAX_MS: Final = 8_000
"""The longest wait between two tries (each failed try doubles the wait up to this)."""
STORAGE_GIVE_UP_MS: Final = 600_000
"""A node whose database has not taken a write for this long after a failure exits."""
STORAGE_PROBE_BYTES: Final = 1024 * 1024
"""A try writes (and deletes) this much before the node resumes: room for a few blocks, so a disk
with a few bytes free does not resume the node only to fail again at once."""
_PROBE_KEY: Final = b"mprobe"


class StorageLost(StoreError):
    """The database cannot be recovered: damaged, its chain does not read back, or it has not taken
    a write for STORAGE_GIVE_UP_MS."""


class StorageHealth:
    """Whether the database takes writes; the first failure of a fault logged, the rest counted."""

    def __init__(self, path: str, metrics: NodeMetrics, clock: Callable[[], int]) -> None:
        self.path = path
        self.metrics = metrics
        self.clock = clock
        self.fault: StoreError | None = None
        """The failure that began the current fault; None while the database takes writes."""
        self.since_ms = 0
        """When the current fault began."""
        self.failures = 0
        """Failed writes and failed tries to reopen since the current fault began."""
        self.changed = trio.Event()
        """Set when a fault begins (the recovery task waits on it)."""

    @property
    def healthy(self) -> bool:
        return self.fault is None

    def failed(self, exc: StoreError) -> bool:
        """Note a failure; True if it begins a fault (then it is logged, once)."""
        self.metrics.storage_write_failures.inc()
        if self.fault is not None:
            self.failures += 1
            return False
        self.fault, self.since_ms, self.failures = exc, self.clock(), 1
        self.metrics.storage_healthy.set(0)
        log.error(
            "storage fault: %s; authoring and importing stop until the database takes writes "
            "again (the node retries by itself; it exits if that has not happened in %d s)",
            exc,
            STORAGE_GIVE_UP_MS // 1000,
        )
        self.changed.set()
        return True

    def recovered(self) -> None:
        """The database takes writes again: log it with what the fault cost."""
        log.warning(
            "storage recovered: the database at %s takes writes again after %d failures over "
            "%.1f s; authoring and importing resume",
            self.path,
            self.failures,
            (self.clock() - self.since_ms) / 1000,
        )
        self.fault = None
        self.failures = 0
        self.metrics.storage_healthy.set(1)
        self.changed = trio.Event()

    def to_json(self) -> dict[str, Any] | None:
        """The `storage` member of system_health while faulted (None while healthy)."""
        if self.fault is None:
            return None
        return {
            "healthy": False,
            "error": str(self.fault),
            "failures": self.failures,
            "faultedForMs": max(0, self.clock() - self.since_ms),
        }


class StorageRecovery:
    """Watches the database's writes and, after a failure, reopens it and resumes the node."""

    def __init__(
        self,
        kv: LevelDBStore,
        store: ChainStore,
        health: StorageHealth,
        *,
        halt: Callable[[StoreError], None],
        resume: Callable[[], None],
        retry_first_ms: int = STORAGE_RETRY_FIRST_MS,
        retry_max_ms: int = STORAGE_RETRY_MAX_MS,
        give_up_ms: int = STORAGE_GIVE_UP_MS,
        disk: DiskRoom | None = None,
        free_space: Callable[[], object] | None = None,
    ) -> None:
        self.kv = kv
        self.store = store
        self.health = health
        self._halt = halt
        self._resume = resume
        self.retry_first_ms = retry_first_ms
        self.retry_max_ms = retry_max_ms
        self.give_up_ms = give_up_ms
        self.disk = disk
        """The database's disk, whose reserve file a fault releases (None: no reserve file)."""
        self.free_space = free_space
        """Run after a reopen, before the probe: the blob sweep, which deletes what it may."""
        kv.failure_listeners.append(self.on_write_failed)
        if disk is not None:
            disk.ensure_reserve_file()

    def on_write_failed(self, exc: StoreWriteFailed) -> None:
        """Every failed write of the database (the chain's, the blobs', a probe's) comes here."""
        if self.health.failed(exc):
            if self.disk is not None:
                self.disk.release_reserve_file()
            self._halt(exc)

    async def run(self) -> None:
        """Forever: wait for a fault, then try to recover from it; StorageLost if it cannot."""
        while True:
            await self.health.changed.wait()
            delay_ms = self.retry_first_ms
            while not self.health.healthy:
                await trio.sleep(delay_ms / 1000)
                if self.try_recover():
                    break
                delay_ms = min(2 * delay_ms, self.retry_max_ms)
                faulted_ms = self.health.clock() - self.health.since_ms
                if faulted_ms >= self.give_up_ms:
                    raise StorageLost(
                        f"the database at {self.kv.path} has taken no write for "
                        f"{faulted_ms // 1000} s since {self.health.fault}; stopping the node "
                        "(free space on its disk and start it again)"
                    )

    def try_recover(self) -> bool:
        """One try: reopen, read the chain back, take a probe write, resume the core; False if
        the database is not writable yet. StorageLost if it is damaged."""
        try:
            self.kv.reopen()
            self.store.reload()
            if self.free_space is not None:
                try:
                    self.free_space()
                except StoreError as exc:  # a failed write is counted by on_write_failed
                    log.debug("the blob sweep could not run during the fault: %s", exc)
                    self.kv.reopen()
            batch = WriteBatch()
            batch.put(_PROBE_KEY, bytes(STORAGE_PROBE_BYTES))
            batch.delete(_PROBE_KEY)
            self.kv.write(batch)
        except StoreCorrupt as exc:
            raise StorageLost(f"{exc}; stopping the node") from exc
        except ChainStoreError as exc:
            raise StorageLost(
                f"the chain in the database at {self.kv.path} did not read back after a storage "
                f"fault: {exc}; stopping the node"
            ) from exc
        except StoreWriteFailed:
            return False  # counted by on_write_failed
        except StoreError as exc:
            self.health.failed(exc)
            log.debug("the database does not reopen yet: %s", exc)
            return False
        self.health.recovered()
        if self.disk is not None:
            self.disk.ensure_reserve_file()
        self._resume()
        return True
