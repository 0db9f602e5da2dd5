"""Free space on the disk the database is on: what blobs may not take, and a file kept in reserve.

Blobs share the chain's database, so their limits (`--blob-max-bytes`, the account quota) are not
enough on a disk smaller than them: a blob that fills the disk halts the node, and recovery needs
room for a probe write and for LevelDB to reopen. So:

- `DiskRoom.check` refuses a blob (an upload's begin, a blob fetched from peers) when storing it
  would leave less than `reserve_bytes` free on the database's filesystem (`os.statvfs`): the
  node's own writes (blocks, votes, the recovery probe) keep that room;
- `DiskRoom.ensure_reserve_file` keeps a preallocated file of `reserve_file_bytes` beside the
  database; `release_reserve_file` deletes it when a storage fault begins, so the reopen and the
  probe have room even when something other than blobs filled the disk, and the file is made
  again after the node recovers.

What an attacker can still do within this: store blobs (within the account quotas and the node's
limit) until the disk's free space reaches the reserve, after which uploads and fetches are
refused with a "disk nearly full" error until the sweep deletes the unreferenced ones. That
denies other uploads for a retention period, as the node's blob limit already allows; it no
longer halts the chain, as the reserve keeps room for blocks, votes and recovery.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from typing import Final

log = logging.getLogger("xpl.node")

DISK_RESERVE_BYTES: Final = 256 * 1024 * 1024
"""Free space blobs leave on the database's disk for the chain (blocks, votes, LevelDB's
compactions, the recovery probe); on a small disk the reserve is a quarter of it instead."""
DISK_RESERVE_PERCENT: Final = 5
"""On a large disk the reserve is this share of its size, if more than DISK_RESERVE_BYTES."""
RESERVE_FILE_BYTES: Final = 64 * 1024 * 1024
"""The file kept beside the database and deleted when a storage fault begins, so that reopening
the database and its probe write have room (an eighth of a small disk instead)."""
RESERVE_FILE_NAME: Final = "disk-reserve"
_WRITE_CHUNK: Final = 1024 * 1024


class DiskNearlyFull(Exception):
    """Storing this would leave the database's disk with less free space than its reserve."""


def reserve_for(total_bytes: int, probe_bytes: int) -> int:
    """The free space blobs must leave on a filesystem of `total_bytes` (the probe included)."""
    share = max(DISK_RESERVE_BYTES, total_bytes * DISK_RESERVE_PERCENT // 100)
    return min(share, total_bytes // 4) + probe_bytes


class DiskRoom:
    """Free-space checks for the database at `db_path`, and its reserve file (in the folder that
    holds the database)."""

    def __init__(self, db_path: Path, *, probe_bytes: int = 1024 * 1024) -> None:
        self.db_path = db_path
        self.reserve_file = db_path.parent / RESERVE_FILE_NAME
        self.probe_bytes = probe_bytes

    def _stats(self) -> tuple[int, int]:
        """(total, free to this user) bytes of the database's filesystem."""
        stats = os.statvfs(self.db_path)
        return stats.f_blocks * stats.f_frsize, stats.f_bavail * stats.f_frsize

    @property
    def reserve_bytes(self) -> int:
        return reserve_for(self._stats()[0], self.probe_bytes)

    @property
    def reserve_file_bytes(self) -> int:
        """The reserve file's size on this filesystem."""
        return min(RESERVE_FILE_BYTES, self._stats()[0] // 4)

    def check(self, incoming_bytes: int) -> None:
        """DiskNearlyFull unless `incoming_bytes` more leave the reserve free."""
        total, free = self._stats()
        reserve = reserve_for(total, self.probe_bytes)
        if free - incoming_bytes < reserve:
            raise DiskNearlyFull(
                f"disk nearly full: the database's disk has {free / 2**20:.1f} MiB free, and "
                f"{incoming_bytes / 2**20:.1f} MiB more would leave less than the "
                f"{reserve / 2**20:.1f} MiB the node keeps for the chain"
            )

    def ensure_reserve_file(self) -> bool:
        """Make the reserve file if it is missing or short; whether it is whole (False when the
        disk has no room for it yet: the caller tries again later)."""
        total, free = self._stats()
        size = min(RESERVE_FILE_BYTES, total // 4)
        try:
            if self.reserve_file.exists() and self.reserve_file.stat().st_size >= size:
                return True
            if free - size < reserve_for(total, self.probe_bytes):
                return False  # taking the room back would leave the chain less than its reserve
            with self.reserve_file.open("wb") as f:
                try:
                    os.posix_fallocate(f.fileno(), 0, size)
                except OSError as exc:
                    if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                        raise
                    chunk = bytes(_WRITE_CHUNK)
                    for start in range(0, size, _WRITE_CHUNK):
                        f.write(chunk[: min(_WRITE_CHUNK, size - start)])
                f.flush()
                os.fsync(f.fileno())
            return True
        except OSError as exc:
            self.reserve_file.unlink(missing_ok=True)
            log.debug("cannot make the reserve file %s yet: %s", self.reserve_file, exc)
            return False

    def release_reserve_file(self) -> int:
        """Delete the reserve file (a storage fault began); the bytes it freed."""
        try:
            size = self.reserve_file.stat().st_size
            self.reserve_file.unlink()
        except FileNotFoundError:
            return 0
        log.warning("deleted the reserve file %s to make room for recovery", self.reserve_file)
        return size
