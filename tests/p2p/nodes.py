"""Test nodes: real `Network`s on 127.0.0.1 with a handler that records what it is told.

Every test runs its nodes in one trio run (`run_scenario`), with a deadline, inside a nursery that
is cancelled at the end, so no host outlives its test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import trio

from p2p.config import NetworkConfig, RequestLimits, TopicLimits
from p2p.handler import GossipVerdict
from p2p.keys import peer_id_of
from p2p.network import Network

PREFIX = "/xpl/0123456789abcdef"
TOPICS = {
    "blocks": TopicLimits(1_000_000, 50, 20_000_000),
    "transactions": TopicLimits(64 * 1024, 5_000, 50_000_000),
    "votes": TopicLimits(4096, 20, 100_000),
}
PROTOCOLS = {
    "sync": RequestLimits(1024, 3 * 1024 * 1024, timeout=3.0, max_concurrent_per_peer=2),
}


def seed(index: int) -> bytes:
    """The node key of test node `index`."""
    return hashlib.sha256(b"p2p test node %d" % index).digest()


def config(index: int, *, bootnodes: tuple[str, ...] = (), **overrides: Any) -> NetworkConfig:
    """Test node `index`'s configuration: any free port, fast redials, the test topics."""
    values: dict[str, Any] = {
        "node_key": seed(index),
        "protocol_prefix": PREFIX,
        "topics": TOPICS,
        "request_protocols": PROTOCOLS,
        "port": 0,
        "bootnodes": bootnodes,
        "reconnect_min_delay": 0.1,
        "reconnect_max_delay": 0.5,
    }
    values.update(overrides)
    return NetworkConfig(**values)


Verdicts = Callable[[str, bytes], GossipVerdict]
Answer = Callable[[str, bytes], Awaitable[bytes]]


async def echo(peer: str, data: bytes) -> bytes:
    """A request handler that answers with the request."""
    return data


@dataclass
class Recorder:
    """A NetworkHandler that records everything and judges by `verdict`."""

    verdict: Verdicts = lambda topic, data: GossipVerdict.ACCEPT
    answer: Answer = echo
    received: list[tuple[str, str, bytes]] = field(default_factory=list)
    connected: list[str] = field(default_factory=list)
    disconnected: list[str] = field(default_factory=list)

    def on_peer_connected(self, peer: str) -> None:
        self.connected.append(peer)

    def on_peer_disconnected(self, peer: str) -> None:
        self.disconnected.append(peer)

    def on_gossip(self, peer: str, topic: str, data: bytes) -> GossipVerdict:
        self.received.append((peer, topic, data))
        return self.verdict(topic, data)

    async def on_request(self, peer: str, protocol: str, data: bytes) -> bytes:
        return await self.answer(peer, data)

    def payloads(self, topic: str | None = None) -> list[bytes]:
        """The data received, in order (on `topic` only, if given)."""
        return [data for _, t, data in self.received if topic is None or t == topic]


class Node:
    """A Network and its Recorder, started in a nursery and stoppable on its own."""

    def __init__(self, cfg: NetworkConfig, handler: Recorder | None = None) -> None:
        self.config = cfg
        self.handler = handler or Recorder()
        self.network = Network(cfg, self.handler)
        self._scope: trio.CancelScope | None = None
        self._stopped = trio.Event()

    @property
    def peer(self) -> str:
        return self.network.peer_id

    @property
    def address(self) -> str:
        return self.network.listen_addresses[0]

    def peers(self) -> set[str]:
        """Ids of the connected peers."""
        return {info.peer for info in self.network.peers()}

    async def start(self, nursery: trio.Nursery) -> Node:
        """Run the network in `nursery` until `stop` (or the nursery ends)."""
        self._stopped = trio.Event()
        await nursery.start(self._run)
        return self

    async def _run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as self._scope:
            try:
                await self.network.run(task_status=task_status)
            finally:
                self._stopped.set()

    async def stop(self) -> None:
        """Stop the network and wait until it has stopped."""
        if self._scope is not None:
            self._scope.cancel()
        await self._stopped.wait()


async def start_node(
    nursery: trio.Nursery,
    index: int,
    *,
    boot: tuple[Node, ...] = (),
    handler: Recorder | None = None,
    **overrides: Any,
) -> Node:
    """Start test node `index`, dialing the nodes in `boot`."""
    bootnodes = tuple(node.address for node in boot)
    return await Node(config(index, bootnodes=bootnodes, **overrides), handler).start(nursery)


async def eventually(condition: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Wait until `condition()` holds; AssertionError after `timeout` seconds."""
    with trio.move_on_after(timeout):
        while not condition():
            await trio.sleep(0.01)
        return
    raise AssertionError(f"not within {timeout} s: {what or condition}")


async def connected(*pairs: tuple[Node, Node], timeout: float = 5.0) -> None:
    """Wait until each pair is connected, both ways."""
    for a, b in pairs:
        await eventually(
            lambda a=a, b=b: b.peer in a.peers() and a.peer in b.peers(),  # type: ignore[misc]
            timeout,
            f"{a.peer} and {b.peer} connected",
        )


def run_scenario(
    scenario: Callable[[trio.Nursery], Coroutine[Any, Any, None]], deadline: float = 30.0
) -> None:
    """Run `scenario(nursery)` under trio with a deadline; every node it started is stopped."""

    async def main() -> None:
        with trio.fail_after(deadline):
            async with trio.open_nursery() as nursery:
                await scenario(nursery)
                nursery.cancel_scope.cancel()

    trio.run(main)


def peer_id(index: int) -> str:
    """The peer id of test node `index`."""
    return peer_id_of(seed(index))
