"""What the node service's parts need of the running node, each as a narrow typed interface.

`chain.service.node.NodeService` is the running node; the network glue (`chain.service.network`) and
the validators' verification service (`chain.service.verification`) depend only on the few members
listed here, not on the service, so that the service can build them without either importing it.
Their `core` is NodeCore itself: what they read of it (store, pool, sync, voter) is not narrowed
further. The RPC methods' interface is `chain.service.rpc.context.RpcNode`, whose network is
`PeerNetwork` here; the job metrics take plain callables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from chain.client.blob_info import BlobInfo
from chain.core.actions import Action
from chain.core.node import NodeCore
from chain.service.blob_protocol import BlobLeaf
from chain.service.metrics import NodeMetrics
from chain.storage.blobs import BlobStore
from p2p.network import Network
from runtime.block import Header
from runtime.transaction import SignedTransaction


class BlobFetcher(Protocol):
    """Fetches job data this node lacks from its peers."""

    async def fetch_blob(self, root: bytes) -> BlobInfo | None:
        """The whole blob `root` into the local blob store; its info, or None if no peer has it."""

    async def fetch_blob_leaf(self, root: bytes, index: int) -> BlobLeaf | None:
        """Leaf `index` of blob `root` from the first peer that holds it, its proof checked."""

    def drop_fetched(self, root: bytes) -> int:
        """Delete a blob `fetch_blob` stored that nothing else here holds; the bytes freed."""


class PeerNetwork(BlobFetcher, Protocol):
    """The node on its network, as its RPC methods see it."""

    @property
    def peer_id(self) -> str: ...

    @property
    def network(self) -> Network:
        """The libp2p network: peers, listen addresses, the test-only peer filter."""


class NetworkHost(Protocol):
    """What the network glue needs of the node: the core, the time, job data, metrics, and a
    way to carry out what the core asks for."""

    @property
    def core(self) -> NodeCore: ...

    @property
    def clock(self) -> Callable[[], int]:
        """The time in milliseconds."""

    @property
    def blobs(self) -> BlobStore: ...

    @property
    def metrics(self) -> NodeMetrics: ...

    def apply(self, actions: list[Action]) -> None:
        """Carry out what the core asked for."""


class AuditHost(Protocol):
    """What the verification service needs of the node: the core's state and pool, job data
    (from peers too), metrics, new best blocks, and a way to submit its attestations."""

    @property
    def core(self) -> NodeCore: ...

    @property
    def blobs(self) -> BlobStore: ...

    @property
    def metrics(self) -> NodeMetrics: ...

    @property
    def network(self) -> BlobFetcher | None:
        """None for a node on its own."""

    @property
    def block_listeners(self) -> list[Callable[[Header], None]]:
        """Called with each new best block's header."""

    def submit(self, raw: bytes) -> SignedTransaction:
        """Admit a transaction; raises DecodeError, InvalidTransaction or PoolError."""
