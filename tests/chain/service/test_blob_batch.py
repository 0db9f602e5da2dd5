"""blob_getLeaves over a real blob store: runs of leaves with one range proof, its bounds, the
client's use of it (a handful of requests for a 4,096-leaf result, the one-leaf path where the
node cannot batch) and a lying node caught by the client."""

from __future__ import annotations

import inspect
import json
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.client.blobs import BlobVerificationError, download_blob, fetch_leaves
from chain.client.rpc import RpcClientError
from chain.service.blob_grants import UploadGate
from chain.service.blob_protocol import BlobLeaf
from chain.service.rpc import blob as blob_rpc
from chain.service.rpc.blob import MAX_BATCH_LEAVES, add_blob_methods
from chain.service.rpc.errors import BLOB_ERROR, INVALID_PARAMS, RpcError
from chain.service.rpc.registry import Method, RpcMethods
from chain.storage.blobs import BlobStore
from chain.storage.chain_store import ChainStore
from chain.storage.kv import MemoryStore
from runtime.primitives.hashing import from_hex, to_hex
from runtime.primitives.merkle import leaf_hash
from runtime.primitives.merkle_range import verify_range_proof

Tamper = Callable[[str, dict[str, Any]], None]


class Node:
    """The blob methods over a real blob store, called as a client calls them: JSON in and out,
    RpcError answered as the client's RpcClientError; `calls` counts the requests."""

    def __init__(self, *, peer: BlobStore | None = None, batching: bool = True) -> None:
        self.blobs = BlobStore(MemoryStore())
        self.methods = RpcMethods()
        self.batching = batching
        self.tamper: Tamper | None = None
        self.calls: Counter[str] = Counter()

        async def from_peer(root: bytes, index: int) -> BlobLeaf | None:
            assert peer is not None
            info = peer.info(root)
            if info is None:
                return None
            leaf, proof = peer.leaf(root, index)
            return BlobLeaf(leaf, tuple(proof), info.leaf_count, info.size)

        gate = UploadGate(ChainStore(MemoryStore()))
        add_blob_methods(
            self.methods, self.blobs, lambda: 0, gate, None if peer is None else from_peer
        )

    def call(self, method: str, *params: object) -> Any:
        self.calls[method] += 1
        entry = self.methods.lookup(method)
        if not isinstance(entry, Method) or (method == "blob_getLeaves" and not self.batching):
            raise RpcClientError(-32601, f"Method not found: {method}")
        args = json.loads(json.dumps(list(params)))
        try:
            if inspect.iscoroutinefunction(entry.handler):
                answer = trio.run(entry.handler, args)
            else:
                answer = entry.handler(args)
        except RpcError as exc:
            raise RpcClientError(exc.code, exc.message, exc.data) from exc
        answer = json.loads(json.dumps(answer))
        if self.tamper is not None:
            self.tamper(method, answer)
        return answer


def refused(node: Node, *params: object) -> RpcClientError:
    with pytest.raises(RpcClientError) as caught:
        node.call("blob_getLeaves", *params)
    return caught.value


def stored(node: Node, count: int, size: int = 100) -> tuple[bytes, list[bytes]]:
    leaves = [os.urandom(size) for _ in range(count)]
    return node.blobs.store_leaves(leaves).root, leaves


def test_a_run_comes_with_one_range_proof_that_verifies() -> None:
    node = Node()
    root, leaves = stored(node, 37)
    answer = node.call("blob_getLeaves", to_hex(root), 5, 20)
    assert (answer["start"], answer["count"], answer["leafCount"]) == (5, 20, 37)
    got = [from_hex(leaf) for leaf in answer["leaves"]]
    assert got == leaves[5:25]
    proof = [from_hex(node, length=32) for node in answer["proof"]]
    assert len(proof) <= 2 * 6
    verify_range_proof(root, [leaf_hash(leaf) for leaf in got], 5, 37, proof)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 80), st.data())
def test_any_run_of_any_blob_is_served_as_stored_and_proven(count: int, data: Any) -> None:
    node = Node()
    root, leaves = stored(node, count, size=data.draw(st.integers(0, 40)))
    start = data.draw(st.integers(0, count - 1))
    asked = data.draw(st.integers(1, count + 5))
    answer = node.call("blob_getLeaves", to_hex(root), start, asked)
    got = [from_hex(leaf) for leaf in answer["leaves"]]
    assert got == leaves[start : start + asked] and answer["count"] == len(got)
    proof = [from_hex(node, length=32) for node in answer["proof"]]
    verify_range_proof(root, [leaf_hash(leaf) for leaf in got], start, count, proof)


def test_bounds_are_refused_by_name_and_an_over_limit_count_is_clipped() -> None:
    node = Node()
    root, leaves = stored(node, MAX_BATCH_LEAVES + 10, size=8)
    zero = refused(node, to_hex(root), 0, 0)
    assert zero.code == INVALID_PARAMS and "count" in zero.message
    past = refused(node, to_hex(root), len(leaves), 1)
    assert past.code == BLOB_ERROR and past.data == {"kind": "out_of_range"}
    assert f"has {len(leaves)} leaves" in past.message
    unknown = refused(node, "0x" + "ab" * 32, 0, 1)
    assert unknown.code == BLOB_ERROR and unknown.data == {"kind": "unknown_blob"}
    negative = refused(node, to_hex(root), -1, 1)
    assert negative.code == INVALID_PARAMS and "start" in negative.message
    clipped = node.call("blob_getLeaves", to_hex(root), 3, 10**9)
    assert clipped["count"] == MAX_BATCH_LEAVES == len(clipped["leaves"])
    tail = node.call("blob_getLeaves", to_hex(root), MAX_BATCH_LEAVES, 10**9)
    assert tail["count"] == 10 and [from_hex(x) for x in tail["leaves"]] == leaves[-10:]


def test_the_byte_bound_cuts_a_run_and_a_leaf_over_it_comes_by_the_one_leaf_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(blob_rpc, "MAX_BATCH_BYTES", 1000)
    node = Node()
    sizes = [300, 300, 300, 300, 1500, 10, 10]
    leaves = [os.urandom(size) for size in sizes]
    root = node.blobs.store_leaves(leaves).root
    first = node.call("blob_getLeaves", to_hex(root), 0, 100)
    assert first["count"] == 3  # 900 bytes; a fourth leaf would pass 1,000
    big = node.call("blob_getLeaves", to_hex(root), 4, 100)
    assert big["count"] == 0 and big["leaves"] == [] and big["proof"] == []
    node.calls.clear()
    assert fetch_leaves(node, root, part_bytes=400) == leaves
    assert node.calls["blob_getLeaves"] == 4  # [0,3) [3] [4]: none, then [5,7)
    assert node.calls["blob_get"] == 4  # leaf 4 in 400-byte ranges


def test_a_4096_leaf_result_takes_a_handful_of_requests() -> None:
    node = Node()
    root, leaves = stored(node, 4096, size=64)
    progress: list[tuple[int, int]] = []
    got = fetch_leaves(
        node, root, 4096, progress=lambda done, total: progress.append((done, total))
    )
    assert got == leaves
    assert node.calls == Counter({"blob_getLeaves": 4})
    assert progress == [(1024, 4096), (2048, 4096), (3072, 4096), (4096, 4096)]


def test_a_node_without_the_method_or_a_blob_only_at_peers_falls_back_to_one_leaf() -> None:
    old = Node(batching=False)
    root, leaves = stored(old, 9)
    assert download_blob(old, root) == b"".join(leaves)
    assert old.calls["blob_get"] == 9
    peer = BlobStore(MemoryStore())
    root = peer.store_leaves(leaves).root
    node = Node(peer=peer)
    assert refused(node, to_hex(root), 0, 9).data == {"kind": "unknown_blob"}
    node.calls.clear()
    assert fetch_leaves(node, root, 9) == leaves
    assert node.calls == Counter({"blob_getLeaves": 1, "blob_get": 9})
    assert node.blobs.info(root) is None  # read for the reader, not stored


def _flip(hex_text: str) -> str:
    raw = bytearray(from_hex(hex_text))
    raw[-1] ^= 1
    return to_hex(bytes(raw))


LIES: dict[str, Tamper] = {
    "a leaf altered": lambda m, a: a["leaves"].__setitem__(3, _flip(a["leaves"][3])),
    "a proof node altered": lambda m, a: a["proof"].__setitem__(0, _flip(a["proof"][0])),
    "a proof node dropped": lambda m, a: a["proof"].pop(),
    "a proof node added": lambda m, a: a["proof"].append(a["proof"][0]),
    "a leaf dropped, count kept": lambda m, a: a["leaves"].pop(),
    "a leaf dropped, count lowered": lambda m, a: (
        a["leaves"].pop(),
        a.update(count=a["count"] - 1),
    ),
    "another start": lambda m, a: a.update(start=a["start"] + 1),
    "another leaf count": lambda m, a: a.update(leafCount=a["leafCount"] + 1),
    "two leaves swapped": lambda m, a: a["leaves"].reverse(),
}


@pytest.mark.parametrize("lie", sorted(LIES))
def test_a_lying_node_is_caught(lie: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blob_rpc, "MAX_BATCH_LEAVES", 16)  # runs with proofs: [0, 16), ...
    node = Node()
    root, leaves = stored(node, 50)
    tamper = LIES[lie]

    def on_batches(method: str, answer: dict[str, Any]) -> None:
        if method == "blob_getLeaves" and answer["count"]:
            tamper(method, answer)

    assert fetch_leaves(node, root) == leaves  # honest: 4 runs
    node.tamper = on_batches
    with pytest.raises(BlobVerificationError):
        fetch_leaves(node, root)
    with pytest.raises(BlobVerificationError):
        fetch_leaves(node, root, 50)


def test_the_fetch_benchmark_reads_a_result_both_ways_over_http() -> None:
    from chain.benchmarks.result_fetch_bench import run_result_fetch_benchmark

    one, batched = run_result_fetch_benchmark(leaves=40, leaf_bytes=16, repeats=1)
    assert (one.mode, one.requests) == ("one_leaf", 40)
    assert (batched.mode, batched.requests) == ("batched", 1)


def test_a_result_read_from_a_lying_node_is_refused_as_not_the_committed_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    from chain.client.jobs import results
    from chain.client.jobs.errors import ResultDataError

    monkeypatch.setattr(blob_rpc, "MAX_BATCH_LEAVES", 16)
    node = Node()
    root, leaves = stored(node, 50)
    view = SimpleNamespace(id=7, job=SimpleNamespace(result_root=root, leaves=50))
    monkeypatch.setattr(results, "require_job", lambda client, job_id: view)
    client: Any = SimpleNamespace(rpc=node)
    assert results.fetch_result(client, 7).leaves == leaves
    assert node.calls["blob_getLeaves"] == 4
    node.tamper = LIES["a leaf altered"]
    with pytest.raises(ResultDataError, match="job 7 that does not match the committed root"):
        results.fetch_result(client, 7)
    view.job.leaves = 51  # a chain that says 51 leaves: the node's 50 are not that result
    node.tamper = None
    with pytest.raises(ResultDataError, match="51 leaves"):
        results.fetch_result(client, 7)
