"""What a node lets in before it knows a peer: inbound connections per IP address, their
handshakes, and the streams a peer opens on one connection.

py-libp2p 0.8.1's swarm takes a slot of its inbound limiter for each inbound connection and gives
it back only when the task that accepted the connection ends; for a connection that completed its
handshake, that task waits for the whole swarm to stop (`Swarm._do_handle_inbound_connection`,
`await self.manager.wait_finished()`). Every inbound connection a node ever accepted thus kept
its slot, and after about 3 * `max_peers` of them over the node's lifetime (honest peers
reconnecting included) every new one was refused until a restart. `InboundGate` replaces that
handler: the slot is held while the connection is open and given back when it closes.

The gate also bounds, per remote IP address, the connections being set up or open and those
still in their handshake (`NetworkConfig.max_connections_per_ip`, `max_pending_per_ip`), and the
swarm's handshake timeout is the node's `handshake_timeout`. `StreamGate` caps the streams a peer
has open on one connection (negotiating included) and charges the peer for each stream beyond.
(The swarm's connection gate and metrics, which the replaced handler consulted, are not used by
this node: nothing configures them.)
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Final, TypeVar

import trio
from libp2p.abc import IMuxedConn, INetStream
from libp2p.io.abc import ReadWriteCloser
from libp2p.network.connection.raw_connection import RawConnection
from libp2p.network.swarm import Swarm
from libp2p.stream_muxer.yamux.yamux import Yamux
from multiaddr import Multiaddr

from p2p.config import NetworkConfig
from p2p.scoring import TOO_MANY_STREAMS

log = logging.getLogger("xpl.p2p")

CLOSED_CHECK_SECONDS: Final = 5.0
"""How often a held slot checks that its connection is still the swarm's (a connection the swarm
dropped without closing its multiplexer would otherwise keep the slot)."""

_K = TypeVar("_K")

Refuse = Callable[[str], None]
"""Counts a refused connection under its reason."""


class InboundGate:
    """Accepts the swarm's inbound connections within the node's per-IP limits, and holds each
    one's inbound slot until the connection closes."""

    def __init__(self, swarm: Swarm, config: NetworkConfig, refuse: Refuse) -> None:
        self._swarm = swarm
        self._config = config
        self._refuse = refuse
        self.pending: Counter[str] = Counter()
        """Inbound connections still in their handshake, by remote IP."""
        self.open: Counter[str] = Counter()
        """Inbound connections being set up or open, by remote IP."""

    def install(self) -> None:
        """Handle the swarm's inbound connections from now on (call before it listens)."""
        # The swarm's listeners call the handler through the instance, so an instance
        # attribute takes the place of the method.
        self._swarm._handle_inbound_connection = self.handle  # type: ignore[method-assign,assignment]

    @property
    def slots_taken(self) -> int:
        """Inbound slots held now (the swarm's limiter)."""
        return int(self._swarm._inbound_limiter.borrowed_tokens)

    async def handle(self, stream: ReadWriteCloser, maddr: Multiaddr) -> None:
        """Admit one inbound TCP connection, upgrade it, and hold its slot until it closes."""
        remote = stream.get_remote_address()
        ip = remote[0] if remote is not None else ""
        limited = self._config.is_per_ip_limited(ip)
        refusal = None
        if limited and self.pending[ip] >= self._config.max_pending_per_ip:
            refusal = "pending_per_ip"
        elif limited and self.open[ip] >= self._config.max_connections_per_ip:
            refusal = "connections_per_ip"
        elif not _take(self._swarm._inbound_limiter):
            refusal = "inbound_slots"
        if refusal is not None:
            self._refuse(refusal)
            log.debug("refused an inbound connection from %s: %s", ip, refusal)
            await _close_quietly(stream)
            return
        self.open[ip] += 1
        try:
            muxed = await self._upgrade(stream, maddr, ip)
            if muxed is not None:
                await self._wait_closed(muxed)
        finally:
            self._swarm._inbound_limiter.release()
            _decrement(self.open, ip)

    async def _upgrade(
        self, stream: ReadWriteCloser, maddr: Multiaddr, ip: str
    ) -> IMuxedConn | None:
        """Secure and multiplex the connection and add it to the swarm; None if that failed
        (the swarm closes what it set up; a timeout is `handshake_timeout`)."""
        self.pending[ip] += 1
        raw = RawConnection(stream, False)
        try:
            return await self._swarm.upgrade_inbound_raw_conn(raw, maddr)
        except Exception as exc:  # whatever the upgrade raises, the connection is refused
            log.debug("an inbound connection from %s failed its handshake: %r", ip, exc)
            await _close_quietly(raw)
            return None
        finally:
            _decrement(self.pending, ip)

    async def _wait_closed(self, muxed: IMuxedConn) -> None:
        while not muxed.is_closed:
            with trio.move_on_after(CLOSED_CHECK_SECONDS):
                if isinstance(muxed, Yamux):
                    await muxed.event_closed.wait()
                    return
                await trio.sleep(CLOSED_CHECK_SECONDS)
            if not any(conn.muxed_conn is muxed for conn in self._swarm.get_connections()):
                await _close_quietly(muxed)
                return


class StreamGate:
    """Caps the streams a peer has open to us on one connection, and charges it beyond the cap.

    Wraps the swarm's handler of every new inbound stream (which negotiates the protocol, then
    serves it), so a stream counts from its opening to the end of its handling. A stream beyond
    the cap is reset at once and costs its peer `TOO_MANY_STREAMS`. Within the cap a peer can
    still keep `max_inbound_streams` streams open on each of its connections (a few per peer id,
    as py-libp2p allows), each for up to the negotiation timeout if it stays silent, and it can
    open and close streams one after another without a charge: each costs a protocol
    negotiation, and the request rate limits count only the requests that follow one.
    """

    def __init__(
        self,
        swarm: Swarm,
        max_streams: int,
        charge: Callable[[str, float, str], None],
    ) -> None:
        self._swarm = swarm
        self._max_streams = max_streams
        self._charge = charge
        self._serve = swarm.common_stream_handler
        self.open: Counter[int] = Counter()
        """Streams open, by connection (the id of its multiplexed connection)."""
        self.refused = 0
        """Streams reset for being over the cap."""

    def install(self) -> None:
        """Wrap the swarm's stream handler (call after the host has set it)."""
        self._serve = self._swarm.common_stream_handler
        self._swarm.common_stream_handler = self.handle

    async def handle(self, stream: INetStream) -> None:
        """Serve a new inbound stream, or reset it if its connection is at the cap."""
        connection = id(stream.muxed_conn)
        if self.open[connection] >= self._max_streams:
            self.refused += 1
            self._charge(
                str(stream.muxed_conn.peer_id),
                TOO_MANY_STREAMS,
                f"opened over {self._max_streams} streams on one connection",
            )
            await _reset_quietly(stream)
            return
        self.open[connection] += 1
        try:
            await self._serve(stream)
        finally:
            _decrement(self.open, connection)


def _take(limiter: trio.CapacityLimiter) -> bool:
    try:
        limiter.acquire_nowait()
    except trio.WouldBlock:
        return False
    return True


def _decrement(counter: Counter[_K], key: _K) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


async def _close_quietly(closable: ReadWriteCloser | RawConnection | IMuxedConn) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(1.0):
        try:
            await closable.close()
        except Exception as exc:  # a socket that is already gone
            log.debug("closing a refused connection: %r", exc)


async def _reset_quietly(stream: INetStream) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(1.0):
        try:
            await stream.reset()
        except Exception as exc:
            log.debug("resetting a refused stream: %r", exc)
