"""Counters of what the network did, for the node to export as Prometheus metrics.

Counters only grow. Every message that is not delivered or not sent is counted in `dropped`
under its reason, so nothing disappears silently: a reason's count going up is the signal to
look at the logs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

# Reasons in NetworkStats.dropped
OVERSIZED = "oversized"
"""A peer's message over its topic's size limit."""
RATE_LIMITED = "rate_limited"
"""A peer's message beyond its rate limit."""
MALFORMED = "malformed"
"""A frame that does not parse."""
UNKNOWN_TOPIC = "unknown_topic"
QUEUE_FULL = "queue_full"
"""An outgoing message for a peer whose queue was full."""
DISCONNECTED = "disconnected"
"""Outgoing messages still queued for a peer when it disconnected."""
STREAM_FAILED = "stream_failed"
"""Outgoing messages being written when a peer's stream broke."""
NO_PEERS = "no_peers"
"""A message published while no peer was connected."""
HANDLER_FAILED = "handler_failed"
"""A message whose handler raised: a bug in the node, logged with its traceback."""


@dataclass
class NetworkStats:
    """What the network has done since it started, by topic, protocol or reason."""

    messages_in: Counter[str] = field(default_factory=Counter)
    """Gossip messages delivered to the handler (each message once), by topic."""
    bytes_in: Counter[str] = field(default_factory=Counter)
    """Bytes of every gossip frame received (duplicates included), by topic."""
    messages_out: Counter[str] = field(default_factory=Counter)
    """Gossip frames written to peers (one per peer), by topic."""
    bytes_out: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    """Gossip messages received again (not penalized), by topic."""
    rejected: Counter[str] = field(default_factory=Counter)
    """Gossip messages the handler rejected, by topic."""
    dropped: Counter[str] = field(default_factory=Counter)
    """Messages not delivered or not sent, by reason (the constants above)."""
    requests_in: Counter[str] = field(default_factory=Counter)
    """Requests served, by protocol."""
    requests_out: Counter[str] = field(default_factory=Counter)
    """Requests that got a response, by protocol."""
    request_failures: Counter[str] = field(default_factory=Counter)
    """Our requests that failed, by `FailureReason` value."""
    connections_refused: Counter[str] = field(default_factory=Counter)
    """Connections closed at once, by reason (banned, blocked, max_peers, peers_per_ip,
    incompatible; and before the handshake: pending_per_ip, connections_per_ip, inbound_slots)."""
    bans: int = 0
