"""Defence: oversized, excess and malformed input is dropped and costs its sender, which is
banned and disconnected at the ban score; the node under attack carries on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import multiaddr
import pytest
import trio
from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from p2p.config import NOTIFICATIONS_NAME, TopicLimits
from p2p.frames import FrameKind, encode_frame, encode_notification, encode_uvarint
from p2p.host import build_host, close_host
from p2p.scoring import MALFORMED_FRAME, OVERSIZED_MESSAGE
from p2p.seen import message_id
from tests.p2p.nodes import PREFIX, TOPICS, connected, eventually, run_scenario, seed, start_node

pytestmark = pytest.mark.timeout(60)

GENEROUS = {
    "blocks": TopicLimits(3_000_000, 1000, 100_000_000),
    "transactions": TOPICS["transactions"],
    "votes": TopicLimits(64 * 1024, 10_000, 100_000_000),
}
"""A misconfigured (or malicious) node's limits: far above everyone else's."""


def test_oversized_messages_are_dropped_penalized_and_the_sender_banned() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        b = await start_node(nursery, 1)
        a = await start_node(nursery, 0, boot=(b,), topics=GENEROUS)
        await connected((a, b))
        a.network.publish("blocks", b"x" * 1_500_000)  # over b's largest frame: skipped
        await eventually(lambda: b.network.stats.dropped["oversized"] == 1)
        assert b.network.score(a.peer) == pytest.approx(-OVERSIZED_MESSAGE, abs=0.5)
        a.network.publish("votes", b"y" * 5000)  # within b's frames, over its vote limit
        await eventually(lambda: b.network.stats.dropped["oversized"] == 2)
        assert a.peer in b.peers()
        for i in range(3):
            a.network.publish("votes", b"%d" % i * 5000)
        await eventually(lambda: b.network.is_banned(a.peer), what="a banned")
        await eventually(lambda: a.peer not in b.peers() and b.peer not in a.peers())
        assert b.network.stats.bans == 1
        assert b.handler.received == []
        # a's bootnode is b: a redials, and b refuses
        await eventually(lambda: b.network.stats.connections_refused["banned"] >= 1)
        assert a.peer not in b.peers()

    run_scenario(scenario)


def test_a_flood_is_dropped_beyond_the_rate_limit_and_the_flooder_banned() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        b = await start_node(nursery, 1)
        c = await start_node(nursery, 2, boot=(b,))
        a = await start_node(nursery, 0, boot=(b,), topics=GENEROUS)
        await connected((a, b), (b, c))
        for i in range(200):
            a.network.publish("votes", b"vote %d" % i)
        await eventually(lambda: b.network.is_banned(a.peer), what="a banned")
        assert b.network.stats.dropped["rate_limited"] >= 20
        accepted = b.handler.payloads("votes")
        assert 20 <= len(accepted) <= 60  # the 2-second burst of b's 20/s limit, and no more
        await eventually(lambda: a.peer not in b.peers())
        # b still serves its honest peer
        c.network.publish("votes", b"honest vote")
        await eventually(lambda: b"honest vote" in b.handler.payloads())
        assert c.peer in b.peers() and b.network.score(c.peer) == 0

    run_scenario(scenario)


def test_reported_misbehaviour_bans_and_the_ban_ends() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        b = await start_node(nursery, 1, ban_seconds=1.5)
        a = await start_node(nursery, 0, boot=(b,))
        await connected((a, b))
        b.network.report(a.peer, 60, "sent a block with a bad state root")
        assert a.peer in b.peers()
        b.network.report(a.peer, 60, "sent another")
        assert b.network.is_banned(a.peer)
        await eventually(lambda: a.peer not in b.peers() and b.peer not in a.peers())
        await connected((a, b), timeout=10)  # the ban is over; a's redial is let in
        assert b.network.score(a.peer) == 0
        with pytest.raises(ValueError):
            b.network.report(a.peer, -1, "a reward")

    run_scenario(scenario)


@asynccontextmanager
async def raw_peer(index: int) -> AsyncIterator[tuple[object, ID]]:
    """A bare libp2p host that speaks the gossip protocol's handshake only: it accepts the
    node's gossip stream and ignores it, and writes whatever a test wants."""
    host = build_host(seed(index), max_connections=8, dial_timeout=5)

    async def ignore(stream: INetStream) -> None:
        while await stream.read(65536):
            pass

    host.set_stream_handler(TProtocol(f"{PREFIX}/{NOTIFICATIONS_NAME}"), ignore)
    async with host.run([multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        try:
            yield host, host.get_id()
        finally:
            with trio.CancelScope(shield=True):
                await close_host(host)


def gossip(topic: str, data: bytes, *, message: bytes | None = None) -> bytes:
    return encode_notification(FrameKind.GOSSIP, topic, data, message or message_id(topic, data))


def test_malformed_frames_are_caught_counted_and_penalized() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        b = await start_node(nursery, 1)
        c = await start_node(nursery, 2, boot=(b,))
        await connected((b, c))
        async with raw_peer(7) as (host, raw_id):
            address = multiaddr.Multiaddr(b.address.split("/p2p/")[0])
            await host.get_network().dial_addr(address, ID.from_base58(b.peer))  # type: ignore[attr-defined]
            await eventually(lambda: str(raw_id) in b.peers())
            stream = await host.new_stream(  # type: ignore[attr-defined]
                ID.from_base58(b.peer), [TProtocol(f"{PREFIX}/{NOTIFICATIONS_NAME}")]
            )
            valid = gossip("votes", b"a valid vote")
            await stream.write(valid + valid)  # a duplicate is free
            await eventually(lambda: b.handler.payloads() == [b"a valid vote"])
            assert b.network.stats.duplicates["votes"] == 1
            assert b.network.score(str(raw_id)) == 0
            await stream.write(encode_frame(b"\x09\x05votes..."))  # unknown kind
            await stream.write(encode_frame(b"\x00\x05vo"))  # topic past the end
            await stream.write(gossip("no-such-topic", b"x"))
            await eventually(lambda: b.network.stats.dropped["malformed"] == 2)
            assert b.network.stats.dropped["unknown_topic"] == 1
            assert b.network.score(str(raw_id)) == pytest.approx(-3 * MALFORMED_FRAME, abs=1)
            # a false message id is a deliberate lie: an instant ban
            await stream.write(gossip("votes", b"forged", message=bytes(32)))
            await eventually(lambda: b.network.is_banned(str(raw_id)))
            await eventually(lambda: str(raw_id) not in b.peers())
            assert b.handler.payloads() == [b"a valid vote"]
        c.network.publish("votes", b"still working")
        await eventually(lambda: b.handler.payloads()[-1:] == [b"still working"])

    run_scenario(scenario)


def test_an_absurd_length_prefix_ends_the_stream_and_bans() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        b = await start_node(nursery, 1)
        async with raw_peer(7) as (host, raw_id):
            address = multiaddr.Multiaddr(b.address.split("/p2p/")[0])
            await host.get_network().dial_addr(address, ID.from_base58(b.peer))  # type: ignore[attr-defined]
            await eventually(lambda: str(raw_id) in b.peers())
            stream = await host.new_stream(  # type: ignore[attr-defined]
                ID.from_base58(b.peer), [TProtocol(f"{PREFIX}/{NOTIFICATIONS_NAME}")]
            )
            await stream.write(encode_uvarint(1 << 40) + b"\x00" * 100)
            await eventually(lambda: b.network.is_banned(str(raw_id)))
            await eventually(lambda: str(raw_id) not in b.peers())

    run_scenario(scenario)
