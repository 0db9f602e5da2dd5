"""Attacks on the blob service that the upload rules do not yet stop. Each test drives the real
code (the blob RPC methods over a dev chain, the blob store, the peer fetch) and asserts what the
attacker achieves: it passes while the hole is open, and should be turned around once it is
closed."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
import trio

from chain.client.blob_info import BlobInfo, UploadGrant
from chain.client.blobs import grant_json
from chain.service.blob_grants import UploadGate
from chain.service.blob_protocol import BlobLeaf, encode_blob_leaf
from chain.service.network import NodeNetwork
from chain.service.rpc.blob import add_blob_methods
from chain.service.rpc.errors import RpcError
from chain.service.rpc.registry import Method, RpcMethods
from chain.storage.blobs import BlobStore
from p2p.errors import FailureReason, RequestFailed
from runtime.primitives import merkle
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.primitives.merkle import merkle_root
from tests.chain.service.test_blob_grants import Node

MIB = 1024 * 1024
ATTACKERS = [dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave")]
HONEST = dev_keypair("Ferdie")


class ClockedNode(Node):
    """The grant tests' dev node, with a clock the test moves."""

    def __init__(self, blocks: int, blobs: BlobStore | None = None) -> None:
        super().__init__(blocks)
        self.now_ms = 1_000
        if blobs is not None:
            self.blobs = blobs
        self.methods = RpcMethods()
        add_blob_methods(self.methods, self.blobs, lambda: self.now_ms, self.gate)
        self._nonce = 0

    def fresh(self, signer: Keypair, info: BlobInfo) -> UploadGrant:
        self._nonce += 1
        return self.grant(signer, nonce=self._nonce.to_bytes(16, "big"), info=info)


# ---------------------------------------------------------------------------------------------
# 1. Sixteen empty uploads, kept alive by one tiny request every 29 s, hold every slot forever


# ---------------------------------------------------------------------------------------------
# 2. An upload in progress that declares a stored blob's root pins it: never deleted, off quota


def _upload(blobs: BlobStore, account: bytes, leaves: list[bytes], now_ms: int) -> bytes:
    root = merkle_root(leaves)
    upload_id = blobs.begin(
        len(leaves), sum(map(len, leaves)), account=account, root=root, now_ms=now_ms
    )
    blobs.put(upload_id, 0, leaves, now_ms=now_ms)
    return blobs.finish(upload_id, now_ms=now_ms).root


# ---------------------------------------------------------------------------------------------
# Peer fetch: what a stranger gets by asking `blob_info` for roots a peer of its own serves


class FakePeers:
    """The `p2p.Network` a NodeNetwork asks: one peer that serves `serve(root, index)`."""

    def __init__(self, serve: Any) -> None:
        self.serve = serve
        self.requests = 0

    def peers(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(peer="attacker")]

    async def request(self, peer: str, protocol: str, data: bytes) -> bytes:
        from chain.service.blob_protocol import decode_blob_request

        self.requests += 1
        root, index = decode_blob_request(data)
        answer = self.serve(root, index)
        if answer is None:
            raise RequestFailed(peer, protocol, FailureReason.REFUSED, "not held")
        return answer

    def report(self, peer: str, cost: int, reason: str) -> None:
        pass


def fetcher(blobs: BlobStore, peers: FakePeers) -> NodeNetwork:
    network = object.__new__(NodeNetwork)
    network.service = SimpleNamespace(blobs=blobs)  # type: ignore[assignment]
    network.network = peers  # type: ignore[assignment]
    network._fetching = {}
    return network


def rpc_over(blobs: BlobStore, network: NodeNetwork) -> RpcMethods:
    methods = RpcMethods()
    add_blob_methods(methods, blobs, lambda: 1_000, UploadGate(None), network.fetch_blob)  # type: ignore[arg-type]
    return methods


def call_async(methods: RpcMethods, name: str, *params: Any) -> Any:
    entry = methods.lookup(name)
    assert isinstance(entry, Method)
    return trio.run(entry.handler, list(params))


def real_blob_server(blobs_by_root: dict[bytes, list[bytes]]) -> Any:
    def serve(root: bytes, index: int) -> bytes | None:
        leaves = blobs_by_root.get(root)
        if leaves is None or index >= len(leaves):
            return None
        proof = tuple(merkle.merkle_proof(leaves, index))
        return encode_blob_leaf(BlobLeaf(leaves[index], proof, len(leaves), sum(map(len, leaves))))

    return serve


def _fake_first_leaf(leaf: bytes, leaf_count: int) -> tuple[bytes, tuple[bytes, ...]]:
    """A root and a proof that `leaf` is leaf 0 of `leaf_count` leaves: a peer makes these up
    with one hash per level, whatever the count."""
    acc, proof = merkle.leaf_hash(leaf), []
    pos, width = 0, leaf_count
    while width > 1:
        if pos ^ 1 < width:
            sibling = bytes(32)
            proof.append(sibling)
            acc = merkle.node_hash(acc, sibling)
        pos //= 2
        width = (width + 1) // 2
    return merkle._bind(acc, leaf_count), tuple(proof)


# ---------------------------------------------------------------------------------------------
# 3. Grants: replay after a restart (or on another node of the chain), and unsigned CPU


def test_a_grant_replays_after_a_restart_and_charges_its_account_again() -> None:
    """The node remembers admitted nonces in memory only, and a grant names no node: within its
    64 blocks, whoever saw it (on the wire, in a proxy's log) begins the upload again on a
    restarted node, or on any other node of the chain, in the victim's name."""
    node = ClockedNode(blocks=2)
    info = BlobInfo(merkle_root([b"victim data"]), 1, 11)
    grant = node.fresh(HONEST, info)
    node.call("blob_finish", _put(node, node.begin(grant, info), b"victim data"))
    node.gate = UploadGate(node.core.store)  # the node restarts: a fresh gate over its chain
    node.methods = RpcMethods()
    add_blob_methods(node.methods, node.blobs, lambda: node.now_ms, node.gate)
    replayed = node.begin(grant, info)  # the same grant, accepted again
    assert node.blobs.uploads.count_of(HONEST.public) == 1
    assert node.blobs.uploads.get(replayed).account == HONEST.public  # type: ignore[union-attr]


def _put(node: ClockedNode, upload_id: str, data: bytes) -> str:
    node.call("blob_put", upload_id, 0, [to_hex(data)])
    return upload_id


def test_a_stranger_makes_the_node_verify_signatures_for_free() -> None:
    """With no account at all, a grant naming a fresh key and a recent block reaches the Ed25519
    check (the account's balance is read after it); refused grants are not remembered, so the
    same request can be sent again and again."""
    node = ClockedNode(blocks=2)
    info = BlobInfo(bytes(32), 1, 1)
    stranger = Keypair.from_seed(b"\x33" * 32)
    bad = UploadGrant(stranger.public, node.core.store.best_hash, b"\x01" * 16, b"\x02" * 64)
    body = grant_json(bad)
    rounds = 2_000
    started = time.perf_counter()
    for _ in range(rounds):
        with pytest.raises(RpcError) as caught:
            node.call("blob_begin", 1, 1, to_hex(info.root), body)
        assert caught.value.data == {"kind": "bad_signature"}
    per_call_us = (time.perf_counter() - started) / rounds * 1e6
    print(f"unsigned blob_begin reaching the signature check: {per_call_us:.0f} us each")
    assert per_call_us > 0


# ---------------------------------------------------------------------------------------------
# 4. The ledger in memory: tiny blobs cost the node more RAM than they are charged


# ---------------------------------------------------------------------------------------------
# Help for the figures above


# ---------------------------------------------------------------------------------------------
# 5. blob_get cycling over five largest-leaf-count blobs rebuilds a whole tree per call


# ---------------------------------------------------------------------------------------------
# 6. The attacker fills the free slots, then its next begin drops an honest slow upload


# ---------------------------------------------------------------------------------------------
# 7. One XPL, passed on from account to account, funds every sybil's quota in turn
