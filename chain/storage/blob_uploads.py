"""Uploads in progress: who holds which upload slot and how many buffered bytes, and which
reservations have stalled.

Each upload is begun by an account (the node checked its signed grant) and reserves its declared
size at `begin`, so the memory all uploads may take is bounded up front and an upload that has
begun can always finish. The rules, each with what an attacker can still do within it:

- At most `max_uploads` uploads at once and `max_buffered_bytes` reserved in all (the node's
  memory); at most `max_account_uploads` of the slots and `max_account_buffered_bytes` of the
  bytes per account. One account cannot take every slot or the whole budget: it takes its share,
  and needs several funded accounts for more. An account at its share that begins another
  upload drops its own stalled ones first (a client that crashed mid-upload is not locked out
  by its own leftovers).
- Every upload gets a deadline when it begins: `stall_grace_ms` plus its declared bytes at
  `min_bytes_per_s` (64 KiB/s, a slow home uplink). An upload is *stalled* once it is past its
  deadline (whatever it sends), has brought no new byte for `stall_idle_ms`, or, after the
  grace, has received fewer bytes than `min_bytes_per_s` since it began. Only a request that
  brings new bytes counts as progress: an empty or refused request does not, so a reservation
  cannot be kept alive by pinging it. A declared size of 0 is refused (`BlobStore.check_shape`),
  so every reservation has bytes to bring.
- A stalled upload keeps its slot while nobody needs it; a `begin` that finds no room drops
  stalled uploads (the most overdue first) before it gives up, but only for an account that has
  no upload in progress itself: an attacker who holds slots cannot use its next `begin` to
  evict an honest upload, and an upload sending at 64 KiB/s or more is never stalled.
- An upload with no progress for longer than `upload_idle_ms` is dropped whether or not anyone
  waits.

What an attacker can still do: hold its accounts' shares of the slots and the buffer for as
long as it keeps sending at `min_bytes_per_s` per upload (bandwidth it pays for), and at most
until the deadline; the bytes it sends become blobs charged to its stored quota. Two funded
accounts reserving 256 MiB each hold the buffer for about 68 minutes only by sending all 512 MiB.

Time comes in as `now_ms` arguments: this table never reads a clock.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

MAX_UPLOADS: Final = 16
"""Uploads in progress at once on a node, all accounts together."""
MAX_ACCOUNT_UPLOADS: Final = 4
"""Uploads in progress at once by one account: a quarter of the slots."""
MAX_BUFFERED_BYTES: Final = 512 * 1024 * 1024
"""Bytes all uploads in progress may reserve (they are buffered in memory until finished)."""
UPLOAD_IDLE_MS: Final = 10 * 60 * 1000
"""An upload with no request for this long is dropped, whether or not anyone waits."""
STALL_IDLE_MS: Final = 30 * 1000
"""An upload with no request for this long is stalled: dropped if another upload needs room."""
STALL_GRACE_MS: Final = 10 * 1000
"""How long a new upload may send nothing before the minimum rate applies to it."""
MIN_UPLOAD_BYTES_PER_S: Final = 64 * 1024
"""The rate an upload must keep, after the grace, to hold its reservation when others wait; its
deadline is the grace plus its size at this rate (4,106 s for the largest blob)."""


@dataclass(slots=True)
class Upload:
    """An upload in progress: whose, what it declared, what it received so far."""

    account: bytes
    root: bytes
    """The root the account's grant declared; `finish` refuses other leaves."""
    leaf_count: int
    size: int
    charge: int
    """What the blob will count against the quotas once stored (`blob_ledger.charge_of`)."""
    leaves: list[bytes | None]
    received_bytes: int
    begun_ms: int
    progress_ms: int
    """When a request last brought new bytes (or the upload began): pings do not count."""
    deadline_ms: int
    """When the upload is stalled whatever it sends: the grace plus its size at the minimum
    rate."""


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """The table's limits (see the module docstring for what each bounds)."""

    max_uploads: int = MAX_UPLOADS
    max_account_uploads: int = MAX_ACCOUNT_UPLOADS
    max_buffered_bytes: int = MAX_BUFFERED_BYTES
    max_account_buffered_bytes: int = 256 * 1024 * 1024
    """One account's reservations in all: room for the largest blob (MAX_BLOB_BYTES), half the
    default budget."""
    upload_idle_ms: int = UPLOAD_IDLE_MS
    stall_idle_ms: int = STALL_IDLE_MS
    stall_grace_ms: int = STALL_GRACE_MS
    min_bytes_per_s: int = MIN_UPLOAD_BYTES_PER_S

    def check(self) -> None:
        """ValueError if a limit is below 1."""
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")


DEFAULT_UPLOAD_LIMITS: Final = UploadLimits()
"""The limits a node runs with unless told otherwise."""


class UploadTable:
    """The uploads in progress by id, with per-account counts kept beside them."""

    def __init__(self, limits: UploadLimits) -> None:
        limits.check()
        self.limits = limits
        self._uploads: dict[str, Upload] = {}
        self._count: dict[bytes, int] = {}
        self._bytes: dict[bytes, int] = {}
        self._charges: dict[bytes, int] = {}
        self.reserved_bytes = 0
        """Bytes the uploads in progress have declared, and so may buffer."""
        self.reserved_charge = 0
        """What the uploads in progress will charge once stored, all together."""
        self.dropped_stalled = 0
        """Stalled uploads dropped to make room since the start."""

    def __len__(self) -> int:
        return len(self._uploads)

    def __iter__(self) -> Iterator[Upload]:
        return iter(self._uploads.values())

    def get(self, upload_id: str) -> Upload | None:
        """The upload by that id, or None."""
        return self._uploads.get(upload_id)

    def count_of(self, account: bytes) -> int:
        """How many uploads `account` has in progress."""
        return self._count.get(account, 0)

    def reserved_by(self, account: bytes) -> int:
        """The bytes `account`'s uploads in progress reserve."""
        return self._bytes.get(account, 0)

    def charge_of_uploads(self, account: bytes) -> int:
        """What `account`'s uploads in progress will charge once stored."""
        return self._charges.get(account, 0)

    def add(
        self, account: bytes, root: bytes, leaf_count: int, size: int, charge: int, now_ms: int
    ) -> str:
        """Record a new upload (its room already checked); its id."""
        upload_id = secrets.token_hex(16)
        self._uploads[upload_id] = Upload(
            account,
            root,
            leaf_count,
            size,
            charge,
            [None] * leaf_count,
            0,
            now_ms,
            now_ms,
            self.deadline_of(size, now_ms),
        )
        self._count[account] = self._count.get(account, 0) + 1
        self._bytes[account] = self._bytes.get(account, 0) + size
        self._charges[account] = self._charges.get(account, 0) + charge
        self.reserved_bytes += size
        self.reserved_charge += charge
        return upload_id

    def deadline_of(self, size: int, now_ms: int) -> int:
        """When an upload of `size` bytes begun at `now_ms` is stalled whatever it sends."""
        limits = self.limits
        return now_ms + limits.stall_grace_ms + -(-size * 1000 // limits.min_bytes_per_s)

    def remove(self, upload_id: str) -> Upload | None:
        """Drop an upload and its reservation; the upload, or None if there was none."""
        upload = self._uploads.pop(upload_id, None)
        if upload is None:
            return None
        account = upload.account
        self._count[account] -= 1
        self._bytes[account] -= upload.size
        self._charges[account] -= upload.charge
        if not self._count[account]:
            del self._count[account], self._bytes[account], self._charges[account]
        self.reserved_bytes -= upload.size
        self.reserved_charge -= upload.charge
        return upload

    def expire_idle(self, now_ms: int) -> int:
        """Drop uploads idle for longer than `upload_idle_ms`; how many were dropped."""
        idle = [
            upload_id
            for upload_id, upload in self._uploads.items()
            if now_ms - upload.progress_ms > self.limits.upload_idle_ms
        ]
        for upload_id in idle:
            self.remove(upload_id)
        return len(idle)

    def behind_by(self, upload: Upload, now_ms: int) -> int:
        """How stalled an upload is: 0 if on schedule, else how many bytes (or, if idle or past
        its deadline, more than any byte count) it is behind."""
        if now_ms > upload.deadline_ms:
            return 2**63 + now_ms - upload.deadline_ms
        if now_ms - upload.progress_ms > self.limits.stall_idle_ms:
            return 2**62 + now_ms - upload.progress_ms
        elapsed = now_ms - upload.begun_ms - self.limits.stall_grace_ms
        if elapsed <= 0:
            return 0
        due = min(upload.size, elapsed * self.limits.min_bytes_per_s // 1000)
        return max(0, due - upload.received_bytes)

    def drop_stalled_until(
        self, fits: Callable[[], bool], now_ms: int, *, account: bytes | None = None
    ) -> bool:
        """Drop stalled uploads (only `account`'s, if given), the most behind first, until
        `fits()`; whether it then fits."""
        if fits():
            return True
        # The most behind first; among equals the oldest (so the order does not hang on ids).
        stalled = sorted(
            (
                (-behind, upload.begun_ms, order, upload_id)
                for order, (upload_id, upload) in enumerate(self._uploads.items())
                if (account is None or upload.account == account)
                and (behind := self.behind_by(upload, now_ms)) > 0
            )
        )
        for *_, upload_id in stalled:
            self.remove(upload_id)
            self.dropped_stalled += 1
            if fits():
                return True
        return False
