"""Gossip: validated before it is relayed, relayed along lines, delivered once, never lost in a
burst, and sent to one peer only when asked."""

from __future__ import annotations

import os

import pytest
import trio

from p2p.errors import MessageTooLarge, NotConnected, UnknownTopic
from p2p.handler import GossipVerdict
from p2p.scoring import REJECTED_MESSAGE
from tests.p2p.nodes import TOPICS, Node, Recorder, connected, eventually, run_scenario, start_node

pytestmark = pytest.mark.timeout(60)


async def line(nursery: trio.Nursery, *handlers: Recorder) -> tuple[Node, Node, Node]:
    """A–B–C: B dials A, C dials B; A and C are not connected."""
    a = await start_node(nursery, 0, handler=handlers[0] if handlers else None)
    b = await start_node(nursery, 1, boot=(a,), handler=handlers[1] if handlers else None)
    c = await start_node(nursery, 2, boot=(b,), handler=handlers[2] if handlers else None)
    await connected((a, b), (b, c))
    assert c.peer not in a.peers()
    return a, b, c


def test_gossip_is_relayed_along_a_line_and_delivered_once() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        a, b, c = await line(nursery)
        a.network.publish("blocks", b"block 1")
        await eventually(lambda: c.handler.payloads() == [b"block 1"])
        assert b.handler.received == [(a.peer, "blocks", b"block 1")]
        assert c.handler.received == [(b.peer, "blocks", b"block 1")]
        c.network.publish("votes", b"vote 1")
        await eventually(lambda: a.handler.payloads() == [b"vote 1"])
        a.network.publish("blocks", b"block 1")  # again: every node has it
        b.network.publish("blocks", b"block 1")
        # New blocks from both, behind the repeats on every link (a topic's frames keep their
        # order): once they are in, a repeat that was sent would have arrived.
        a.network.publish("blocks", b"block 2")
        b.network.publish("blocks", b"block 3")
        await eventually(
            lambda: (
                a.handler.payloads("blocks") == [b"block 3"]
                and sorted(c.handler.payloads()) == [b"block 1", b"block 2", b"block 3"]
                and a.network.stats.messages_out["blocks"] >= 2  # counted once written
            )
        )
        assert a.handler.payloads() == [b"vote 1", b"block 3"]
        assert b.handler.payloads() == [b"block 1", b"vote 1", b"block 2"]
        assert a.network.stats.messages_out["blocks"] == 2
        assert b.network.stats.messages_in == {"blocks": 2, "votes": 1}

    run_scenario(scenario)


def test_in_a_triangle_each_node_hears_each_message_once_and_nobody_relays_it() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        a = await start_node(nursery, 0)
        b = await start_node(nursery, 1, boot=(a,))
        c = await start_node(nursery, 2, boot=(a, b))
        # Each node's list of its peers went out when its last session opened, ahead of
        # anything it publishes now (a PEERS frame keeps its place in the order).
        await connected((a, b), (a, c), (b, c))
        block = os.urandom(900_000)
        a.network.publish("blocks", block)
        for i in range(20):
            a.network.publish("transactions", b"tx batch %d" % i)
        await eventually(lambda: len(b.handler.received) == 21 and len(c.handler.received) == 21)
        # B and C each publish one message per topic, queued behind any relay of a's messages
        # they would have sent: once the other has them, such a relay would have arrived too.
        for node, name in ((b, b"b"), (c, b"c")):
            node.network.publish("blocks", b"block from " + name)
            node.network.publish("transactions", b"tx from " + name)
        await eventually(
            lambda: (
                len(a.handler.received) == 4
                and len(b.handler.received) == 23
                and len(c.handler.received) == 23
                and sum(b.network.stats.messages_out.values()) >= 4  # counted once written
                and sum(c.network.stats.messages_out.values()) >= 4
            )
        )
        for node, other in ((b, b"c"), (c, b"b")):
            assert node.handler.payloads("blocks") == [block, b"block from " + other]
            assert sum(node.network.stats.duplicates.values()) == 0
            # Its own two messages, to a and to the other; nothing of a's relayed.
            assert node.network.stats.messages_out == {"blocks": 2, "transactions": 2}

    run_scenario(scenario)


def test_a_large_block_crosses_a_line() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        a, _, c = await line(nursery)
        blocks = [os.urandom(900_000) for _ in range(3)]
        for block in blocks:
            a.network.publish("blocks", block)
        await eventually(lambda: c.handler.payloads() == blocks, timeout=10)

    run_scenario(scenario)


def test_a_rejected_message_is_not_relayed_and_costs_its_sender() -> None:
    def verdict(topic: str, data: bytes) -> GossipVerdict:
        return GossipVerdict.REJECT if data.startswith(b"bad") else GossipVerdict.ACCEPT

    async def scenario(nursery: trio.Nursery) -> None:
        a, b, c = await line(nursery, Recorder(), Recorder(verdict=verdict), Recorder())
        a.network.publish("blocks", b"bad block")
        a.network.publish("blocks", b"good block")  # sent after, on the same stream
        await eventually(lambda: c.handler.payloads() == [b"good block"])
        assert b.handler.payloads() == [b"bad block", b"good block"]
        assert b.network.score(a.peer) == pytest.approx(-REJECTED_MESSAGE, abs=0.5)
        assert b.network.stats.rejected["blocks"] == 1
        assert c.network.score(b.peer) == 0
        assert a.peer in b.peers()  # one bad message is not a ban

    run_scenario(scenario)


def test_an_ignored_message_is_not_relayed_and_costs_nothing() -> None:
    def verdict(topic: str, data: bytes) -> GossipVerdict:
        return GossipVerdict.IGNORE if data == b"stale" else GossipVerdict.ACCEPT

    async def scenario(nursery: trio.Nursery) -> None:
        a, b, c = await line(nursery, Recorder(), Recorder(verdict=verdict), Recorder())
        a.network.publish("votes", b"stale")
        a.network.publish("votes", b"fresh")
        await eventually(lambda: c.handler.payloads() == [b"fresh"])
        assert b.network.score(a.peer) == 0

    run_scenario(scenario)


def test_a_failing_handler_drops_the_message_and_the_node_carries_on() -> None:
    def verdict(topic: str, data: bytes) -> GossipVerdict:
        if data == b"boom":
            raise RuntimeError("a bug in the node")
        return GossipVerdict.ACCEPT

    async def scenario(nursery: trio.Nursery) -> None:
        a, b, c = await line(nursery, Recorder(), Recorder(verdict=verdict), Recorder())
        a.network.publish("votes", b"boom")
        a.network.publish("votes", b"after")
        await eventually(lambda: c.handler.payloads() == [b"after"])
        assert b.network.stats.dropped["handler_failed"] == 1
        assert b.network.score(a.peer) == 0

    run_scenario(scenario)


def test_a_burst_of_2000_messages_arrives_complete_across_two_hops() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        a, b, c = await line(nursery)
        sent = [b"transaction batch %04d " % i + os.urandom(200) for i in range(2000)]
        for data in sent:
            a.network.publish("transactions", data)
        await eventually(lambda: len(c.handler.received) >= 2000, timeout=30)
        assert b.handler.payloads() == sent  # in order, none lost
        assert c.handler.payloads() == sent
        for node in (a, b, c):
            assert node.network.stats.dropped == {}
        assert a.network.stats.messages_out["transactions"] == 2000

    run_scenario(scenario, deadline=50)


def test_send_reaches_one_peer_which_does_not_relay_it() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        a, b, c = await line(nursery)
        c.network.send(b.peer, "votes", b"for b only")
        c.network.send(b.peer, "votes", b"for b only")  # sent twice, delivered twice
        await eventually(lambda: b.handler.payloads() == [b"for b only"] * 2)
        c.network.publish("votes", b"for all")
        await eventually(lambda: a.handler.payloads() == [b"for all"])
        assert b.handler.payloads() == [b"for b only"] * 2 + [b"for all"]
        with pytest.raises(NotConnected):
            c.network.send(a.peer, "votes", b"a is not c's peer")

    run_scenario(scenario)


def test_publishing_checks_the_topic_and_its_size_limit() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        a = await start_node(nursery, 0)
        with pytest.raises(UnknownTopic, match="no-such-topic"):
            a.network.publish("no-such-topic", b"x")
        with pytest.raises(MessageTooLarge, match="4097 bytes"):
            a.network.publish("votes", b"x" * 4097)
        a.network.publish("votes", b"nobody listens")
        assert a.network.stats.dropped["no_peers"] == 1

    run_scenario(scenario)


def test_messages_of_exactly_the_size_limit_arrive() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        a, b, c = await line(nursery)
        largest = os.urandom(TOPICS["blocks"].max_message_bytes)
        a.network.publish("blocks", largest)
        a.network.publish("votes", b"v" * TOPICS["votes"].max_message_bytes)
        await eventually(lambda: len(c.handler.received) == 2, timeout=10)
        assert c.handler.payloads("blocks") == [largest]
        assert b.network.score(a.peer) == 0 and c.network.score(b.peer) == 0

    run_scenario(scenario)
