"""What a node's network is allowed to do: its identity, addresses, topics, protocols and limits.

Every gossip topic and request protocol has limits, and they are enforced in both directions:
a node paces what it sends to stay inside them, and drops (and penalizes) what a peer sends beyond
them. Two nodes of one chain therefore need the same limits; a chain's node code builds one
`NetworkConfig` for everyone from its constants and the genesis hash (`protocol_prefix_for`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import multiaddr
from multiaddr.exceptions import Error as MultiaddrError

from p2p.frames import MESSAGE_ID_LEN
from p2p.keys import NODE_KEY_LEN

BURST_SECONDS: Final = 2.0
"""A peer may send up to this many seconds' worth of its rate limits at once."""

_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_\-]*(/[a-z0-9][a-z0-9_\-.]*)*", re.ASCII)
_MAX_NAME_LEN: Final = 64
NOTIFICATIONS_NAME: Final = "notifications/1"
"""The protocol name (under the prefix) of the long-lived gossip streams; no request may use it."""
MAX_INBOUND_GOSSIP_STREAMS: Final = 4
"""Gossip streams a peer may have open to us at once (one per lane, and their replacements)."""


class NetworkConfigError(ValueError):
    """A network configuration that cannot work; the message names the field."""


@dataclass(frozen=True)
class TopicLimits:
    """How much of one gossip topic a node accepts from each peer.

    The rates count every frame of the topic a peer sends: its messages, the duplicates a mesh
    produces, and its HAVE announcements of large messages (up to one per message). A peer
    relays what it hears from everyone, so the rates are network-wide ones with room to spare.
    """

    max_message_bytes: int
    max_messages_per_second: float
    max_bytes_per_second: float

    def check(self, topic: str) -> None:
        """Raise NetworkConfigError if a limit is not positive or the rates cannot carry one
        message of the largest size."""
        if self.max_message_bytes <= 0:
            raise NetworkConfigError(f"topic {topic}: max_message_bytes must be positive")
        if self.max_messages_per_second <= 0 or self.max_bytes_per_second <= 0:
            raise NetworkConfigError(f"topic {topic}: the rate limits must be positive")


@dataclass(frozen=True)
class RequestLimits:
    """How one request-response protocol is bounded, per peer and per request."""

    max_request_bytes: int
    max_response_bytes: int
    timeout: float = 10.0
    """Seconds a request may take, end to end; also how long a server gives its handler."""
    max_concurrent_per_peer: int = 4
    max_requests_per_second: float = 20.0

    def check(self, protocol: str) -> None:
        """Raise NetworkConfigError if a limit is not positive."""
        if self.max_request_bytes <= 0 or self.max_response_bytes <= 0:
            raise NetworkConfigError(f"protocol {protocol}: the size limits must be positive")
        if self.timeout <= 0:
            raise NetworkConfigError(f"protocol {protocol}: timeout must be positive")
        if self.max_concurrent_per_peer < 1:
            raise NetworkConfigError(f"protocol {protocol}: max_concurrent_per_peer must be >= 1")
        if self.max_requests_per_second <= 0:
            raise NetworkConfigError(f"protocol {protocol}: max_requests_per_second must be > 0")


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """Everything `Network` needs; checked when built, so a bad value fails at start."""

    node_key: bytes
    """The 32-byte Ed25519 seed (see `p2p.keys`)."""
    protocol_prefix: str
    """E.g. `/xpl/<first 16 hex of the genesis hash>`: every protocol id lives under it, so nodes
    of another chain (or another genesis) never exchange data."""
    topics: Mapping[str, TopicLimits]
    request_protocols: Mapping[str, RequestLimits] = field(default_factory=dict)
    listen_host: str = "127.0.0.1"
    port: int = 30333
    """TCP port to listen on; 0 picks a free one (see `Network.listen_addresses`)."""
    bootnodes: tuple[str, ...] = ()
    """Peers to dial and keep connected: `/ip4/127.0.0.1/tcp/PORT/p2p/PEERID`."""
    max_peers: int = 50
    """Inbound connections beyond this are refused; bootnodes and reserved peers are always let in
    (and bootnodes always dialed)."""
    reserved_peers: tuple[str, ...] = ()
    """Peer ids (the validators) kept a slot: neither `max_peers` nor `max_peers_per_ip` refuses
    them. The bootnodes are reserved too."""
    max_peers_per_ip: int = 8
    """Inbound sessions from one IP address, reserved peers not counted: an attacker's many keys
    behind one address take at most this many of the `max_peers` slots. With many addresses it
    can still fill the unreserved slots (`max_peers` / this many addresses are enough); it cannot
    keep out a reserved peer, nor stop this node dialing its bootnodes."""
    max_connections_per_ip: int = 16
    """Inbound connections from one IP address, being set up or open, whoever the peer is (it is
    not known before the handshake), so one address holds at most this many inbound slots; a
    reserved peer shares its address's allowance. An attacker with enough addresses (the node
    has about 3 * `max_peers` inbound slots) can still hold them all, with connections that
    complete the handshake and then stay silent until their session fails (about 15 s), and
    reopen."""
    max_pending_per_ip: int = 4
    """Inbound connections from one IP address still in their handshake: silent sockets from one
    address hold at most this many of the node's inbound slots, for `handshake_timeout` each.
    Silent sockets from many addresses can still hold every inbound slot (about 3 * `max_peers`
    of them, from a quarter as many addresses), though only while they keep reopening them;
    peers already connected, and this node's own dials, are not affected."""
    handshake_timeout: float = 3.0
    """Seconds an inbound connection gets to complete its security and multiplexer handshake
    (a few round trips and a key exchange: milliseconds between honest nodes). A silent socket
    holds its slot this long; an attacker that reopens them holds the slots all the same, within
    `max_pending_per_ip` per address."""
    unlimited_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    """Address ranges the per-IP limits do not apply to: by default loopback, where a local
    network's nodes all share one address and from where no remote attacker connects."""
    ban_score: float = -100.0
    """A peer whose score falls to this is disconnected and banned."""
    ban_seconds: float = 300.0
    score_half_life: float = 60.0
    """Seconds in which a peer's (negative) score decays halfway back to 0."""
    reconnect_min_delay: float = 0.5
    reconnect_max_delay: float = 30.0
    peer_queue_bytes: int = 64 * 1024 * 1024
    """Bytes of notifications queued for one peer before further ones are dropped (and counted)."""
    write_timeout: float = 30.0
    """A peer that takes no bytes for this long is disconnected."""
    dial_timeout: float = 10.0

    def __post_init__(self) -> None:
        if len(self.node_key) != NODE_KEY_LEN:
            raise NetworkConfigError(
                f"node_key: expected {NODE_KEY_LEN} bytes, got {len(self.node_key)}"
            )
        prefix = self.protocol_prefix
        if not prefix.startswith("/") or prefix.endswith("/") or " " in prefix:
            raise NetworkConfigError(
                f"protocol_prefix {prefix!r}: must look like /xpl/0123456789abcdef"
            )
        if not self.topics:
            raise NetworkConfigError("topics: at least one gossip topic is needed")
        for topic, topic_limits in self.topics.items():
            _check_name("topic", topic)
            topic_limits.check(topic)
        for protocol, request_limits in self.request_protocols.items():
            _check_name("protocol", protocol)
            if protocol == NOTIFICATIONS_NAME:
                raise NetworkConfigError(f"protocol {protocol}: the name is reserved for gossip")
            request_limits.check(protocol)
        try:
            ipaddress.ip_address(self.listen_host)
        except ValueError:
            raise NetworkConfigError(
                f"listen_host {self.listen_host!r}: must be an IP address, e.g. 127.0.0.1"
            ) from None
        if not 0 <= self.port <= 65535:
            raise NetworkConfigError(f"port {self.port}: must be 0..65535")
        for name in (
            "max_peers",
            "max_peers_per_ip",
            "max_connections_per_ip",
            "max_pending_per_ip",
        ):
            if getattr(self, name) < 1:
                raise NetworkConfigError(f"{name} must be at least 1")
        for network in self.unlimited_networks:
            try:
                ipaddress.ip_network(network)
            except ValueError:
                raise NetworkConfigError(
                    f"unlimited_networks: {network!r} is not an address range like 10.0.0.0/8"
                ) from None
        if self.ban_score >= 0:
            raise NetworkConfigError("ban_score must be negative")
        for name in (
            "ban_seconds",
            "score_half_life",
            "reconnect_min_delay",
            "write_timeout",
            "handshake_timeout",
        ):
            if getattr(self, name) <= 0:
                raise NetworkConfigError(f"{name} must be positive")
        if self.reconnect_max_delay < self.reconnect_min_delay:
            raise NetworkConfigError("reconnect_max_delay must be >= reconnect_min_delay")
        if self.peer_queue_bytes < self.max_frame_bytes:
            raise NetworkConfigError("peer_queue_bytes must hold at least one largest message")
        for address in self.bootnodes:
            parse_peer_address(address)

    @property
    def max_frame_bytes(self) -> int:
        """The largest gossip frame this node accepts: its largest topic's largest message, with
        the frame's kind, topic and message id."""
        largest = max(limits.max_message_bytes for limits in self.topics.values())
        return largest + 2 + _MAX_NAME_LEN + MESSAGE_ID_LEN

    @property
    def listen_multiaddr(self) -> multiaddr.Multiaddr:
        """Where to listen, as libp2p wants it."""
        family = "ip6" if ":" in self.listen_host else "ip4"
        return multiaddr.Multiaddr(f"/{family}/{self.listen_host}/tcp/{self.port}")

    @property
    def reserved_peer_ids(self) -> frozenset[str]:
        """The peers kept a slot: the reserved peers and the bootnodes."""
        return frozenset(self.reserved_peers) | {peer for peer, _ in self.bootnode_addresses()}

    @property
    def max_inbound_streams(self) -> int:
        """Streams a peer may have open to us on one connection at once, negotiating included:
        twice what an honest peer opens at most (its gossip streams and its requests, which it
        keeps under each protocol's `max_concurrent_per_peer`), for streams still closing."""
        requests = sum(limits.max_concurrent_per_peer for limits in self.request_protocols.values())
        return 2 * (MAX_INBOUND_GOSSIP_STREAMS + requests) + 8

    def is_per_ip_limited(self, ip: str) -> bool:
        """Whether the per-IP limits apply to `ip` (it is not in `unlimited_networks`)."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return True
        return not any(
            address in ipaddress.ip_network(network) for network in self.unlimited_networks
        )

    def protocol_id(self, name: str) -> str:
        """The full libp2p protocol id of `name` (a request protocol or the gossip streams)."""
        return f"{self.protocol_prefix}/{name}"

    def bootnode_addresses(self) -> list[tuple[str, multiaddr.Multiaddr]]:
        """Each bootnode as (peer id, its TCP address without the /p2p part)."""
        return [parse_peer_address(address) for address in self.bootnodes]


def protocol_prefix_for(genesis_hash: bytes, chain: str = "xpl") -> str:
    """The protocol prefix of the chain with this genesis: `/xpl/<first 16 hex of the hash>`."""
    return f"/{chain}/{genesis_hash.hex()[:16]}"


def parse_peer_address(address: str) -> tuple[str, multiaddr.Multiaddr]:
    """(peer id, transport address) of `/ip4/H/tcp/P/p2p/ID`; NetworkConfigError if malformed."""
    try:
        parsed = multiaddr.Multiaddr(address)
        peer = parsed.value_for_protocol("p2p")
        parsed.value_for_protocol("tcp")
    except (MultiaddrError, ValueError) as exc:
        raise NetworkConfigError(
            f"peer address {address!r}: expected /ip4/HOST/tcp/PORT/p2p/PEERID ({exc})"
        ) from exc
    if not peer:
        raise NetworkConfigError(f"peer address {address!r}: the /p2p/PEERID part is missing")
    transport = parsed.decapsulate(multiaddr.Multiaddr(f"/p2p/{peer}"))
    return str(peer), transport


def parse_peer_id(text: str) -> str:
    """A peer id as `--reserved-nodes` takes it (base58, as in `/p2p/PEERID`); NetworkConfigError
    if it is not one."""
    try:
        peer = multiaddr.Multiaddr(f"/p2p/{text}").value_for_protocol("p2p")
    except (MultiaddrError, ValueError) as exc:
        raise NetworkConfigError(f"peer id {text!r}: not a base58 libp2p peer id ({exc})") from exc
    return str(peer)


def _check_name(kind: str, name: str) -> None:
    if len(name) > _MAX_NAME_LEN or not _NAME.fullmatch(name):
        raise NetworkConfigError(
            f"{kind} {name!r}: use up to {_MAX_NAME_LEN} characters of a-z, 0-9, _, - and /"
        )
