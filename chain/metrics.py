"""Prometheus metrics of a node, named like Substrate's (`xpl_` instead of `substrate_`)."""

from __future__ import annotations

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
            "Checks of workers' results this validator recomputed, by verdict",
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

    def exposition(self) -> tuple[int, str, bytes]:
        """The body of GET /metrics."""
        return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
