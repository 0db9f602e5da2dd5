"""Signature checking in parallel processes, overlapping the block's execution.

The runtime asks for a block's signatures to be checked before it executes the block and reads
the answers after: with a `ProcessVerifier`, worker processes check them while the main process
executes, and a bad signature still fails the whole block before anything is written. A block
refused during its execution (an extrinsic that cannot pay its fee, say) cancels the checks not
yet started, so the cheap checks still decide first what the expensive ones cost.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import chain
from typing import Final

from runtime.executive import DeferredSignatures, PendingSignatures
from runtime.primitives.keys import verify

_ITEM: Final = 32 + 32 + 64
MIN_PARALLEL: Final = 64
"""Fewer signatures than this are checked in-process: shipping them costs more than checking."""
CHUNKS_PER_WORKER: Final = 8
"""A batch is cut into this many chunks per worker: a refused block's checks are cancelled a
chunk at a time, so about `workers + 1` chunks' checks are made for nothing (the ones already
handed to the workers)."""
MIN_CHUNK: Final = 32
"""No chunk is smaller: shipping a chunk costs about as much as checking this many."""


def _check_chunk(blob: bytes) -> bytes:
    """Worker side: one byte per (public key ‖ message ‖ signature) item, 1 if valid."""
    out = bytearray(len(blob) // _ITEM)
    for i in range(len(out)):
        item = blob[i * _ITEM : (i + 1) * _ITEM]
        out[i] = verify(item[:32], item[32:64], item[64:])
    return bytes(out)


class ChecksInWorkers:
    """A batch's chunks handed to the worker processes."""

    def __init__(self, futures: list[Future[bytes]]) -> None:
        self._futures = futures
        self.cancelled = 0
        """Chunks cancelled before a worker took them."""

    def __call__(self) -> list[bool]:
        return [bool(b) for future in self._futures for b in future.result()]

    def cancel(self) -> None:
        """Cancel the chunks no worker has taken yet."""
        self.cancelled += sum(future.cancel() for future in self._futures)


class ProcessVerifier:
    """Checks signatures in `workers` processes; close it when done."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("at least one verification worker")
        self.workers = workers
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )
        # Start the workers now rather than inside the first block's import.
        for future in [self._pool.submit(_check_chunk, b"") for _ in range(workers)]:
            future.result()

    def submit(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> PendingSignatures:
        """Start checking `items` across the workers (if there are few, or any is malformed, they
        are left to be checked in this process when the results are asked for)."""
        if len(items) < MIN_PARALLEL:
            return DeferredSignatures(items)
        for pk, msg, sig in items:
            if len(pk) != 32 or len(msg) != 32 or len(sig) != 64:
                return DeferredSignatures(items)
        size = max(MIN_CHUNK, -(-len(items) // (self.workers * CHUNKS_PER_WORKER)))
        futures: list[Future[bytes]] = []
        for start in range(0, len(items), size):
            # Every item is 32 + 32 + 64 bytes (checked above): joined flat, with no per-item copy.
            blob = b"".join(chain.from_iterable(items[start : start + size]))
            futures.append(self._pool.submit(_check_chunk, blob))
        return ChecksInWorkers(futures)

    def close(self) -> None:
        """Shut the worker processes down, cancelling the checks not yet started."""
        self._pool.shutdown(wait=True, cancel_futures=True)
