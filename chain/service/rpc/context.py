"""What the RPC methods need of the running node (`RpcNode`), and what every namespace's
methods share (`RpcContext`): counted registration and reading the state at a block."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from chain.core.node import NodeCore
from chain.service.interfaces import PeerNetwork
from chain.service.metrics import NodeMetrics
from chain.service.rpc import errors
from chain.service.rpc.errors import RpcError
from chain.service.rpc.params import hash32, param
from chain.service.rpc.protocol import Params
from chain.service.rpc.registry import RpcMethods, SubscriptionHandler
from chain.service.rpc.subscriptions import Subscription
from chain.service.storage_faults import StorageHealth
from chain.spec import ChainSpec
from chain.storage.blobs import BlobStore
from chain.storage.chain_store import StatePruned, UnknownBlock
from runtime.block import Header
from runtime.primitives.trie import TrieError
from runtime.state import StateReader
from runtime.transaction import SignedTransaction


class RpcNode(Protocol):
    """The running node as its RPC methods see it."""

    @property
    def core(self) -> NodeCore: ...

    @property
    def spec(self) -> ChainSpec: ...

    @property
    def metrics(self) -> NodeMetrics: ...

    @property
    def blobs(self) -> BlobStore: ...

    @property
    def storage(self) -> StorageHealth:
        """Whether the database takes writes."""

    @property
    def clock(self) -> Callable[[], int]:
        """The time in milliseconds."""

    @property
    def network(self) -> PeerNetwork | None:
        """None for a node on its own."""

    @property
    def head_subscribers(self) -> set[Subscription]:
        """Sent each new best block's header."""

    @property
    def finalized_subscribers(self) -> set[Subscription]:
        """Sent each newly finalized block's header."""

    @property
    def block_listeners(self) -> list[Callable[[Header], None]]:
        """Called with each new best block's header."""

    def submit(self, raw: bytes) -> SignedTransaction:
        """Admit a transaction; raises DecodeError, InvalidTransaction or PoolError."""

    def watch(self, tx: SignedTransaction, subscription: Subscription) -> None:
        """Send `subscription` the status changes of a pooled transaction until it is final."""

    def block_events(self, block_hash: bytes) -> list[dict[str, Any]]:
        """The events of block `block_hash`, decoded."""


def unknown_block(block_hash: bytes) -> RpcError:
    """The UNKNOWN_BLOCK error for `block_hash`."""
    return RpcError(errors.UNKNOWN_BLOCK, f"Unknown block 0x{block_hash.hex()}")


class RpcContext:
    """The node the methods serve and the table they are registered in."""

    def __init__(self, node: RpcNode, methods: RpcMethods) -> None:
        self.node = node
        self.methods = methods

    def add(
        self,
        name: str,
        handler: Callable[[Params], Any],
        params: Sequence[str],
        *,
        unsafe: bool = False,
    ) -> None:
        """Register a method taking `params` (by name, in order) whose calls and errors are
        counted in the node's metrics; `unsafe` as `RpcMethods.add`."""
        metrics = self.node.metrics

        def counted(params: Params) -> Any:
            metrics.rpc_calls.labels(name).inc()
            try:
                return handler(params)
            except Exception:
                metrics.rpc_errors.labels(name).inc()
                raise

        self.methods.add(name, counted, params, unsafe=unsafe)

    def add_subscription(
        self,
        subscribe: str,
        notification: str,
        unsubscribe: str,
        handler: SubscriptionHandler,
        params: Sequence[str],
    ) -> None:
        """Register a subscription taking `params` (see `RpcMethods.add_subscription`)."""
        self.methods.add_subscription(subscribe, notification, unsubscribe, handler, params)

    def at_hash(self, params: Params, index: int) -> bytes:
        """The block hash parameter `at` (position `index`; the best block by default), known."""
        store = self.node.core.store
        block_hash = param(params, index, "at", hash32, default=store.best_hash)
        if store.header(block_hash) is None:
            raise unknown_block(block_hash)
        return block_hash

    def reader_at(self, block_hash: bytes) -> StateReader:
        """The state after `block_hash`; STATE_PRUNED or UNKNOWN_BLOCK when it is not held."""
        try:
            read = self.node.core.store.reader(block_hash)
        except StatePruned as exc:
            raise RpcError(errors.STATE_PRUNED, str(exc)) from exc
        except UnknownBlock as exc:
            raise unknown_block(block_hash) from exc

        def guarded(key: bytes) -> bytes | None:
            try:
                return read(key)
            except TrieError as exc:  # a state gone from the database: pruned or damaged
                raise RpcError(errors.STATE_PRUNED, f"state unavailable: {exc}") from exc

        return guarded
