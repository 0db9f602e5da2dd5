"""The node on its chain's network: the core's messages carried over `p2p.Network`, and what
peers send handed to the core.

`NodeNetwork` is the network's handler (`p2p.handler.NetworkHandler`): a peer connecting or
leaving, a gossip message (the core's verdict decides whether the network relays it) and a request
all go to the core, and what the core then asks for (`chain.core.actions`) is carried out by the
node service, which hands the network part back here: gossip is published, requests are sent in
their own tasks (the answer, or the failure, goes back to the core), and reports lower peers'
scores. The blob protocol is answered here, from the node's blob store, and `fetch_blob_leaf`
asks peers for job data this node lacks.

Everything runs on the node's trio thread, like the rest of the service.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

import trio

from chain.client.blob_info import MAX_BLOB_BYTES, BlobInfo
from chain.core.actions import ReportPeer, SendRequest
from chain.core.messages import (
    MAX_GOSSIP_BYTES,
    MAX_JUSTIFICATION_BYTES,
    MAX_SYNC_BLOCKS,
    PROTOCOL_BLOB,
    PROTOCOL_CATCH_UP,
    PROTOCOL_NEIGHBOUR,
    PROTOCOL_STATUS,
    PROTOCOL_SYNC,
    SYNC_RESPONSE_BYTES,
    TOPIC_BLOCKS,
    TOPIC_FINALITY,
    TOPIC_TRANSACTIONS,
)
from chain.core.node import RequestRefused
from chain.core.voter_messages import Verdict
from chain.service.blob_protocol import (
    BLOB_REQUEST_BYTES,
    BLOB_RESPONSE_BYTES,
    BlobLeaf,
    decode_blob_leaf,
    decode_blob_request,
    encode_blob_leaf,
    encode_blob_request,
)
from chain.service.interfaces import NetworkHost
from chain.storage.blobs import BlobError
from chain.storage.kv import StoreError
from p2p.config import NetworkConfig, RequestLimits, TopicLimits, protocol_prefix_for
from p2p.errors import MessageTooLarge, RequestFailed, UnknownTopic
from p2p.errors import RequestRefused as P2pRequestRefused
from p2p.handler import GossipVerdict
from p2p.network import Network
from runtime.block import MAX_BLOCK_SIZE
from runtime.primitives.codec import DecodeError
from runtime.primitives.merkle import MerkleProofError, merkle_root, verify_merkle_proof

log = logging.getLogger("xpl.network")

BLOB_FETCH_CONCURRENCY: Final = 8
"""Leaves of one blob asked for at once: a whole-blob fetch runs in batches of this many tasks,
so a blob of many leaves never starts one task per leaf."""
BLOB_FETCH_IN_FLIGHT_BYTES: Final = 2 * MAX_BLOB_BYTES
"""What the whole-blob fetches in progress may declare in all (they are buffered in memory, then
stored): two of the largest blobs. A fetch past it is refused (the check reads as unavailable)."""

TOPIC_LIMITS: Final = {
    TOPIC_BLOCKS: TopicLimits(MAX_GOSSIP_BYTES, 40.0, 16 * 1024 * 1024),
    TOPIC_TRANSACTIONS: TopicLimits(MAX_GOSSIP_BYTES, 400.0, 32 * 1024 * 1024),
    TOPIC_FINALITY: TopicLimits(MAX_GOSSIP_BYTES, 400.0, 8 * 1024 * 1024),
}
"""What a node accepts from each peer (relayed traffic included): generous for honest networks
of tens of nodes, a bound on what one peer can make this node do."""

REQUEST_LIMITS: Final = {
    PROTOCOL_STATUS: RequestLimits(64, 1024, timeout=5.0, max_requests_per_second=5.0),
    PROTOCOL_SYNC: RequestLimits(
        256,
        SYNC_RESPONSE_BYTES + MAX_BLOCK_SIZE + MAX_JUSTIFICATION_BYTES + MAX_SYNC_BLOCKS * 512,
        timeout=30.0,
        max_concurrent_per_peer=2,
        max_requests_per_second=10.0,
    ),
    PROTOCOL_CATCH_UP: RequestLimits(64, 1024 * 1024, timeout=10.0, max_requests_per_second=2.0),
    PROTOCOL_NEIGHBOUR: RequestLimits(64, 64, timeout=5.0, max_requests_per_second=2.0),
    PROTOCOL_BLOB: RequestLimits(
        BLOB_REQUEST_BYTES,
        BLOB_RESPONSE_BYTES,
        timeout=15.0,
        max_concurrent_per_peer=8,
        max_requests_per_second=200.0,
    ),
}

_VERDICTS: Final = {
    Verdict.ACCEPT: GossipVerdict.ACCEPT,
    Verdict.IGNORE: GossipVerdict.IGNORE,
    Verdict.REJECT: GossipVerdict.REJECT,
}


def network_config(
    genesis_hash: bytes,
    node_key: bytes,
    *,
    listen_host: str = "127.0.0.1",
    port: int = 30333,
    bootnodes: Sequence[str] = (),
    reserved_peers: Sequence[str] = (),
) -> NetworkConfig:
    """The network configuration every node of the chain with this genesis uses."""
    return NetworkConfig(
        node_key=node_key,
        protocol_prefix=protocol_prefix_for(genesis_hash),
        topics=TOPIC_LIMITS,
        request_protocols=REQUEST_LIMITS,
        listen_host=listen_host,
        port=port,
        bootnodes=tuple(bootnodes),
        reserved_peers=tuple(reserved_peers),
    )


class NodeNetwork:
    """The network handler of one node, and the carrier of its core's messages."""

    def __init__(self, service: NetworkHost, config: NetworkConfig) -> None:
        self.service = service
        self.network = Network(config, self)
        self._nursery: trio.Nursery | None = None
        self._fetching: dict[bytes, trio.Event] = {}
        self._fetching_bytes = 0
        """The declared sizes of the whole-blob fetches in progress (BLOB_FETCH_IN_FLIGHT_BYTES)."""
        self.fetched_roots: set[bytes] = set()
        """Blobs `fetch_blob` stored that this node did not hold: `drop_fetched` may delete them."""

    @property
    def peer_id(self) -> str:
        return self.network.peer_id

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the network until cancelled, in a nursery where the core's requests are sent too."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.network.run)
            task_status.started()

    # The network's handler

    def on_peer_connected(self, peer: str) -> None:
        """Hand a new peer to the core (which asks for its status) and update the peers gauge."""
        log.info("peer %s connected", peer)
        service = self.service
        service.apply(service.core.on_peer_connected(peer, service.clock()))
        service.metrics.peers.set(len(self.network.peers()))

    def on_peer_disconnected(self, peer: str) -> None:
        """Tell the core that a peer left, and update the peers gauge."""
        log.info("peer %s disconnected", peer)
        self.service.core.on_peer_disconnected(peer)
        self.service.metrics.peers.set(len(self.network.peers()))

    def on_gossip(self, peer: str, topic: str, data: bytes) -> GossipVerdict:
        """Hand a gossip message to the core and carry out its actions; the core's verdict decides
        whether it is relayed."""
        service = self.service
        verdict, actions = service.core.on_gossip(peer, topic, data, service.clock())
        service.apply(actions)
        service.metrics.gossip_received.labels(topic, verdict.value).inc()
        return _VERDICTS[verdict]

    async def on_request(self, peer: str, protocol: str, data: bytes) -> bytes:
        """Answer a peer's request: blob leaves from the blob store, the rest from the core; a
        refusal raises p2p's RequestRefused (a malformed request also costs the peer)."""
        if protocol == PROTOCOL_BLOB:
            return self._serve_blob_leaf(data)
        service = self.service
        try:
            return service.core.on_request(peer, protocol, data, service.clock())
        except DecodeError as exc:
            raise P2pRequestRefused(f"malformed {protocol} request: {exc}", cost=50) from exc
        except RequestRefused as exc:
            raise P2pRequestRefused(str(exc)) from exc

    # The core's messages

    def publish(self, topic: str, data: bytes) -> None:
        """Gossip `data` on `topic`; a refusal by the network is logged, not raised."""
        try:
            self.network.publish(topic, data)
        except (UnknownTopic, MessageTooLarge) as exc:  # a bug: the core keeps to the limits
            log.error("cannot gossip on %s: %s", topic, exc)

    def send_request(self, request: SendRequest) -> None:
        """Send the core's request in a task of its own; the answer, or None if it failed, goes back
        to the core."""
        if self._nursery is None:
            self._answer(request, None)
            return
        self._nursery.start_soon(self._request, request)

    def report(self, report: ReportPeer) -> None:
        """Lower a peer's score as the core asked, and log why."""
        log.info("peer %s: %s", report.peer, report.reason)
        self.network.report(report.peer, report.cost, report.reason)

    async def _request(self, request: SendRequest) -> None:
        try:
            answer: bytes | None = await self.network.request(
                request.peer, request.protocol, request.data
            )
        except RequestFailed as exc:
            log.debug("%s", exc)
            answer = None
        self._answer(request, answer)

    def _answer(self, request: SendRequest, answer: bytes | None) -> None:
        service = self.service
        service.apply(service.core.on_response(request.peer, request.tag, answer, service.clock()))

    # Job data

    def _serve_blob_leaf(self, data: bytes) -> bytes:
        try:
            root, index = decode_blob_request(data)
        except DecodeError as exc:
            raise P2pRequestRefused(f"malformed blob request: {exc}", cost=50) from exc
        blobs = self.service.blobs
        info = blobs.info(root)
        if info is None:
            raise P2pRequestRefused(f"blob 0x{root.hex()} is not held here")
        try:
            leaf, proof = blobs.leaf(root, index)
        except BlobError as exc:
            raise P2pRequestRefused(str(exc)) from exc
        return encode_blob_leaf(BlobLeaf(leaf, tuple(proof), info.leaf_count, info.size))

    async def fetch_blob(self, root: bytes) -> BlobInfo | None:
        """Fetch a whole blob from peers into the local blob store (for the verification of an
        open job's inputs); its info, or None if no peer has it whole, or it could never be
        stored. Concurrent calls for one root share one fetch. The blob must leave the disk's
        free-space reserve (`BlobStore.check_room`), and the fetches in progress stay within
        BLOB_FETCH_IN_FLIGHT_BYTES; the caller deletes it (`drop_fetched`) when its check ends.

        The peers are not trusted: the leaf count and size that leaf 0 declares (its proof binds
        the count to the root, not the size) must be a shape the store could hold
        (`BlobStore.check_shape`: at most MAX_LEAVES leaves, the size within the leaves and the
        blob limit) and fit the node's limit before anything else is asked for; every later leaf
        must declare the same, and the fetch stops as soon as the bytes received pass the
        declared size. What a lying peer can still cost the node: one blob's declared size (at
        most MAX_BLOB_BYTES) buffered, plus one batch of leaves, and its score.
        """
        blobs = self.service.blobs
        while root in self._fetching:
            await self._fetching[root].wait()
        info = blobs.info(root)
        if info is not None:
            return info
        done = self._fetching[root] = trio.Event()
        try:
            first = await self.fetch_blob_leaf(root, 0)
            if first is None:
                return None
            blobs.check_shape(first.leaf_count, first.size)
            blobs.check_room(first.leaf_count, first.size)
            if self._fetching_bytes + first.size > BLOB_FETCH_IN_FLIGHT_BYTES:
                log.warning(
                    "blob 0x%s (%d bytes) not fetched: fetches in progress already take %d of "
                    "%d bytes",
                    root.hex(),
                    first.size,
                    self._fetching_bytes,
                    BLOB_FETCH_IN_FLIGHT_BYTES,
                )
                return None
            self._fetching_bytes += first.size
            try:
                leaves = await self._fetch_leaves(root, first)
            finally:
                self._fetching_bytes -= first.size
            if leaves is None or merkle_root(leaves) != root:
                log.warning("blob 0x%s could not be fetched whole from peers", root.hex())
                return None
            info = blobs.store_leaves(leaves)
            self.fetched_roots.add(root)
            log.info("fetched blob 0x%s (%d leaves) from peers", root.hex()[:16], info.leaf_count)
            return info
        except BlobError as exc:
            log.warning("blob 0x%s fetched from peers cannot be stored: %s", root.hex(), exc)
            return None
        finally:
            del self._fetching[root]
            done.set()

    def drop_fetched(self, root: bytes) -> int:
        """Delete a blob `fetch_blob` stored, unless an account uploaded it here since (then it
        is the uploader's, under its quota); the bytes freed."""
        if root not in self.fetched_roots:
            return 0
        self.fetched_roots.discard(root)
        ledger = self.service.blobs.ledger
        record = ledger.get(root)
        if record is None or record.owner is not None:
            return 0
        try:
            return ledger.delete(root)
        except StoreError as exc:  # a failed write is reported by the storage fault handling
            log.warning("blob 0x%s fetched for a check could not be deleted: %s", root.hex(), exc)
            return 0

    async def _fetch_leaves(self, root: bytes, first: BlobLeaf) -> list[bytes] | None:
        """Every leaf of the blob whose leaf 0 is `first`, in batches of BLOB_FETCH_CONCURRENCY;
        None if one is missing, declares another shape, or the bytes pass the declared size."""
        count, size = first.leaf_count, first.size
        leaves: list[bytes | None] = [first.leaf] + [None] * (count - 1)
        received = len(first.leaf)
        failed = received > size

        async def fetch(index: int, cancel: trio.CancelScope) -> None:
            nonlocal received, failed
            found = await self.fetch_blob_leaf(root, index)
            if found is None or (found.leaf_count, found.size) != (count, size):
                failed = True
            else:
                received += len(found.leaf)
                failed = failed or received > size
                leaves[index] = found.leaf
            if failed:
                cancel.cancel()

        for start in range(1, count, BLOB_FETCH_CONCURRENCY):
            if failed:
                break
            async with trio.open_nursery() as nursery:
                for index in range(start, min(count, start + BLOB_FETCH_CONCURRENCY)):
                    nursery.start_soon(fetch, index, nursery.cancel_scope)
        complete = [leaf for leaf in leaves if leaf is not None]
        if failed or len(complete) != count or received != size:
            return None
        return complete

    async def fetch_blob_leaf(self, root: bytes, index: int) -> BlobLeaf | None:
        """Leaf `index` of blob `root` from the first peer that holds it, its proof checked."""
        request = encode_blob_request(root, index)
        for info in self.network.peers():
            try:
                answer = decode_blob_leaf(
                    await self.network.request(info.peer, PROTOCOL_BLOB, request)
                )
                verify_merkle_proof(root, answer.leaf, index, answer.leaf_count, answer.proof)
            except RequestFailed:
                continue
            except (DecodeError, MerkleProofError) as exc:
                self.network.report(info.peer, 100, f"a blob leaf that does not prove: {exc}")
                continue
            return answer
        return None
