"""Peers connect through bootnodes, reconnect when a bootnode comes back, split and heal with
`set_blocked`, and never connect across protocol prefixes."""

from __future__ import annotations

import functools

import pytest
import trio

from chain.localnet import free_port
from p2p.errors import FailureReason, ListenError, RequestFailed
from tests.p2p.nodes import Node, config, connected, eventually, run_scenario, start_node

pytestmark = pytest.mark.timeout(60)


def both_received(a: Node, b: Node, count: int) -> bool:
    """Whether each of `a` and `b` has been delivered `count` messages."""
    return len(a.handler.received) == len(b.handler.received) == count


def test_two_hosts_connect_through_a_bootnode() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        a = await start_node(nursery, 0)
        b = await start_node(nursery, 1, boot=(a,))
        await connected((a, b))
        assert a.address.endswith(f"/p2p/{a.peer}") and a.address.startswith("/ip4/127.0.0.1/tcp/")
        (seen_by_b,) = b.network.peers()
        (seen_by_a,) = a.network.peers()
        assert (seen_by_b.peer, seen_by_b.direction, seen_by_b.score) == (a.peer, "outbound", 0.0)
        assert (seen_by_a.peer, seen_by_a.direction) == (b.peer, "inbound")
        assert seen_by_b.address == a.address.split("/p2p/")[0]
        assert a.handler.connected == [b.peer] and b.handler.connected == [a.peer]
        await b.stop()
        await eventually(lambda: a.handler.disconnected == [b.peer], what="a saw b leave")
        assert a.network.peers() == []

    run_scenario(scenario)


def test_three_hosts_connect_to_one_bootnode() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        a = await start_node(nursery, 0)
        b = await start_node(nursery, 1, boot=(a,))
        c = await start_node(nursery, 2, boot=(a,))
        await connected((a, b), (a, c))
        assert a.peers() == {b.peer, c.peer}
        assert b.peers() == {a.peer} and c.peers() == {a.peer}

    run_scenario(scenario)


def test_nodes_that_list_each_other_as_bootnodes_connect_once() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        port_a, port_b = free_port(), free_port()
        a_config = config(0, port=port_a)
        b_config = config(1, port=port_b)
        address_a = f"/ip4/127.0.0.1/tcp/{port_a}/p2p/{Node(a_config).peer}"
        address_b = f"/ip4/127.0.0.1/tcp/{port_b}/p2p/{Node(b_config).peer}"
        a = await Node(config(0, port=port_a, bootnodes=(address_b, address_a))).start(nursery)
        b = await Node(config(1, port=port_b, bootnodes=(address_a,))).start(nursery)
        await connected((a, b))
        # For half a second, while both keep their bootnodes dialed, messages go both ways on
        # the one connection, which is never replaced.
        for sent in range(1, 6):
            a.network.publish("votes", b"from a %d" % sent)
            b.network.publish("votes", b"from b %d" % sent)
            await eventually(functools.partial(both_received, a, b, sent))
            await trio.sleep(0.1)
        assert a.handler.connected == [b.peer] and b.handler.connected == [a.peer]
        assert not a.handler.disconnected and not b.handler.disconnected

    run_scenario(scenario)


def test_a_node_reconnects_when_its_bootnode_restarts() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        port = free_port()
        a = await Node(config(0, port=port)).start(nursery)
        b = await start_node(nursery, 1, boot=(a,))
        await connected((a, b))
        await a.stop()
        await eventually(lambda: b.handler.disconnected == [a.peer], what="b saw a go")
        await trio.sleep(1.0)  # b's redials fail meanwhile, and back off
        again = await Node(config(0, port=port)).start(nursery)
        await connected((again, b), timeout=10)
        again.network.publish("blocks", b"after the restart")
        await eventually(lambda: b.handler.payloads() == [b"after the restart"])

    run_scenario(scenario)


def test_set_blocked_splits_and_heals() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        a = await start_node(nursery, 0)
        b = await start_node(nursery, 1, boot=(a,))
        c = await start_node(nursery, 2, boot=(a,))
        await connected((a, b), (a, c))
        a.network.set_blocked([b.peer])
        await eventually(lambda: b.peer not in a.peers() and a.peer not in b.peers())
        # B keeps redialing its bootnode, and a keeps refusing.
        await eventually(lambda: a.network.stats.connections_refused["blocked"] >= 2)
        assert a.peers() == {c.peer}
        a.network.publish("blocks", b"during the split")
        await eventually(lambda: c.handler.payloads() == [b"during the split"])
        assert b.handler.payloads() == []
        assert a.peers() == {c.peer}
        a.network.set_blocked([])
        await connected((a, b), timeout=10)
        a.network.publish("blocks", b"healed")
        await eventually(lambda: b.handler.payloads() == [b"healed"])
        assert a.network.score(b.peer) == 0  # a partition is no fault of b's

    run_scenario(scenario)


def test_a_node_of_another_chain_exchanges_nothing() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        a = await start_node(nursery, 0)
        other = await start_node(nursery, 1, boot=(a,), protocol_prefix="/xpl/fedcba9876543210")
        await eventually(
            lambda: (
                a.network.stats.connections_refused["incompatible"] >= 1
                and other.network.stats.connections_refused["incompatible"] >= 1
            ),
            what="both found the other incompatible",
        )
        a.network.publish("blocks", b"for my chain only")
        other.network.publish("blocks", b"for the other chain")
        # Neither had a peer to send to, and the other keeps dialing a, refused each time.
        assert a.network.stats.dropped["no_peers"] == other.network.stats.dropped["no_peers"] == 1
        await eventually(
            lambda: (
                a.network.stats.connections_refused["incompatible"] >= 2
                and other.network.stats.connections_refused["incompatible"] >= 2
            ),
            what="the other's redials refused too",
        )
        assert a.network.peers() == [] and other.network.peers() == []
        assert a.handler.connected == [] and other.handler.connected == []
        assert a.handler.received == [] and other.handler.received == []
        with pytest.raises(RequestFailed) as failure:
            await other.network.request(a.peer, "sync", b"anything")
        assert failure.value.reason is FailureReason.NOT_CONNECTED

    run_scenario(scenario)


def test_a_port_in_use_is_a_clear_error() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        a = await start_node(nursery, 0)
        port = int(a.address.split("/tcp/")[1].split("/")[0])
        with pytest.raises(ListenError, match=f"127.0.0.1:{port}"):
            await Node(config(1, port=port)).start(nursery)

    run_scenario(scenario)


def test_inbound_peers_beyond_max_peers_are_refused() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        a = await start_node(nursery, 0, max_peers=1)
        b = await start_node(nursery, 1, boot=(a,))
        await connected((a, b))
        c = await start_node(nursery, 2, boot=(a,))
        await eventually(lambda: a.network.stats.connections_refused["max_peers"] >= 1)
        assert a.peers() == {b.peer} and c.peers() == set()

    run_scenario(scenario)
