"""Inbound limits: slots given back when connections close, per-IP limits on connections,
handshakes and sessions with reserved peers let in, and the cap on a peer's streams."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

import multiaddr
import pytest
import trio
from libp2p.abc import INetConn, INetStream
from libp2p.custom_types import TProtocol
from libp2p.host.basic_host import BasicHost
from libp2p.peer.id import ID

from p2p import churn
from p2p.config import NOTIFICATIONS_NAME
from p2p.host import build_host, close_host, close_quietly
from p2p.scoring import TOO_MANY_STREAMS
from tests.p2p.nodes import (
    PREFIX,
    Node,
    connected,
    eventually,
    peer_id,
    run_scenario,
    seed,
    start_node,
)

pytestmark = pytest.mark.timeout(60)

NO_IP_EXEMPTION = {"unlimited_networks": ()}
"""The per-IP limits apply to 127.0.0.1 too (every test peer's address)."""


@asynccontextmanager
async def dialer(index: int) -> AsyncIterator[BasicHost]:
    """A bare libp2p host with test node `index`'s key that accepts the gossip streams a node
    opens to it (so the node's session with it opens) and ignores them."""
    host = build_host(seed(index), max_connections=16, dial_timeout=5)

    async def ignore(stream: INetStream) -> None:
        while await stream.read(65536):
            pass

    host.set_stream_handler(TProtocol(f"{PREFIX}/{NOTIFICATIONS_NAME}"), ignore)
    async with host.run([multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        try:
            yield host
        finally:
            with trio.CancelScope(shield=True):
                await close_host(host)


async def dial(host: BasicHost, node: Node) -> INetConn:
    """Connect `host` to `node` (the handshake done); raises if the node refuses."""
    address = multiaddr.Multiaddr(node.address.split("/p2p/")[0])
    swarm = host.get_network()
    conn: INetConn = await swarm.dial_addr(address, ID.from_base58(node.peer))  # type: ignore[attr-defined]
    return conn


def test_inbound_slots_come_back_when_connections_close() -> None:
    """500 connections (20 peers, 25 each in turn), each set up and closed, to a node with 38
    inbound slots (max_peers 10): py-libp2p's own handler kept each slot until the node stopped,
    so the 39th was refused."""
    lanes, per_lane = 20, 25

    async def scenario(nursery: trio.Nursery) -> None:
        node = await start_node(nursery, 0, max_peers=10)

        async def lane(index: int) -> None:
            async with dialer(100 + index) as host:
                for _ in range(per_lane):
                    conn = await dial(host, node)
                    await close_quietly(conn)

        async with trio.open_nursery() as lanes_nursery:
            for index in range(lanes):
                lanes_nursery.start_soon(lane, index)
        honest = await start_node(nursery, 1, boot=(node,))
        await connected((node, honest))
        assert node.network.inbound is not None
        await eventually(lambda: node.network.inbound.slots_taken == 1, what="slots given back")

    run_scenario(scenario, deadline=50)


def test_one_address_gets_max_peers_per_ip_sessions_and_a_reserved_peer_still_gets_in() -> None:
    """48 keys from one address filled a node's max_peers: now they get max_peers_per_ip of the
    slots, and a reserved peer (a validator) from that address is let in beyond them."""

    async def scenario(nursery: trio.Nursery) -> None:
        node = await start_node(
            nursery, 0, max_peers_per_ip=3, reserved_peers=(peer_id(9),), **NO_IP_EXEMPTION
        )
        async with (
            dialer(1) as a,
            dialer(2) as b,
            dialer(3) as c,
            dialer(4) as d,
            dialer(9) as reserved,
        ):
            for host in (a, b, c):
                await dial(host, node)
            await eventually(lambda: len(node.peers()) == 3, what="three sessions")
            await dial(d, node)  # the handshake succeeds; the session is refused
            await eventually(lambda: node.network.stats.connections_refused["peers_per_ip"] >= 1)
            await dial(reserved, node)
            await eventually(lambda: peer_id(9) in node.peers(), what="the reserved peer in")
            assert node.peers() == {peer_id(i) for i in (1, 2, 3, 9)}

    run_scenario(scenario)


def test_one_address_gets_max_connections_per_ip_connections() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        node = await start_node(nursery, 0, max_connections_per_ip=3, **NO_IP_EXEMPTION)
        async with dialer(1) as a, dialer(2) as b, dialer(3) as c, dialer(4) as d:
            first = await dial(a, node)
            for host in (b, c):
                await dial(host, node)
            await eventually(lambda: len(node.peers()) == 3, what="three sessions")
            with pytest.raises(Exception):  # noqa: B017 (py-libp2p's dial errors vary)
                await dial(d, node)
            assert node.network.stats.connections_refused["connections_per_ip"] >= 1
            await close_quietly(first)  # a's slot comes back
            await eventually(lambda: peer_id(1) not in node.peers())
            await dial(d, node)
            await eventually(lambda: peer_id(4) in node.peers(), what="d in once a left")

    run_scenario(scenario)


def silent_sockets(count: int, port: int, source: str) -> ExitStack:
    """`count` TCP connections to 127.0.0.1:`port` from `source` that never send a byte."""
    stack = ExitStack()
    for _ in range(count):
        sock = stack.enter_context(socket.socket())
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
    return stack


def test_silent_sockets_from_one_address_hold_only_its_pending_slots() -> None:
    """Silent sockets held every inbound slot through the handshake timeout: now one address
    holds max_pending_per_ip of them, and peers from other addresses still connect."""

    async def scenario(nursery: trio.Nursery) -> None:
        node = await start_node(nursery, 0, max_peers=10, **NO_IP_EXEMPTION)
        port = int(node.address.split("/tcp/")[1].split("/")[0])
        with silent_sockets(60, port, "127.0.0.2"):  # more than the node's 38 inbound slots
            await eventually(lambda: node.network.stats.connections_refused["pending_per_ip"] > 0)
            honest = await start_node(nursery, 1, boot=(node,))
            await connected((node, honest))
            assert node.network.inbound is not None
            assert node.network.inbound.pending["127.0.0.2"] <= 4

    run_scenario(scenario)


def test_silent_sockets_are_closed_after_the_handshake_timeout() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        node = await start_node(nursery, 0, handshake_timeout=0.5)
        port = int(node.address.split("/tcp/")[1].split("/")[0])
        with silent_sockets(3, port, "127.0.0.1"):
            assert node.network.inbound is not None
            await eventually(lambda: node.network.inbound.slots_taken == 3, what="3 handshaking")
            await eventually(lambda: node.network.inbound.slots_taken == 0, timeout=3)

    run_scenario(scenario)


def test_a_peer_opening_too_many_streams_is_charged_and_banned() -> None:
    """Streams beyond max_inbound_streams on one connection are reset and cost the peer."""

    async def scenario(nursery: trio.Nursery) -> None:
        node = await start_node(nursery, 0)
        cap = node.config.max_inbound_streams
        async with dialer(1) as host:
            conn = await dial(host, node)
            await eventually(lambda: peer_id(1) in node.peers())
            assert node.network.streams is not None
            gate = node.network.streams
            streams = [await conn.muxed_conn.open_stream() for _ in range(cap - 8)]
            await eventually(lambda: sum(gate.open.values()) == cap - 8, what="streams served")
            assert node.network.score(peer_id(1)) == 0  # within the cap: free
            streams += [await conn.muxed_conn.open_stream() for _ in range(30)]
            await eventually(lambda: node.network.is_banned(peer_id(1)), what="banned")
            assert gate.refused * TOO_MANY_STREAMS >= 100
            await eventually(lambda: peer_id(1) not in node.peers())

    run_scenario(scenario)


def test_the_churn_measurement_counts_connections_and_honest_nodes() -> None:
    figures = trio.run(churn.run_churn, 100, 10)
    assert (figures.connections, figures.failed_dials) == (100, 0)
    assert figures.honest_connects == figures.honest_tries == churn.CHECKPOINTS
    assert figures.inbound_slots_held == 0
    assert "100 connections opened and closed" in churn.format_figures(figures)
