"""What a node keeps about one connected peer while the connection lasts.

A session starts when a connection to the peer is up and ends when the last connection to it
closes (or the peer is banned, blocked or found to speak another chain's protocols). It is
"open" once our gossip streams to the peer are negotiated: that proves the peer serves this
chain's protocol prefix, and only then does the node hear `on_peer_connected`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import trio
from libp2p.peer.id import ID

from p2p.config import NetworkConfig, TopicLimits
from p2p.outbox import Outbox
from p2p.rate_limit import TokenBucket, TopicRate, request_bucket
from p2p.seen import KnownMessages

BULK_MESSAGE_BYTES: Final = 64 * 1024
"""Topics whose messages may be larger than this (blocks) have a gossip stream of their own, so
that a 900 KB block in flight does not hold back the votes and transactions queued behind it."""
PEER_LISTS_PER_SECOND: Final = 2.0
PEER_LIST_BURST: Final = 64.0
"""A peer sends its list of peers whenever one connects or disconnects: at start, many at once."""


@dataclass(frozen=True)
class PeerInfo:
    """A connected peer, as `Network.peers` reports it."""

    peer: str
    address: str
    """The remote end of the connection, e.g. /ip4/127.0.0.1/tcp/50123."""
    direction: str
    """"inbound" or "outbound": who dialed."""
    score: float
    connected_since: float
    """Unix time at which the session started."""


def lane_of(limits: TopicLimits) -> str:
    """Which of a peer's gossip streams carries a topic with these limits."""
    return "bulk" if limits.max_message_bytes > BULK_MESSAGE_BYTES else "quick"


class PeerSession:
    """One connected peer: its queues, limits, known messages and the tasks serving it."""

    def __init__(
        self, peer_id: ID, *, direction: str, address: str, ip: str, config: NetworkConfig
    ) -> None:
        now = trio.current_time()
        self.peer_id = peer_id
        self.peer = str(peer_id)
        self.peer_bytes = peer_id.to_bytes()
        self.direction = direction
        self.address = address
        self.ip = ip
        """The remote IP address (the per-IP limits count sessions by it)."""
        self.connected_since = time.time()
        self.started = now
        """trio time at which the session started."""
        self.known = KnownMessages()
        """Messages the peer has, or has been sent: never send it these again."""
        self.shown = KnownMessages()
        """Messages the peer itself sent or announced: a queued copy of these is skipped."""
        self.lane_of = {topic: lane_of(limits) for topic, limits in config.topics.items()}
        self.outboxes = {
            lane: Outbox(
                {t: limits for t, limits in config.topics.items() if self.lane_of[t] == lane},
                max_bytes=config.peer_queue_bytes,
                peer_has=self.shown.__contains__,
            )
            for lane in sorted(set(self.lane_of.values()))
        }
        """One queue, and one gossip stream, per lane."""
        self.peer_list_rate = TokenBucket(PEER_LISTS_PER_SECOND, PEER_LIST_BURST, now)
        self.inbound_rates: Mapping[str, TopicRate] = {
            topic: TopicRate(limits, now) for topic, limits in config.topics.items()
        }
        self.request_rates: Mapping[str, TokenBucket] = {
            name: request_bucket(limits, now) for name, limits in config.request_protocols.items()
        }
        """What the peer may ask of us."""
        self.request_pace: Mapping[str, TokenBucket] = {
            name: request_bucket(limits, now, sending=True)
            for name, limits in config.request_protocols.items()
        }
        """How fast we ask it."""
        self.request_slots: Mapping[str, trio.Semaphore] = {
            name: trio.Semaphore(limits.max_concurrent_per_peer)
            for name, limits in config.request_protocols.items()
        }
        """Our requests in flight to the peer, per protocol."""
        self.serving: dict[str, int] = dict.fromkeys(config.request_protocols, 0)
        """The peer's requests we are answering, per protocol."""
        self.opened = trio.Event()
        self.closed = False
        self.scope = trio.CancelScope()
        """Cancels the session's own tasks (the gossip writer)."""
        self.gossip_streams = 0
        """Gossip streams the peer has open to us."""
        self.inbound_scopes: set[trio.CancelScope] = set()
        """The peer's streams being served (they run in libp2p's tasks); cancelled on close."""

    def outbox(self, topic: str) -> Outbox:
        """The queue that carries `topic`."""
        return self.outboxes[self.lane_of[topic]]

    def saw(self, message: bytes) -> None:
        """The peer sent or announced `message`."""
        self.known.add(message)
        self.shown.add(message)

    def close(self) -> None:
        """Stop everything serving this peer."""
        self.closed = True
        self.scope.cancel()
        for scope in self.inbound_scopes:
            scope.cancel()

    def info(self, score: float) -> PeerInfo:
        """This session as `Network.peers` reports it."""
        return PeerInfo(self.peer, self.address, self.direction, score, self.connected_since)
