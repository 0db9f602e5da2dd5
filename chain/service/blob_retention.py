"""Keeping the node's blobs to what something references: the sweep that binds the blobs open
jobs name and deletes the others after the retention period, the settings behind the
`--blob-*` flags, and the blob metrics.

A blob is referenced while a job on the best chain that is still open (pending, matched or
committed) names it as an input or as its committed result, or while a live version of a
registered model names it as its weights (`models.live_weights`: a model is uploaded once and
kept for as long as its version is live; its owner holds a deposit per byte for it, and retiring
the version lets it go one retention period later). An upload in progress that declares a blob
does not count. Each sweep reads the open jobs (`JobStates` keeps their ids per best block) and
hands their roots to `BlobStore.sweep`, which binds those, releases the ones no longer named, and
deletes a bounded number of blobs that nobody named for longer than the retention period. A
job's blobs therefore stay while it is open and for one retention period after it ends: the
window in which its requester downloads the result.

An account's unreferenced blobs count only while it is funded: each sweep reads the free balance
of every account that owns unreferenced blobs, and once one has held less than
`UPLOAD_MIN_BALANCE` for UNFUNDED_GRACE_MS its unreferenced blobs are deleted (at the sweep's
pace), whatever their age. So one XPL passed from account to account no longer funds a quota per
hop: the accounts it left lose their blobs a minute later.

What an attacker can still do: keep a blob for good by keeping a job open that names it, which
costs the job's escrow, fees and, while it waits, rent per block (`runtime.pallets.market.rent`);
or upload unreferenced blobs within its account's quota, which go after one retention period,
and sooner if it moves the account's balance below the minimum; holding N quotas takes N
minimum balances held (capital, not spent) for as long as the blobs are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from chain.service.blob_grants import UPLOAD_MIN_BALANCE
from chain.service.metrics import NodeMetrics
from chain.storage.blob_ledger import BLOB_RETENTION_MS, SweepResult
from chain.storage.blobs import ACCOUNT_QUOTA_BYTES, MAX_STORED_BYTES, BlobStore
from chain.storage.chain_store import ChainStore
from chain.storage.kv import KeyValueStore
from runtime import api as runtime_api
from runtime.block import Header
from runtime.pallets import market, models
from runtime.state import StateOverlay

log = logging.getLogger("xpl.blobs")

SWEEP_INTERVAL_MS: Final = 10_000
"""How often (at the next best block after it) the node sweeps its blobs."""
UNFUNDED_GRACE_MS: Final = 60_000
"""How long an account may hold less than the upload minimum before its unreferenced blobs go:
long enough for a transfer that tops it up again."""


@dataclass(frozen=True, slots=True)
class BlobSettings:
    """The node's blob limits (`xpl node --blob-max-bytes --blob-account-bytes
    --blob-retention`)."""

    max_stored_bytes: int = MAX_STORED_BYTES
    account_quota_bytes: int = ACCOUNT_QUOTA_BYTES
    retention_ms: int = BLOB_RETENTION_MS

    def open(self, kv: KeyValueStore) -> BlobStore:
        """The node's blob store in `kv`, with these limits."""
        return BlobStore(
            kv,
            max_stored_bytes=self.max_stored_bytes,
            account_quota_bytes=self.account_quota_bytes,
            retention_ms=self.retention_ms,
        )


DEFAULT_BLOB_SETTINGS: Final = BlobSettings()
"""The limits a node runs with unless its flags say otherwise."""


def referenced_roots(store: ChainStore, block_hash: bytes, open_jobs: Iterable[int]) -> set[bytes]:
    """The blob roots that the open jobs `open_jobs` name in the state after `block_hash` (their
    uploaded inputs and committed results), and the weights of the live model versions."""
    state = StateOverlay(store.reader(block_hash))
    roots = models.live_weights(state)
    for job_id in open_jobs:
        job = market.Jobs.get(state, job_id)
        if job is None:
            continue
        roots.update(root for _, root in job.inputs if root)
        if job.result_root:
            roots.add(job.result_root)
    return roots


class BlobRetention:
    """Sweeps the node's blobs every SWEEP_INTERVAL_MS of best blocks, and publishes their
    metrics."""

    def __init__(
        self,
        blobs: BlobStore,
        store: ChainStore,
        open_jobs: Callable[[], Iterable[int]],
        clock: Callable[[], int],
        *,
        interval_ms: int = SWEEP_INTERVAL_MS,
        min_balance: int = UPLOAD_MIN_BALANCE,
        unfunded_grace_ms: int = UNFUNDED_GRACE_MS,
    ) -> None:
        self.blobs = blobs
        self.store = store
        self.open_jobs = open_jobs
        """The ids of the jobs open at the best block (`JobStates.states`)."""
        self.clock = clock
        self.interval_ms = interval_ms
        self.min_balance = min_balance
        self.unfunded_grace_ms = unfunded_grace_ms
        self._last_ms: int | None = None
        self._unfunded_since: dict[bytes, int] = {}

    def on_best_block(self, header: Header) -> None:
        """Sweep if the last sweep is SWEEP_INTERVAL_MS old (a block listener)."""
        now = self.clock()
        if self._last_ms is not None and now - self._last_ms < self.interval_ms:
            return
        self._last_ms = now
        self.sweep(header.hash)

    def sweep(self, block_hash: bytes) -> SweepResult:
        """One sweep against the open jobs at `block_hash`."""
        if self.blobs.disk is not None:  # made again once a fault's recovery leaves room
            self.blobs.disk.ensure_reserve_file()
        roots = referenced_roots(self.store, block_hash, self.open_jobs())
        now = self.clock()
        result = self.blobs.sweep(now, roots, unfunded=self.unfunded(block_hash, now))
        if result.deleted:
            log.info(
                "deleted %d unreferenced blobs (%d bytes) kept past the retention period",
                len(result.deleted),
                result.freed_bytes,
            )
        return result

    def unfunded(self, block_hash: bytes, now_ms: int) -> frozenset[bytes]:
        """The owners of unreferenced blobs that have held less than the minimum balance, in the
        state after `block_hash`, for at least the grace."""
        reader = self.store.reader(block_hash)
        since: dict[bytes, int] = {}
        for owner in self.blobs.ledger.owners():
            if runtime_api.account_info(reader, owner).free < self.min_balance:
                since[owner] = self._unfunded_since.get(owner, now_ms)
        self._unfunded_since = since
        return frozenset(o for o, t in since.items() if now_ms - t >= self.unfunded_grace_ms)

    def publish(self, metrics: NodeMetrics) -> None:
        """Copy the blob store's figures into the metrics (before each scrape)."""
        blobs = self.blobs
        metrics.blob_stored_bytes.set(blobs.stored_bytes)
        metrics.blob_limit_bytes.set(blobs.max_stored_bytes)
        metrics.blobs_stored.set(len(blobs.ledger))
        metrics.blob_uploads.set(blobs.uploads_in_progress)
        metrics.blob_reserved_bytes.set(blobs.reserved_bytes)
        metrics.blobs_deleted.set(blobs.deleted_blobs)
        metrics.blob_uploads_dropped.set(blobs.uploads.dropped_stalled)
