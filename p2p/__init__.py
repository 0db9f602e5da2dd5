"""XPL's networking on py-libp2p (trio): peers, gossip topics and request-response protocols.

The node core decides what every message means; this package moves bytes between peers reliably
and defends the node against them. It imports trio, libp2p and the standard library only.

    keys.load_or_create_node_key(path) -> bytes      the 32-byte Ed25519 seed (hex file, 0600)
    keys.peer_id_of(seed) -> str                     its base58 PeerId
    config.NetworkConfig(node_key=, protocol_prefix=, topics=, request_protocols=, port=, ...)
    config.protocol_prefix_for(genesis_hash) -> str  "/xpl/<first 16 hex of the genesis hash>"
    network.Network(config, handler)
        await run(task_status=)                      listen, keep bootnodes connected, serve
        peer_id, listen_addresses, peers() -> [PeerInfo], stats: NetworkStats
        publish(topic, data), send(peer, topic, data)            never block, never drop silently
        await request(peer, protocol, data, timeout=) -> bytes   or RequestFailed(reason)
        report(peer, cost, reason), score(peer), is_banned(peer), set_blocked(peers)
    handler.NetworkHandler                           implemented by the node: on_peer_connected,
                                                     on_peer_disconnected, on_gossip -> verdict,
                                                     async on_request (may raise RequestRefused)

Modules: `network` (the facade and its connection management), `gossip` (the notification
protocol and why it is not GossipSub), `requests`, `frames` (wire format), `outbox` (queues and
pacing), `session` (one peer), `scoring`, `rate_limit`, `seen`, `stats`, `host` (how the
py-libp2p host is put together, and what of its defaults is switched off), `inbound` (what is
let in before a peer is known: connections per IP, handshakes, streams per connection), `bench`
and `churn` (the measurements).

Logging: this package logs under `xpl.p2p`. py-libp2p logs under `libp2p`, which on import it
cuts off from the root logger (propagate False, no handler), so its warnings reach stderr through
Python's last-resort handler; a node that wants them in its own log sets that logger's
`propagate` back to True, and perhaps a higher level: it logs some expected events at ERROR
(a bootnode that is down, a peer of another chain).
"""

from p2p.config import NetworkConfig, RequestLimits, TopicLimits, protocol_prefix_for
from p2p.errors import (
    FailureReason,
    ListenError,
    MessageTooLarge,
    NetworkError,
    NotConnected,
    RequestFailed,
    RequestRefused,
    UnknownTopic,
)
from p2p.handler import GossipVerdict, NetworkHandler
from p2p.keys import NodeKeyError, load_or_create_node_key, peer_id_of
from p2p.network import Network
from p2p.session import PeerInfo
from p2p.stats import NetworkStats

__all__ = [
    "FailureReason",
    "GossipVerdict",
    "ListenError",
    "MessageTooLarge",
    "Network",
    "NetworkConfig",
    "NetworkError",
    "NetworkHandler",
    "NetworkStats",
    "NodeKeyError",
    "NotConnected",
    "PeerInfo",
    "RequestFailed",
    "RequestLimits",
    "RequestRefused",
    "TopicLimits",
    "UnknownTopic",
    "load_or_create_node_key",
    "peer_id_of",
    "protocol_prefix_for",
]
