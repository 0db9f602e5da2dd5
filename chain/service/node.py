"""The node process: drives the node core from real time and the network, serves JSON-RPC and
metrics.

Everything runs on one trio thread: the timer loop, the network (`chain.service.network`), the RPC
server (`chain.service.rpc`), the metrics server and, on a validator, the verification service
(`chain.service.verification`) are tasks in one nursery, and the core is called synchronously from
them, so it needs no locking. Cancelling the nursery (Ctrl-C, SIGTERM, a test) closes every
socket and then the database. A database that fails its writes halts the core until
`chain.service.storage_faults` has reopened it, or stops the node if it cannot.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import trio

from chain.core.actions import (
    Action,
    BlockImported,
    Finalized,
    Gossip,
    ReportPeer,
    Retracted,
    SendRequest,
    SetTimer,
    TxDropped,
)
from chain.core.grinding import Grinding
from chain.core.node import NodeCore
from chain.service.blob_retention import DEFAULT_BLOB_SETTINGS, BlobRetention, BlobSettings
from chain.service.job_metrics import JobStates
from chain.service.metrics import NodeMetrics
from chain.service.network import NodeNetwork, network_config
from chain.service.rpc.access import RpcAccess
from chain.service.rpc.limits import RpcLimits
from chain.service.rpc.methods import build_methods
from chain.service.rpc.registry import RpcMethods
from chain.service.rpc.subscriptions import Subscription
from chain.service.rpc.system import health
from chain.service.rpc.transport import RpcServer
from chain.service.storage_faults import StorageHealth, StorageRecovery
from chain.service.verification import VerificationService
from chain.spec import ChainSpec
from chain.storage.blobs import BlobStore
from chain.storage.chain_store import ChainStore, ChainStoreError
from chain.storage.disk_room import DiskRoom
from chain.storage.kv import LevelDBStore
from runtime import api as runtime_api
from runtime.block import Block, Header
from runtime.invariants import InvariantsBroken
from runtime.pallets.system import EVENTS_KEY
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import Keypair
from runtime.transaction import SignedTransaction

log = logging.getLogger("xpl.node")

MAX_CHECKED_BLOCKS: Final = 4_096
"""Blocks remembered as checked by --check-invariants before the memory is cleared."""


def wall_clock_ms() -> int:
    """Unix time in milliseconds: the clock a running node feeds its core."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class NetworkSettings:
    """Where the node listens for peers and whom it dials."""

    node_key: bytes
    """The 32-byte seed of the node's libp2p identity (`--node-key-file`)."""
    port: int = 30333
    listen_host: str = "127.0.0.1"
    bootnodes: tuple[str, ...] = ()
    reserved_peers: tuple[str, ...] = ()
    """Peer ids (the other validators' nodes) kept a slot whatever the peer limits."""


@dataclass(frozen=True)
class NodeConfig:
    """How to run a node: chain, data directory, validator key, RPC, metrics, pruning, network."""

    spec: ChainSpec
    base_path: Path
    name: str = "xpl-node"
    validator_key: Keypair | None = None
    rpc_host: str = "127.0.0.1"
    rpc_port: int = 9944
    rpc_limits: RpcLimits = field(default_factory=RpcLimits)
    rpc_access: RpcAccess = field(default_factory=RpcAccess)
    prometheus_host: str = "127.0.0.1"
    prometheus_port: int | None = 9615
    pruning: int | None = 256
    """States kept; None keeps all (archive)."""
    verify_device: str = "auto"
    """Where a validator recomputes audited leaves: auto, cpu, cuda or numpy."""
    verifier_behaviour: str = "honest"
    """How a validator answers its checks; the others are test and research modes
    (`chain.service.verification.BEHAVIOURS`)."""
    network: NetworkSettings | None = None
    """None: no network (a node on its own)."""
    test_rpc: bool = False
    """Serve the test-only RPC methods (a network filter for partitions)."""
    test_equivocate: bool = False
    """Test-only: the validator votes twice in every prevote phase (an equivocation)."""
    grinding: Grinding | None = None
    """Test and research only: author block variants against a worker's audits
    (`chain.core.grinding`)."""
    check_invariants: bool = False
    """Check every invariant after each block imported or authored; stop on a violation."""
    blobs: BlobSettings = DEFAULT_BLOB_SETTINGS
    """The blob store's limits and retention (`--blob-*`)."""

    @property
    def db_path(self) -> Path:
        return self.base_path / "chains" / self.spec.id / "db"


@dataclass(frozen=True)
class NodeInfo:
    """What a started node tells whoever started it."""

    rpc_port: int
    prometheus_port: int | None
    genesis_hash: bytes
    peer_id: str | None = None
    listen_addresses: tuple[str, ...] = ()


class NodeService:
    """The running node: its core, the subscribers to its events, and its timers."""

    def __init__(
        self,
        core: NodeCore,
        spec: ChainSpec,
        *,
        name: str,
        metrics: NodeMetrics,
        clock: Callable[[], int] = wall_clock_ms,
        blobs: BlobStore | None = None,
        check_invariants: bool = False,
    ) -> None:
        self.core = core
        self.check_invariants = check_invariants
        """Check every invariant of the state after each block imported or authored."""
        self.broken: InvariantsBroken | None = None
        """The broken invariants that stopped the node, if any."""
        self._checked: set[bytes] = set()
        self.stop: Callable[[], None] = lambda: None
        """Stops the running node (`run_node` sets it)."""
        self.blobs = blobs if blobs is not None else BlobStore(core.store.kv)
        """Job inputs and results, in the node's database beside the chain."""
        self.spec = spec
        self.name = name
        self.metrics = metrics
        self.clock = clock
        self._events: tuple[bytes, list[dict[str, Any]]] | None = None
        self.block_listeners: list[Callable[[Header], None]] = []
        """Called with each new best block's header, after the head subscribers."""
        self.head_subscribers: set[Subscription] = set()
        self.finalized_subscribers: set[Subscription] = set()
        self._tx_watchers: dict[bytes, set[Subscription]] = {}
        self._awaiting_finality: dict[bytes, list[tuple[bytes, Subscription]]] = {}
        self._timers: dict[str, int] = {}
        self._timers_changed: trio.Event | None = None
        self.network: NodeNetwork | None = None
        """The node's network, once it runs (None for a node on its own)."""
        kv = core.store.kv
        self.storage = StorageHealth(
            str(kv.path) if isinstance(kv, LevelDBStore) else "memory", metrics, clock
        )
        """Whether the database takes writes (`chain.service.storage_faults`)."""
        self._update_gauges()

    # Inputs from RPC

    def submit(self, raw: bytes) -> SignedTransaction:
        """Admit a transaction; raises DecodeError, InvalidTransaction or PoolError."""
        started = time.perf_counter()
        tx, actions = self.core.submit_transaction(raw, self.clock())
        self.apply(actions)
        log.debug("admitted 0x%s in %.1f ms", tx.hash.hex(), (time.perf_counter() - started) * 1e3)
        return tx

    def watch(self, tx: SignedTransaction, subscription: Subscription) -> None:
        """Send `subscription` the status changes of a pooled transaction until it is final."""
        watchers = self._tx_watchers.setdefault(tx.hash, set())
        watchers.add(subscription)
        subscription.on_close(lambda: self._forget_watcher(tx.hash, subscription))
        ready = self.core.pool.is_ready(tx.hash)
        subscription.send("ready" if ready else "future")

    def _forget_watcher(self, tx_hash: bytes, subscription: Subscription) -> None:
        watchers = self._tx_watchers.get(tx_hash)
        if watchers is not None:
            watchers.discard(subscription)
            if not watchers:
                del self._tx_watchers[tx_hash]

    def import_block(self, block: Block) -> None:
        """Import a block from elsewhere (sync, tests); raises BlockRejected."""
        started = time.perf_counter()
        actions = self.core.import_block(block, self.clock())
        self.metrics.import_seconds.labels("network").observe(time.perf_counter() - started)
        self.apply(actions)

    # Outputs of the core

    def apply(self, actions: list[Action]) -> None:
        """Carry out what the core asked for."""
        for action in actions:
            if isinstance(action, SetTimer):
                self._timers[action.name] = action.at_ms
                if self._timers_changed is not None:
                    self._timers_changed.set()
            elif isinstance(action, BlockImported):
                if self.check_invariants and self.broken is None:
                    self._check_invariants(action.header)
                self._on_block(action)
            elif isinstance(action, Retracted):
                self._on_retracted(action)
            elif isinstance(action, Finalized):
                self._on_finalized(action)
            elif isinstance(action, TxDropped):
                self._on_dropped(action)
            elif self.network is not None:
                if isinstance(action, Gossip):
                    self.network.publish(action.topic, action.data)
                elif isinstance(action, SendRequest):
                    self.network.send_request(action)
                elif isinstance(action, ReportPeer):
                    self.network.report(action)
        self._update_gauges()

    def _on_block(self, imported: BlockImported) -> None:
        header = imported.header
        if not imported.best:
            return
        self.metrics.block_transactions.inc(len(imported.tx_hashes))
        header_json = header.to_json()
        for subscription in list(self.head_subscribers):
            subscription.send(header_json)
        for listener in self.block_listeners:
            try:
                listener(header)
            except Exception:
                log.exception("a listener failed on block #%d; the node carries on", header.number)
        block_hex = to_hex(header.hash)
        for tx_hash in imported.tx_hashes:
            watchers = self._tx_watchers.get(tx_hash)
            if not watchers:
                continue
            for subscription in list(watchers):
                subscription.send({"inBlock": block_hex})
                self._awaiting_finality.setdefault(header.hash, []).append((tx_hash, subscription))

    def _check_invariants(self, header: Header) -> None:
        """A broken invariant is a bug: log every one with the block, and stop the node. A block
        is checked once, though a reorg announces it again as best."""
        if header.hash in self._checked:
            return
        try:
            self.core.store.check_invariants(header.hash)
        except ChainStoreError as exc:  # pruned, or abandoned by finality in the same step
            log.warning("invariants not checked at block #%d: %s", header.number, exc)
            return
        except InvariantsBroken as exc:
            self.broken = exc
            log.error("%s; stopping the node", exc)
            self.stop()
            return
        if len(self._checked) >= MAX_CHECKED_BLOCKS:
            self._checked.clear()  # forks finality abandoned; at worst a block is checked again
        self._checked.add(header.hash)

    def block_events(self, block_hash: bytes) -> list[dict[str, Any]]:
        """The events of block `block_hash`, decoded once however many listeners ask."""
        if self._events is None or self._events[0] != block_hash:
            raw = self.core.store.reader(block_hash)(EVENTS_KEY)
            self._events = (block_hash, [] if raw is None else runtime_api.decode_events(raw))
        return self._events[1]

    def _on_retracted(self, retracted: Retracted) -> None:
        block_hex = to_hex(retracted.block_hash)
        for _tx, subscription in self._awaiting_finality.pop(retracted.block_hash, []):
            subscription.send({"retracted": block_hex})

    def _on_finalized(self, finalized: Finalized) -> None:
        for header in finalized.headers:
            header_json = header.to_json()
            for subscription in list(self.finalized_subscribers):
                subscription.send(header_json)
            for tx_hash, subscription in self._awaiting_finality.pop(header.hash, []):
                subscription.send({"finalized": to_hex(header.hash)})
                subscription.close()
                self._forget_watcher(tx_hash, subscription)
        if finalized.headers:
            log.info("finalized #%d", finalized.headers[-1].number)

    def _on_dropped(self, dropped: TxDropped) -> None:
        for subscription in list(self._tx_watchers.pop(dropped.tx_hash, set())):
            subscription.send({dropped.status: dropped.reason})
            subscription.close()

    def resume_after_storage_fault(self) -> None:
        """The database takes writes again: resume the core and carry out what it asks."""
        self.apply(self.core.resume(self.clock()))

    def _update_gauges(self) -> None:
        if not self.storage.healthy:
            return  # the database may be closed while it is reopened
        store = self.core.store
        self.metrics.block_height.labels("best").set(store.best_header.number)
        self.metrics.block_height.labels("finalized").set(store.finalized_header.number)
        self.metrics.ready_transactions.set(self.core.pool.ready_count)
        self.metrics.future_transactions.set(self.core.pool.future_count)
        self.metrics.finality_round.set(self.core.voter.round_number)
        self.metrics.finality_set_id.set(self.core.voter.set.set_id)

    # Timers

    async def run_timers(self) -> None:
        """Fire the core's timers at their wall-clock times, forever."""
        while True:
            self._timers_changed = trio.Event()
            if not self._timers:
                await self._timers_changed.wait()
                continue
            name, at_ms = min(self._timers.items(), key=lambda item: item[1])
            delay = (at_ms - self.clock()) / 1000
            if delay > 0:
                with trio.move_on_after(delay):
                    await self._timers_changed.wait()
                    continue
            del self._timers[name]
            started = time.perf_counter()
            try:
                actions = self.core.on_timer(name, self.clock())
            except Exception:
                log.exception("timer %s failed; the node carries on", name)
                actions = [SetTimer(name, self.clock() + 1000)]
            elapsed = time.perf_counter() - started
            if any(isinstance(a, BlockImported) and a.authored for a in actions):
                self.metrics.import_seconds.labels("own").observe(elapsed)
            self.apply(actions)
            await trio.sleep(0)


def open_store(config: NodeConfig) -> ChainStore:
    """Open the node's database, writing the genesis block on first use."""
    kv = LevelDBStore(config.db_path)
    try:
        store = ChainStore(kv, keep_states=config.pruning)
        genesis = config.spec.genesis_header()
        if not store.is_initialized():
            store.initialize(genesis, config.spec.genesis_state())
        else:
            store.open()
            if store.genesis_hash != genesis.hash:
                raise ChainStoreError(
                    f"the database at {config.db_path} holds another chain (genesis "
                    f"{to_hex(store.genesis_hash)}, the spec's is {to_hex(genesis.hash)}); "
                    "use another --base-path or run purge-chain"
                )
    except BaseException:
        kv.close()
        raise
    return store


async def _stop_on_signal(cancel: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            log.info("received %s, shutting down", signal.Signals(signum).name)
            cancel.cancel()
            return


async def run_node(
    config: NodeConfig,
    *,
    handle_signals: bool = False,
    task_status: trio.TaskStatus[NodeInfo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a node until cancelled (or, with `handle_signals`, until SIGINT or SIGTERM)."""
    store = open_store(config)
    try:
        core = NodeCore(
            store,
            authority=config.validator_key,
            equivocate=config.test_equivocate,
            grinding=config.grinding,
        )
        metrics = NodeMetrics()
        service = NodeService(
            core,
            config.spec,
            name=config.name,
            metrics=metrics,
            blobs=config.blobs.open(store.kv),
            check_invariants=config.check_invariants,
        )
        network = None
        if config.network is not None:
            settings = config.network
            network = NodeNetwork(
                service,
                network_config(
                    store.genesis_hash,
                    settings.node_key,
                    listen_host=settings.listen_host,
                    port=settings.port,
                    bootnodes=settings.bootnodes,
                    reserved_peers=settings.reserved_peers,
                ),
            )
            service.network = network
            metrics.before_scrape.append(lambda: _copy_network_stats(metrics, network))
        job_states = JobStates(store, service.block_events, metrics.jobs)
        job_states.rescan(store.best_hash)
        service.block_listeners.append(job_states.on_best_block)
        retention = BlobRetention(service.blobs, store, lambda: job_states.states, service.clock)
        service.block_listeners.append(retention.on_best_block)
        metrics.before_scrape.append(lambda: retention.publish(metrics))
        methods = build_methods(service, test_rpc=config.test_rpc)
        rpc = RpcServer(
            methods,
            host=config.rpc_host,
            port=config.rpc_port,
            limits=config.rpc_limits,
            access=config.rpc_access,
            extra_routes={
                "/health": lambda: (200, "application/json", json.dumps(health(service)).encode())
            },
        )
        metrics.before_scrape.append(lambda: _copy_rpc_stats(metrics, rpc))
        async with trio.open_nursery() as nursery:
            service.stop = nursery.cancel_scope.cancel
            if handle_signals:
                nursery.start_soon(_stop_on_signal, nursery.cancel_scope)
            rpc_port = await nursery.start(rpc.serve)
            prometheus_port = None
            metrics_address = ""
            if config.prometheus_port is not None:
                metrics_server = RpcServer(
                    RpcMethods(),
                    host=config.prometheus_host,
                    port=config.prometheus_port,
                    # Scrapers name the node as they like; a page can read no more than metrics.
                    access=RpcAccess(allowed_hosts=None),
                    extra_routes={"/metrics": metrics.exposition},
                )
                prometheus_port = await nursery.start(metrics_server.serve)
                metrics_address = f", metrics {metrics_server.bound_address}"
            if network is not None:
                await nursery.start(network.run)
            kv = store.kv
            if isinstance(kv, LevelDBStore):
                recovery = StorageRecovery(
                    kv,
                    store,
                    service.storage,
                    halt=core.halt,
                    resume=service.resume_after_storage_fault,
                    disk=DiskRoom(kv.path),
                    free_space=lambda: retention.sweep(store.best_hash),
                )
                nursery.start_soon(recovery.run)
            service.apply(core.start(service.clock()))
            nursery.start_soon(service.run_timers)
            if config.validator_key is not None:
                verifier = VerificationService(
                    service,
                    config.validator_key,
                    device=config.verify_device,
                    behaviour=config.verifier_behaviour,
                )
                nursery.start_soon(verifier.run)
            best = store.best_header
            log.info(
                "node %s ready: chain %s, best #%d, finalized #%d, rpc %s%s%s",
                config.name,
                config.spec.name,
                best.number,
                store.finalized_header.number,
                rpc.bound_address,
                metrics_address,
                "" if network is None else f", p2p {' '.join(network.network.listen_addresses)}",
            )
            task_status.started(
                NodeInfo(
                    rpc_port,
                    prometheus_port,
                    store.genesis_hash,
                    None if network is None else network.peer_id,
                    () if network is None else tuple(network.network.listen_addresses),
                )
            )
        if service.broken is not None:
            raise service.broken
    except BaseExceptionGroup as group:
        raise _single(group) from None
    finally:
        store.close()
        log.info("node %s stopped; database closed", config.name)


def _copy_network_stats(metrics: NodeMetrics, network: NodeNetwork) -> None:
    stats = network.network.stats
    for reason, count in stats.dropped.items():
        metrics.gossip_dropped.labels(reason).set(count)
    for topic, count in stats.messages_out.items():
        metrics.gossip_sent.labels(topic).set(count)
    metrics.peer_bans.set(stats.bans)
    metrics.peers.set(len(network.network.peers()))


def _copy_rpc_stats(metrics: NodeMetrics, rpc: RpcServer) -> None:
    metrics.rpc_connections.set(rpc.connection_count)
    for reason, count in rpc.closed_counts.items():
        metrics.rpc_connections_closed.labels(reason).set(count)


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception inside nested groups, or the group itself if there are several."""
    leaves: list[BaseException] = []

    def collect(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                collect(inner)
        else:
            leaves.append(exc)

    collect(group)
    return leaves[0] if len(leaves) == 1 else group
