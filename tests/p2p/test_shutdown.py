"""Cancelling `run` closes every stream, connection and listener, and leaves no task behind."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import trio

from p2p.host import claim_port
from tests.p2p.nodes import Recorder, connected, eventually, start_node

pytestmark = pytest.mark.timeout(60)


def open_sockets() -> int:
    """How many sockets this process has open."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd).startswith("socket:"))


async def slow_answer(peer: str, data: bytes) -> bytes:
    await trio.sleep(30)
    return data


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts sockets in /proc")
def test_cancelling_run_leaves_no_task_connection_or_listener() -> None:
    async def main() -> None:
        before = trio.lowlevel.current_statistics().tasks_living
        sockets_before = open_sockets()
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                a = await start_node(nursery, 0, handler=Recorder(answer=slow_answer))
                b = await start_node(nursery, 1, boot=(a,))
                c = await start_node(nursery, 2, boot=(a,))
                await connected((a, b), (a, c))
                for i in range(300):  # traffic in flight, and queued
                    a.network.publish("transactions", b"%d" % i * 1000)
                nursery.start_soon(b.network.request, a.peer, "sync", b"pending")
                await eventually(lambda: b.handler.payloads() != [])
                ports = [int(n.address.split("/tcp/")[1].split("/")[0]) for n in (a, b, c)]
                nursery.cancel_scope.cancel()
            await trio.sleep(0.2)  # let libp2p's last callbacks run out
        assert trio.lowlevel.current_statistics().tasks_living == before
        assert open_sockets() == sockets_before
        for port in ports:
            claim_port("127.0.0.1", port)  # nothing listens any more
        for node in (a, b, c):
            assert node.network.peers() == [] and node.network.listen_addresses == []
            assert len(node.handler.disconnected) == len(node.handler.connected)
        for port in ports:  # and no connection to any of the ports is left
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0

    trio.run(main)


def test_a_network_can_be_run_again_after_it_stopped() -> None:
    async def main() -> None:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                a = await start_node(nursery, 0)
                b = await start_node(nursery, 1, boot=(a,))
                await connected((a, b))
                await b.stop()
                await b.start(nursery)
                await connected((a, b))
                nursery.cancel_scope.cancel()

    trio.run(main)
