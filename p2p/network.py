"""The node's network: peers, gossip, requests and the defences around them, on py-libp2p.

    network = Network(config, handler)          # config: p2p.config.NetworkConfig
    async with trio.open_nursery() as nursery:
        await nursery.start(network.run)        # listening once this returns
        network.publish("blocks", block_bytes)  # never blocks; paced; drops are counted
        network.send(peer, "votes", vote_bytes) # one peer, not relayed
        answer = await network.request(peer, "sync", query)   # RequestFailed says why not
        network.report(peer, 50, "sent an invalid block")     # lower its score; banned at -100

The node implements `p2p.handler.NetworkHandler`: the network calls it on the trio thread when a
peer of this chain connects or disconnects, for each new gossip message (whose verdict decides
whether it is relayed: see `p2p.gossip`) and for each request (see `p2p.requests`).

`run` listens, dials the bootnodes and keeps them connected (redialing with exponential backoff,
0.5 s to 30 s by default, when they drop), and runs until cancelled; cancelling it closes every
stream, connection and listener, and no task it started outlives it. A peer is "connected" once
our gossip streams to it are negotiated: that proves it serves this chain's protocol prefix, so a
node of another chain is disconnected before it can exchange anything.

Defence: every topic and protocol has a size cap and per-peer rate limits (`p2p.config`); bad
input (malformed frames, oversized or excess messages, REJECT verdicts, refused requests, and what
the node reports) lowers the sender's score (`p2p.scoring`), and at the ban score the peer is
disconnected and its connections are refused, and it is not dialed, for `ban_seconds`.
Inbound connections are limited per remote IP address (those being set up, those in their
handshake, and sessions: `p2p.inbound`, `NetworkConfig`); the reserved peers and the bootnodes
are let in beyond `max_peers` and the per-IP session limit. A peer's streams on one connection
are capped, and each one beyond the cap costs it.
`set_blocked` is a filter for tests (partitions): it drops connections to and from the given
peers and refuses new ones until they are unblocked.
"""

from __future__ import annotations

import functools
import logging
import math
import random
from collections.abc import Callable, Iterable
from typing import Any, Final

import trio
from libp2p.abc import INetConn, INetStream
from libp2p.custom_types import TProtocol
from libp2p.host.basic_host import BasicHost
from libp2p.host.exceptions import StreamFailure
from libp2p.network.swarm import Swarm
from libp2p.peer.id import ID
from multiaddr import Multiaddr

from p2p import stats
from p2p.config import MAX_INBOUND_GOSSIP_STREAMS, NOTIFICATIONS_NAME, NetworkConfig
from p2p.errors import FailureReason, ListenError, RequestFailed
from p2p.gossip import Gossip
from p2p.handler import GossipVerdict, NetworkHandler
from p2p.host import (
    LIBP2P_ERRORS,
    NEGOTIATE_TIMEOUT,
    ConnectionEvent,
    ConnectionEvents,
    build_host,
    claim_port,
    close_host,
    close_quietly,
    direction_of,
    end_stream,
    remote_address_of,
    remote_ip_of,
    widen_receive_window,
)
from p2p.inbound import InboundGate, StreamGate
from p2p.keys import peer_id_of
from p2p.requests import Requests, request_protocols
from p2p.scoring import PeerScores
from p2p.session import PeerInfo, PeerSession
from p2p.stats import NetworkStats

__all__ = ["GossipVerdict", "Network", "NetworkHandler", "PeerInfo"]

log = logging.getLogger("xpl.p2p")

STABLE_SESSION_SECONDS: Final = 10.0
"""A bootnode session that lasted this long resets the redial backoff."""
GOSSIP_STREAM_ATTEMPTS: Final = 3
"""Times a broken gossip stream to a still-connected peer is reopened before disconnecting."""


class Network:
    """One node's presence on the network of its chain."""

    def __init__(self, config: NetworkConfig, handler: NetworkHandler) -> None:
        self.config = config
        self.handler = handler
        self.peer_id = peer_id_of(config.node_key)
        self.listen_addresses: list[str] = []
        """Full multiaddrs, /p2p/<peer id> included, once `run` is listening."""
        self.stats = NetworkStats()
        self._scores = PeerScores(
            ban_score=config.ban_score,
            ban_seconds=config.ban_seconds,
            half_life=config.score_half_life,
        )
        self._sessions: dict[str, PeerSession] = {}
        self._blocked: frozenset[str] = frozenset()
        self._bootnodes = [(p, a) for p, a in config.bootnode_addresses() if p != self.peer_id]
        self._reserved = config.reserved_peer_ids - {self.peer_id}
        """Peers let in whatever the limits: the bootnodes and the reserved peers."""
        self._gossip = Gossip(config, handler, self._sessions, self.stats, self._penalize)
        self._requests = Requests(config, handler, self.stats, self._penalize)
        self._host: BasicHost | None = None
        self._nursery: trio.Nursery | None = None
        self._to_close, self._closing = trio.open_memory_channel[str](math.inf)
        """Peers whose connections `_close_connections` is to close."""
        self._changed = trio.Event()
        self.inbound: InboundGate | None = None
        """The admission of inbound connections while running (its per-IP counts)."""
        self.streams: StreamGate | None = None
        """The cap on a peer's streams per connection while running."""

    # The node's interface

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen, keep the bootnodes connected and serve peers until cancelled."""
        if self._host is not None:
            raise RuntimeError("this Network is already running")
        host = build_host(
            self.config.node_key,
            max_connections=3 * (self.config.max_peers + len(self._reserved)) + 8,
            dial_timeout=self.config.dial_timeout,
            handshake_timeout=self.config.handshake_timeout,
        )
        swarm = host.get_network()
        assert isinstance(swarm, Swarm)
        self.inbound = InboundGate(swarm, self.config, self._count_refusal)
        self.inbound.install()
        events = ConnectionEvents()
        swarm.register_notifee(events)
        self._to_close, self._closing = trio.open_memory_channel[str](math.inf)
        host.set_stream_handler(
            TProtocol(self.config.protocol_id(NOTIFICATIONS_NAME)), self._serve_gossip_stream
        )
        for protocol_id, name in request_protocols(self.config).items():
            host.set_stream_handler(protocol_id, functools.partial(self._serve_request, name))
        self.streams = StreamGate(swarm, self.config.max_inbound_streams, self._penalize)
        self.streams.install()
        try:
            claim_port(self.config.listen_host, self.config.port)
        except OSError as exc:
            raise ListenError(
                f"cannot listen on {self.config.listen_host}:{self.config.port}: {exc.strerror}"
            ) from exc
        try:
            async with host.run([self.config.listen_multiaddr]):
                try:
                    addresses = host.get_transport_addrs()
                    if not addresses:
                        raise ListenError(
                            f"cannot listen on {self.config.listen_host}:{self.config.port} "
                            "(the port is in use, or the address is not this machine's)"
                        )
                    self.listen_addresses = [f"{a}/p2p/{self.peer_id}" for a in addresses]
                    async with trio.open_nursery() as nursery:
                        self._host, self._nursery = host, nursery
                        nursery.start_soon(self._follow_connections, events.receive)
                        nursery.start_soon(self._close_connections)
                        for peer, address in self._bootnodes:
                            nursery.start_soon(self._keep_connected, peer, address)
                        log.info("listening on %s", ", ".join(self.listen_addresses))
                        task_status.started()
                        await trio.sleep_forever()
                finally:
                    self._host = self._nursery = None
                    with trio.CancelScope(shield=True):
                        await close_host(host)
        finally:
            events.close()
            self._host = self._nursery = None
            self.listen_addresses = []
            log.info("network stopped")

    def peers(self) -> list[PeerInfo]:
        """The connected peers of this chain."""
        now = trio.current_time()
        return [
            session.info(self._scores.score(session.peer, now))
            for session in self._sessions.values()
            if session.opened.is_set() and not session.closed
        ]

    def publish(self, topic: str, data: bytes) -> None:
        """Gossip `data` on `topic` to every peer; never blocks. Raises UnknownTopic or
        MessageTooLarge; messages that cannot be queued are counted in `stats.dropped`."""
        self._gossip.publish(topic, data)

    def send(self, peer: str, topic: str, data: bytes) -> None:
        """Send `data` on `topic` to one connected peer, which will not relay it; never blocks.
        Raises NotConnected, UnknownTopic or MessageTooLarge."""
        self._gossip.send(peer, topic, data)

    async def request(
        self, peer: str, protocol: str, data: bytes, *, timeout: float | None = None
    ) -> bytes:
        """Ask `peer` and return its answer; raises RequestFailed, whose `reason` says why not.
        `timeout` defaults to the protocol's."""
        if self._host is None:
            raise RequestFailed(peer, protocol, FailureReason.NOT_CONNECTED, "not running")
        session = self._sessions.get(peer)
        return await self._requests.request(self._host, session, peer, protocol, data, timeout)

    def report(self, peer: str, cost: int, reason: str) -> None:
        """Lower `peer`'s score by `cost` for `reason`; at the ban score it is disconnected and
        banned for `config.ban_seconds`."""
        if cost < 0:
            raise ValueError("a cost is not negative")
        self._penalize(peer, cost, reason)

    def score(self, peer: str) -> float:
        """The peer's score now (0 for one never penalized)."""
        return self._scores.score(peer, trio.current_time())

    def is_banned(self, peer: str) -> bool:
        """Whether the peer is banned now."""
        return self._scores.is_banned(peer, trio.current_time())

    def set_blocked(self, peers: Iterable[str]) -> None:
        """For tests: drop connections to and from `peers` and refuse new ones, replacing the
        previous set; `set_blocked(())` heals the partition."""
        self._blocked = frozenset(peers)
        for peer in self._blocked:
            self._disconnect(peer)
        self._note_change()

    # Penalties

    def _penalize(self, peer: str, cost: float, reason: str) -> None:
        now = trio.current_time()
        banned = self._scores.penalize(peer, cost, now)
        log.debug("peer %s: -%g for %s", peer, cost, reason)
        if banned:
            self.stats.bans += 1
            log.warning(
                "banned peer %s for %g s: %s (score %.0f)",
                peer,
                self.config.ban_seconds,
                reason,
                self._scores.score(peer, now),
            )
            self._disconnect(peer)

    def _disconnect(self, peer: str) -> None:
        session = self._sessions.get(peer)
        if session is not None:
            session.close()
        if self._host is not None:
            self._to_close.send_nowait(peer)

    async def _close_connections(self) -> None:
        """Close the connections of the peers `_disconnect` names, one peer at a time. (At
        shutdown, `close_host` closes whatever is left: a close begun under cancellation would
        give up half-way and leave the socket open.)"""
        assert self._host is not None
        swarm = self._host.get_network()
        async for peer in self._closing:
            for conn in swarm.get_connections(ID.from_base58(peer)):
                await close_quietly(conn)

    # Connections and sessions

    def _note_change(self) -> None:
        """Wake whoever waits for a session to open or close, or for a block or ban to change."""
        self._changed.set()
        self._changed = trio.Event()

    async def _wait_change(self, timeout: float) -> None:
        with trio.move_on_after(timeout):
            await self._changed.wait()

    def _count_refusal(self, reason: str) -> None:
        self.stats.connections_refused[reason] += 1

    def _refusal(self, peer: str, direction: str, ip: str) -> str | None:
        """Why a new connection from or to `peer` must be closed at once, if it must."""
        if peer in self._blocked:
            return "blocked"
        if self._scores.is_banned(peer, trio.current_time()):
            return "banned"
        if direction != "inbound" or peer in self._reserved or peer in self._sessions:
            return None
        if len(self._sessions) >= self.config.max_peers:
            return "max_peers"
        if self.config.is_per_ip_limited(ip) and (
            sum(
                1
                for session in self._sessions.values()
                if session.ip == ip
                and session.direction == "inbound"
                and session.peer not in self._reserved
            )
            >= self.config.max_peers_per_ip
        ):
            return "peers_per_ip"
        return None

    async def _follow_connections(self, events: trio.MemoryReceiveChannel[ConnectionEvent]) -> None:
        async for event in events:
            if event.up:
                self._on_connection(event)
            elif self._host is not None and not self._host.get_network().get_connections(
                event.conn.muxed_conn.peer_id
            ):
                session = self._sessions.get(event.peer)
                if session is not None:
                    session.close()
                self._note_change()

    def _on_connection(self, event: ConnectionEvent) -> None:
        if not event.conn.is_closed:
            self._admit(event.conn)

    def _admit(self, conn: INetConn) -> None:
        """Start a session on a new connection, or refuse it."""
        assert self._nursery is not None
        peer = str(conn.muxed_conn.peer_id)
        direction = direction_of(conn)
        ip = remote_ip_of(conn)
        refusal = self._refusal(peer, direction, ip)
        if refusal is not None:
            self.stats.connections_refused[refusal] += 1
            log.info("refused a connection with %s: %s", peer, refusal.replace("_", " "))
            self._to_close.send_nowait(peer)
            return
        if peer in self._sessions:
            return
        session = PeerSession(
            conn.muxed_conn.peer_id,
            direction=direction,
            address=remote_address_of(conn),
            ip=ip,
            config=self.config,
        )
        self._sessions[peer] = session
        self._nursery.start_soon(self._run_session, session)

    async def _run_session(self, session: PeerSession) -> None:
        """Open the gossip streams to the peer and write to them while the session lasts; a
        session ends when cancelled (disconnect, ban, block, shutdown) or when its gossip
        stream cannot be opened or kept open (then the peer is disconnected)."""
        failed = True
        try:
            with session.scope:
                streams = {}
                for lane in session.outboxes:
                    stream = await self._open_gossip_stream(session)
                    if stream is None:
                        return
                    streams[lane] = stream
                session.opened.set()
                self._note_change()
                self._gossip.announce_peers()
                log.info(
                    "connected to %s (%s, %s)", session.peer, session.direction, session.address
                )
                self._tell_handler(self.handler.on_peer_connected, session.peer)
                async with trio.open_nursery() as writers:
                    for lane, stream in streams.items():
                        writers.start_soon(self._write_gossip, session, lane, stream, writers)
            failed = not session.scope.cancelled_caught
        finally:
            self._end_session(session, failed=failed)

    def _end_session(self, session: PeerSession, *, failed: bool) -> None:
        session.close()
        if self._sessions.get(session.peer) is session:
            del self._sessions[session.peer]
        dropped = sum(outbox.clear() for outbox in session.outboxes.values())
        if dropped:
            self.stats.dropped[stats.DISCONNECTED] += dropped
        if session.opened.is_set():
            self._gossip.announce_peers()
            log.info("disconnected from %s", session.peer)
            self._tell_handler(self.handler.on_peer_disconnected, session.peer)
        self._note_change()
        if self._host is None or trio.current_effective_deadline() == -math.inf:
            return  # the network is shutting down: close_host closes what is left
        connections = self._host.get_network().get_connections(session.peer_id)
        if not connections:
            return
        if failed:
            self._disconnect(session.peer)
        else:  # a new connection came up while this session was ending
            self._admit(connections[0])

    async def _open_gossip_stream(self, session: PeerSession) -> INetStream | None:
        assert self._host is not None
        protocol = TProtocol(self.config.protocol_id(NOTIFICATIONS_NAME))
        try:
            with trio.fail_after(NEGOTIATE_TIMEOUT + 5):
                return await self._host.new_stream(session.peer_id, [protocol])
        except StreamFailure:
            if self._host.get_network().get_connections(session.peer_id):
                self.stats.connections_refused["incompatible"] += 1
                log.info(
                    "peer %s does not serve %s: another chain or version", session.peer, protocol
                )
        except (trio.TooSlowError, *LIBP2P_ERRORS) as exc:
            log.info("cannot open the gossip stream to %s: %r", session.peer, exc)
        return None

    async def _write_gossip(
        self, session: PeerSession, lane: str, stream: INetStream, writers: trio.Nursery
    ) -> None:
        """Write one lane of the session's gossip, reopening its stream a few times if it
        breaks; if it cannot be kept open, stop the session's writers (and so the session)."""
        for attempt in range(GOSSIP_STREAM_ATTEMPTS):
            try:
                await self._gossip.write_to(session.outboxes[lane], stream)
            except (trio.TooSlowError, *LIBP2P_ERRORS) as exc:
                log.info("the %s gossip stream to %s failed: %r", lane, session.peer, exc)
                await stream.reset()
            if attempt + 1 == GOSSIP_STREAM_ATTEMPTS:
                break
            await trio.sleep(0.2 * (attempt + 1))
            reopened = await self._open_gossip_stream(session)
            if reopened is None:
                break
            stream = reopened
        writers.cancel_scope.cancel()

    def _tell_handler(self, callback: Callable[[str], None], peer: str) -> None:
        try:
            callback(peer)
        except Exception:
            log.exception("the handler failed on %s(%s)", callback.__name__, peer)

    async def _open_session_of(self, peer: str) -> PeerSession | None:
        """The peer's open session, waiting a little for one being set up; None if there is
        none (the peer is blocked, banned, refused or speaks another protocol)."""
        with trio.move_on_after(NEGOTIATE_TIMEOUT + 5):
            while peer not in self._blocked:
                session = self._sessions.get(peer)
                if session is not None and session.opened.is_set():
                    return None if session.closed else session
                await self._wait_change(0.5)
        return None

    async def _serve_gossip_stream(self, stream: INetStream) -> None:
        """libp2p's handler for the gossip stream a peer opens to us."""

        async def serve(session: PeerSession, stream: INetStream) -> None:
            await widen_receive_window(stream, 2 * self.config.max_frame_bytes)
            await self._gossip.read_from(session, stream)

        await self._serve_stream(stream, serve, gossip=True)

    async def _serve_request(self, protocol: str, stream: INetStream) -> None:
        """libp2p's handler for a request stream."""

        async def serve(session: PeerSession, stream: INetStream) -> None:
            await self._requests.serve(session, protocol, stream)

        await self._serve_stream(stream, serve, gossip=False)

    async def _serve_stream(
        self,
        stream: INetStream,
        serve: Callable[[PeerSession, INetStream], Any],
        *,
        gossip: bool,
    ) -> None:
        """Run `serve` on a stream the peer opened, inside a scope its session can cancel. A
        request stream is ended by `serve` once answered; any other ends with a reset."""
        session = await self._open_session_of(str(stream.muxed_conn.peer_id))
        if session is None or (gossip and session.gossip_streams >= MAX_INBOUND_GOSSIP_STREAMS):
            await end_stream(stream, graceful=False)
            return
        scope = trio.CancelScope()
        session.inbound_scopes.add(scope)
        session.gossip_streams += gossip
        answered = False
        try:
            with scope:
                if not session.closed:
                    await serve(session, stream)
                    answered = not gossip
        except LIBP2P_ERRORS as exc:
            log.debug("a stream from %s failed: %r", session.peer, exc)
        finally:
            session.inbound_scopes.discard(scope)
            session.gossip_streams -= gossip
            if not answered:
                await end_stream(stream, graceful=False)

    # Bootnodes

    async def _keep_connected(self, peer: str, address: Multiaddr) -> None:
        """Dial a bootnode whenever it is not connected, backing off while it cannot be."""
        assert self._host is not None
        swarm = self._host.get_network()
        peer_id = ID.from_base58(peer)
        delay = self.config.reconnect_min_delay
        while True:
            if peer in self._blocked:
                await self._wait_change(self.config.reconnect_max_delay)
                continue
            ban_left = self._scores.banned_until(peer) - trio.current_time()
            if ban_left > 0:
                await trio.sleep(ban_left)
                continue
            session = self._sessions.get(peer)
            if session is not None or swarm.get_connections(peer_id):
                await self._wait_change(1.0)
                if session is not None and self._sessions.get(peer) is not session:
                    lasted = trio.current_time() - session.started
                    if session.opened.is_set() and lasted >= STABLE_SESSION_SECONDS:
                        delay = self.config.reconnect_min_delay
                    else:
                        await self._back_off(delay)
                        delay = min(2 * delay, self.config.reconnect_max_delay)
                continue
            try:
                with trio.move_on_after(self.config.dial_timeout):
                    await swarm.dial_addr(address, peer_id)
                    continue
            except LIBP2P_ERRORS as exc:
                log.debug("cannot dial bootnode %s: %r", peer, exc)
            await self._back_off(delay)
            delay = min(2 * delay, self.config.reconnect_max_delay)

    async def _back_off(self, delay: float) -> None:
        await trio.sleep(delay * random.uniform(0.8, 1.2))
