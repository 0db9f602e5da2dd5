"""The time a reader takes to fetch a whole result, as `xpl job result` does: one leaf a request
(blob_get, as before blob_getLeaves) against runs of leaves a request (blob_getLeaves).

A blob of `leaves` leaves of `leaf_bytes` each (a gemm_i8 result cut into small tiles) is put in
a blob store; a real RPC server (`chain.service.rpc.transport.RpcServer`, its default limits)
serves the blob methods on 127.0.0.1 from a trio thread, and a real `RpcClient` reads the blob
over HTTP both ways, every leaf checked against the root either way. Each way runs `repeats`
times, alternating, so both see the same load; the figures are the fastest and slowest runs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final

import trio

from chain.client.blobs import fetch_leaf, fetch_leaves
from chain.client.rpc import RpcClient
from chain.service.blob_grants import UploadGate
from chain.service.rpc.blob import add_blob_methods
from chain.service.rpc.registry import RpcMethods
from chain.service.rpc.transport import RpcServer
from chain.storage.blobs import BlobStore
from chain.storage.chain_store import ChainStore
from chain.storage.kv import MemoryStore

MODES: Final = ("one_leaf", "batched")


@dataclass(frozen=True)
class FetchFigures:
    """Fetching the whole blob one way."""

    mode: str
    leaves: int
    leaf_bytes: int
    requests: int
    best_seconds: float
    worst_seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Counting:
    """An RpcClient that counts its requests."""

    def __init__(self, rpc: RpcClient) -> None:
        self.rpc = rpc
        self.requests = 0

    def call(self, method: str, *params: object) -> Any:
        self.requests += 1
        return self.rpc.call(method, *params)


def _serve(blobs: BlobStore) -> tuple[int, Callable[[], None]]:
    """Serve the blob methods over `blobs` on a free port; the port and a function to stop."""
    methods = RpcMethods()
    add_blob_methods(methods, blobs, lambda: 0, UploadGate(ChainStore(MemoryStore())))
    server = RpcServer(methods, host="127.0.0.1", port=0)
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        state["token"] = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            state["nursery"] = nursery
            state["port"] = await nursery.start(server.serve)
            ready.set()

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the RPC server did not start")

    def stop() -> None:
        state["token"].run_sync_soon(state["nursery"].cancel_scope.cancel)
        thread.join(10)

    return int(state["port"]), stop


def run_result_fetch_benchmark(
    *, leaves: int = 4096, leaf_bytes: int = 2048, repeats: int = 3
) -> list[FetchFigures]:
    """Both ways of fetching a `leaves`-leaf blob, `repeats` times each, alternating."""
    blobs = BlobStore(MemoryStore())
    data = [os.urandom(leaf_bytes) for _ in range(leaves)]
    root = blobs.store_leaves(data).root
    port, stop = _serve(blobs)
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    requests: dict[str, int] = {}
    try:
        with RpcClient(f"http://127.0.0.1:{port}/") as rpc:
            for _ in range(repeats):
                for mode in MODES:
                    counting = _Counting(rpc)
                    started = time.perf_counter()
                    if mode == "one_leaf":
                        got = [fetch_leaf(counting, root, i) for i in range(leaves)]
                    else:
                        got = fetch_leaves(counting, root, leaves)
                    times[mode].append(time.perf_counter() - started)
                    requests[mode] = counting.requests
                    if got != data:
                        raise AssertionError(f"{mode}: the leaves fetched differ")
    finally:
        stop()
    return [
        FetchFigures(mode, leaves, leaf_bytes, requests[mode], min(times[mode]), max(times[mode]))
        for mode in MODES
    ]
