"""Prometheus metrics of a node, named like Substrate's (`xpl_` instead of `substrate_`)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class NodeMetrics:
    """The node's metrics in their own registry (several nodes may share a process in tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.block_height = Gauge(
            "xpl_block_height", "Block height info of the chain", ["status"], registry=self.registry
        )
        self.ready_transactions = Gauge(
            "xpl_ready_transactions_number",
            "Number of transactions in the ready queue",
            registry=self.registry,
        )
        self.future_transactions = Gauge(
            "xpl_future_transactions_number",
            "Number of transactions waiting for an earlier nonce",
            registry=self.registry,
        )
        self.import_seconds = Histogram(
            "xpl_block_import_seconds",
            "Time to verify, execute and store a block",
            ["origin"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.block_transactions = Counter(
            "xpl_block_transactions_total",
            "Transactions included in imported best blocks",
            registry=self.registry,
        )
        self.rpc_calls = Counter(
            "xpl_rpc_calls_total", "JSON-RPC calls by method", ["method"], registry=self.registry
        )
        self.rpc_errors = Counter(
            "xpl_rpc_errors_total",
            "JSON-RPC calls answered with an error, by method",
            ["method"],
            registry=self.registry,
        )
        self.verifications = Counter(
            "xpl_verifications_total",
            "Checks this validator answered: recomputed, unavailable, or its test behaviour",
            ["verdict"],
            registry=self.registry,
        )
        self.verification_seconds = Histogram(
            "xpl_verification_seconds",
            "Time to gather and recompute the leaves of one check",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
            registry=self.registry,
        )
        self.verification_errors = Counter(
            "xpl_verification_errors_total",
            "Verifications that failed on this node (tried again later; not a verdict)",
            registry=self.registry,
        )
        self.jobs = Gauge(
            "xpl_jobs",
            "Compute jobs on chain at the best block, by state",
            ["state"],
            registry=self.registry,
        )
        self.peers = Gauge(
            "xpl_sub_libp2p_peers_count", "Number of connected peers", registry=self.registry
        )
        self.peers.set(0)
        self.gossip_received = Counter(
            "xpl_gossip_received_total",
            "Gossip messages received (each once), by topic and the node's verdict",
            ["topic", "verdict"],
            registry=self.registry,
        )
        self.gossip_dropped = Gauge(
            "xpl_gossip_messages_dropped",
            "Gossip messages not delivered or not sent since the start, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.gossip_sent = Gauge(
            "xpl_gossip_messages_sent",
            "Gossip frames written to peers since the start, by topic",
            ["topic"],
            registry=self.registry,
        )
        self.finality_round = Gauge(
            "xpl_finality_grandpa_round",
            "The GRANDPA round this node is in",
            registry=self.registry,
        )
        self.finality_set_id = Gauge(
            "xpl_finality_grandpa_set_id",
            "The authority set this node's GRANDPA voter follows",
            registry=self.registry,
        )
        self.peer_bans = Gauge(
            "xpl_sub_libp2p_peer_bans",
            "Peers banned for bad behaviour since the start",
            registry=self.registry,
        )
        self.blob_stored_bytes = Gauge(
            "xpl_blob_stored_bytes",
            "What the stored blobs take on disk: their bytes and their keys' overhead",
            registry=self.registry,
        )
        self.blob_limit_bytes = Gauge(
            "xpl_blob_limit_bytes",
            "The node's limit on stored blobs and uploads in progress (--blob-max-bytes)",
            registry=self.registry,
        )
        self.blobs_stored = Gauge(
            "xpl_blobs_stored", "Blobs in the node's store", registry=self.registry
        )
        self.blob_uploads = Gauge(
            "xpl_blob_uploads_in_progress", "Blob uploads in progress", registry=self.registry
        )
        self.blob_reserved_bytes = Gauge(
            "xpl_blob_reserved_bytes",
            "Bytes the blob uploads in progress have reserved",
            registry=self.registry,
        )
        self.blobs_deleted = Gauge(
            "xpl_blobs_deleted",
            "Unreferenced blobs deleted after the retention period since the start",
            registry=self.registry,
        )
        self.blob_uploads_dropped = Gauge(
            "xpl_blob_uploads_dropped_stalled",
            "Stalled blob uploads dropped to make room for others since the start",
            registry=self.registry,
        )
        self.storage_healthy = Gauge(
            "xpl_storage_healthy",
            "1 while the database takes writes; 0 from a failed write until it is reopened",
            registry=self.registry,
        )
        self.storage_healthy.set(1)
        self.storage_write_failures = Counter(
            "xpl_storage_write_failures_total",
            "Database writes that failed (no space, I/O errors), and failed attempts to reopen it",
            registry=self.registry,
        )
        self.rpc_connections = Gauge(
            "xpl_rpc_connections",
            "Open JSON-RPC connections (HTTP keep-alive and WebSocket)",
            registry=self.registry,
        )
        self.rpc_connections_closed = Gauge(
            "xpl_rpc_connections_closed",
            "JSON-RPC connections refused or closed by the server's limits since the start, "
            "by reason (refused, evicted, timeout, idle, unresponsive)",
            ["reason"],
            registry=self.registry,
        )
        self.before_scrape: list[Callable[[], None]] = []
        """Called before each scrape, to copy in what others count (the network's stats)."""

    def exposition(self) -> tuple[int, str, bytes]:
        """The body of GET /metrics."""
        for refresh in self.before_scrape:
            refresh()
        return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
