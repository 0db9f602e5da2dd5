"""The py-libp2p host under the network: Noise only, yamux only, TCP, and nothing automatic.

py-libp2p's defaults do more than XPL wants, and some of it works against it (see
notes/libp2p.md), so the host is put together by hand:

- security is Noise alone: a default host also accepts TLS, secio and plaintext;
- the muxer is yamux alone (flow control per stream, which the gossip streams rely on);
- the swarm's auto-connector, which dials any peer in the peer store whenever it has fewer than
  its low watermark of connections, is switched off: it would redial banned and blocked peers.
  The network dials its bootnodes itself, one address each, with its own backoff (and without
  `dial_peer`'s 250 ms happy-eyeballs wait and 60 s negative cache);
- inbound connections are admitted by `p2p.inbound.InboundGate` (per-IP limits, and an inbound
  slot given back when its connection closes: py-libp2p's own handler keeps it until the swarm
  stops), and a peer's streams on one connection are capped by `p2p.inbound.StreamGate`;
- the identify exchange on every new connection is switched off: nothing here uses it, and it
  runs in system tasks that would outlive the network;
- py-libp2p listens with SO_REUSEPORT, so a second node on the same port would start and take
  half the first one's connections; `claim_port` first checks that the port is free;
- shutting down closes every connection and the listener explicitly (`close_host`): py-libp2p's
  own path, taken when its service is cancelled, awaits inside the cancelled scope and so leaves
  the sockets open;
- no resource manager: the network enforces its own per-peer limits on what it serves;
- the receiving side of a stream that carries large messages widens its yamux window at once
  (`widen_receive_window`): with the default 256 KiB window a 900 KB block needs four window
  round trips, and on a busy machine each waits for both processes to be scheduled.

Connection events reach the network through `ConnectionEvents`, a notifee that only queues them,
so the network handles them in its own task rather than inside libp2p's connection setup.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
from dataclasses import dataclass
from typing import Final

import multiaddr
import trio
from libp2p import new_swarm
from libp2p.abc import INetConn, INetStream, INetwork, INotifee
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.exceptions import BaseLibp2pError
from libp2p.host.basic_host import BasicHost, _IdentifyNotifee
from libp2p.network.auto_connector import AutoConnector
from libp2p.network.config import ConnectionConfig, RetryConfig
from libp2p.network.connection.swarm_connection import SwarmConn
from libp2p.network.stream.net_stream import NetStream
from libp2p.network.swarm import Swarm
from libp2p.rcmgr import Direction
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import MAX_WINDOW_SIZE, Yamux, YamuxStream
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID

from p2p.keys import key_pair_of

log = logging.getLogger("xpl.p2p")

NEGOTIATE_TIMEOUT: Final = 10
"""Seconds a peer gets to agree on a stream's protocol."""

LIBP2P_ERRORS: Final = (
    BaseLibp2pError,
    OSError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
)
"""What py-libp2p raises when a connection or stream goes away under an operation."""


class _NoAutoDial(AutoConnector):
    """The swarm's auto-connector, doing nothing: the network decides whom to dial."""

    async def maybe_connect(self) -> None:
        return


def build_host(
    node_key: bytes,
    *,
    max_connections: int,
    dial_timeout: float,
    handshake_timeout: float = 10.0,
) -> BasicHost:
    """A host with the node's identity, Noise, yamux and TCP, that dials only when told;
    `handshake_timeout` bounds an inbound connection's security and multiplexer upgrade."""
    key_pair = key_pair_of(node_key)
    noise = NoiseTransport(key_pair, noise_privkey=create_x25519_key_pair().private_key)
    connections = ConnectionConfig(
        max_connections=max_connections,
        min_connections=0,
        low_watermark=0,
        high_watermark=max_connections,
        dial_timeout=dial_timeout,
        inbound_upgrade_timeout=handshake_timeout,
    )
    swarm = new_swarm(
        key_pair=key_pair,
        sec_opt={TProtocol(NOISE_PROTOCOL_ID): noise},
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
        retry_config=RetryConfig(max_retries=0),
        connection_config=connections,
    )
    assert isinstance(swarm, Swarm)
    swarm.auto_connector = _NoAutoDial(swarm)
    host = BasicHost(swarm, negotiate_timeout=NEGOTIATE_TIMEOUT)
    for notifee in list(swarm.notifees):
        if isinstance(notifee, _IdentifyNotifee):
            swarm.remove_notifee(notifee)
    return host


def claim_port(host: str, port: int) -> None:
    """Raise OSError if something listens on (host, port) already. py-libp2p binds with
    SO_REUSEPORT, which would let it share the port; a socket without it cannot. (SO_REUSEADDR
    lets the port be taken again while old connections to it linger in TIME_WAIT.)"""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


CLOSE_TIMEOUT: Final = 5.0
"""How long shutting down waits for connections to close before giving up on them."""


async def close_host(host: BasicHost) -> None:
    """Close every connection (all at once: each takes 0.1 s), the listeners and the transports.

    Call it shielded from cancellation; it gives up after CLOSE_TIMEOUT.
    """
    swarm = host.get_network()
    with trio.move_on_after(CLOSE_TIMEOUT) as scope:
        async with trio.open_nursery() as nursery:
            for conn in [c for conns in swarm.get_connections_map().values() for c in conns]:
                nursery.start_soon(close_quietly, conn)
        await host.close()
    if scope.cancelled_caught:
        log.warning("gave up closing the network's connections after %g s", CLOSE_TIMEOUT)


async def close_quietly(conn: INetConn) -> None:
    """Close a connection, shielded from cancellation and for at most CLOSE_TIMEOUT; one that
    fails to close cleanly is gone all the same. (A `SwarmConn.close` that is cancelled half-way
    marks the connection closed but leaves its socket open, and a second call does nothing: the
    muxed connection is then closed directly.)"""
    with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
        try:
            await conn.close()
            if not conn.muxed_conn.is_closed:
                await conn.muxed_conn.close()
        except LIBP2P_ERRORS as exc:
            log.debug("closing a connection: %r", exc)


STREAM_CLOSE_TIMEOUT: Final = 1.0
"""How long closing or resetting a stream may take (it writes a frame, which a stalled peer may
never let through)."""


async def end_stream(stream: INetStream, *, graceful: bool) -> None:
    """Close `stream` (graceful) or reset it, even under cancellation, within a second."""
    with trio.CancelScope(shield=True), trio.move_on_after(STREAM_CLOSE_TIMEOUT):
        try:
            await (stream.close() if graceful else stream.reset())
        except LIBP2P_ERRORS as exc:
            log.debug("ending a stream: %r", exc)


@dataclass(frozen=True)
class ConnectionEvent:
    """A connection that opened (`up`) or closed."""

    conn: INetConn
    up: bool

    @property
    def peer(self) -> str:
        """The peer at the other end."""
        return str(self.conn.muxed_conn.peer_id)


class ConnectionEvents(INotifee):
    """Queues libp2p's connection events for the network's own task; drops them once closed."""

    def __init__(self) -> None:
        self._send, self.receive = trio.open_memory_channel[ConnectionEvent](math.inf)

    def close(self) -> None:
        """Stop queueing (the network is shutting down)."""
        self._send.close()

    def _put(self, event: ConnectionEvent) -> None:
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            self._send.send_nowait(event)

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        """Queue a connection that came up."""
        self._put(ConnectionEvent(conn, up=True))

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        """Queue a connection that went down."""
        self._put(ConnectionEvent(conn, up=False))

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        """Streams are not followed."""
        return None

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        """Streams are not followed."""
        return None

    async def listen(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        """Listeners are not followed."""
        return None

    async def listen_close(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        """Listeners are not followed."""
        return None


async def widen_receive_window(stream: INetStream, size: int) -> None:
    """Let the peer send up to `size` bytes (at most yamux's 16 MiB) on `stream` before it must
    wait for us to read them."""
    muxed = stream.muxed_stream if isinstance(stream, NetStream) else None
    if not isinstance(muxed, YamuxStream):
        return
    size = min(size, MAX_WINDOW_SIZE)
    async with muxed.window_lock:
        increment = size - muxed.recv_window
        if increment <= 0:
            return
        muxed.recv_window += increment
        muxed.target_recv_window = max(muxed.target_recv_window, size)
    await muxed.send_window_update(increment)


def direction_of(conn: INetConn) -> str:
    """ "inbound" or "outbound": who dialed this connection."""
    if isinstance(conn, SwarmConn) and conn.direction is Direction.OUTBOUND:
        return "outbound"
    return "inbound"


def remote_address_of(conn: INetConn) -> str:
    """The connection's remote end as a multiaddr, e.g. /ip4/127.0.0.1/tcp/50123."""
    muxed = conn.muxed_conn
    remote = muxed.get_remote_address() if isinstance(muxed, Yamux) else None
    if remote is None:
        return ""
    host, port = remote
    return f"/ip6/{host}/tcp/{port}" if ":" in host else f"/ip4/{host}/tcp/{port}"


def remote_ip_of(conn: INetConn) -> str:
    """The IP address of the connection's remote end ("" if unknown)."""
    muxed = conn.muxed_conn
    remote = muxed.get_remote_address() if isinstance(muxed, Yamux) else None
    return "" if remote is None else remote[0]
