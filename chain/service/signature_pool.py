"""Signature checking in parallel processes, overlapping the block's execution.

The runtime asks for a block's signatures to be checked before it executes the block and reads
the answers after: with a `ProcessVerifier`, worker processes check them while the main process
executes, and a bad signature still fails the whole block before anything is written.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Final

from runtime.primitives.keys import verify

_ITEM: Final = 32 + 32 + 64
MIN_PARALLEL: Final = 64
"""Fewer signatures than this are checked in-process: shipping them costs more than checking."""


def _check_chunk(blob: bytes) -> bytes:
    """Worker side: one byte per (public key ‖ message ‖ signature) item, 1 if valid."""
    out = bytearray(len(blob) // _ITEM)
    for i in range(len(out)):
        item = blob[i * _ITEM : (i + 1) * _ITEM]
        out[i] = verify(item[:32], item[32:64], item[64:])
    return bytes(out)


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

    def submit(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> Callable[[], list[bool]]:
        """Start checking `items` across the workers (in this process if there are few, or any is
        malformed); the returned function waits for one result per item."""
        if len(items) < MIN_PARALLEL:
            results = [verify(pk, msg, sig) for pk, msg, sig in items]
            return lambda: results
        for pk, msg, sig in items:
            if len(pk) != 32 or len(msg) != 32 or len(sig) != 64:
                results = [verify(p, m, s) for p, m, s in items]
                return lambda: results
        chunks = self.workers * 2
        size = -(-len(items) // chunks)
        futures: list[Future[bytes]] = []
        for start in range(0, len(items), size):
            blob = b"".join(pk + msg + sig for pk, msg, sig in items[start : start + size])
            futures.append(self._pool.submit(_check_chunk, blob))

        def collect() -> list[bool]:
            return [bool(b) for future in futures for b in future.result()]

        return collect

    def close(self) -> None:
        """Shut the worker processes down, cancelling the checks not yet started."""
        self._pool.shutdown(wait=True, cancel_futures=True)
