"""Measure gossip on this machine: N node processes on 127.0.0.1 publishing a chain-like load.

    python -m p2p.bench --nodes 4 --rate 20 --seconds 10
    python -m p2p.bench --nodes 4 --rate 20 --seconds 10 --backend gossipsub

Each node publishes `rate` messages a second: a block (`--block-bytes`, 900 KB by default) in
its turn of a round robin, so about one block a second network-wide as with Aura, and otherwise
transaction batches (2-16 KB) and finality-vote batches (0.5-3 KB). Every message carries its
origin, sequence number and send time; when the publishing ends each node waits `--drain`
seconds and reports what it received, and the bench prints how many of the published messages
reached every other node, the latency from publish to delivery (p50, p99, max: one machine, one
clock) and each node's CPU seconds over the run. `--topology mesh` connects every pair of nodes
(each dials all before it); `star` has every node dial node 0 only, so node 0 relays everything.

`--backend gossipsub` runs the same load over py-libp2p's GossipSub, configured as
notes/libp2p.md advises (spam protection off, heartbeat 1 s, 2 MiB RPCs, Noise, yamux), for
comparison; the figures that decided between the two are in `p2p.gossip`'s docstring. They come
from a 2-core machine shared with other work, so latencies there vary from run to run by a
factor of a few; delivery and CPU seconds vary much less. "Lost" counts the deliveries that had
not happened when the drain ended.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import resource
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Final

import trio

from p2p.config import NetworkConfig, TopicLimits
from p2p.handler import GossipVerdict
from p2p.keys import peer_id_of

_HEADER: Final = struct.Struct(">HId")  # origin, sequence number, send time (unix seconds)
TOPICS: Final = {
    "blocks": TopicLimits(1_000_000, 20, 16_000_000),
    "transactions": TopicLimits(64 * 1024, 500, 8_000_000),
    "votes": TopicLimits(16 * 1024, 500, 2_000_000),
}
PREFIX: Final = "/xpl/bench"
WORKER_COMMAND: Final = ("-m", "p2p.bench")
CONNECT_SECONDS: Final = 60.0
"""How long the nodes get to start and connect before the load starts anyway."""


@dataclass(frozen=True)
class NodeSpec:
    """What one node process of the bench does."""

    index: int
    nodes: int
    ports: list[int]
    topology: str
    rate: float
    seconds: float
    block_bytes: int
    drain: float
    backend: str

    @property
    def seed(self) -> bytes:
        """This node's key seed."""
        return node_seed(self.index)

    def dials(self) -> list[int]:
        """The nodes this one dials."""
        if self.topology == "star":
            return [] if self.index == 0 else [0]
        return list(range(self.index))

    def expected_peers(self) -> int:
        """How many peers this node has once the topology is complete."""
        if self.topology == "star":
            return self.nodes - 1 if self.index == 0 else 1
        return self.nodes - 1


def node_seed(index: int) -> bytes:
    """The bench's fixed node key of node `index`."""
    return hashlib.sha256(b"xpl bench node %d" % index).digest()


def workload(spec: NodeSpec) -> Iterator[tuple[float, str, int]]:
    """(time offset, topic, size) of each message node `spec.index` publishes."""
    rng = random.Random(spec.index)
    count = int(spec.rate * spec.seconds)
    per_second = max(1, round(spec.rate))
    for k in range(count):
        second, slot = divmod(k, per_second)
        if slot == 0 and second % spec.nodes == spec.index:
            yield k / spec.rate, "blocks", spec.block_bytes
        elif k % 2:
            yield k / spec.rate, "transactions", rng.randint(2_000, 16_000)
        else:
            yield k / spec.rate, "votes", rng.randint(500, 3_000)


class Recorder:
    """The bench node's handler: notes what arrives, accepts everything."""

    def __init__(self) -> None:
        self.latencies: dict[str, float] = {}
        self.topics: dict[str, str] = {}

    def record(self, topic: str, data: bytes) -> None:
        """Note a message's latency from the send time in its header."""
        origin, seq, sent = _HEADER.unpack_from(data)
        key = f"{origin}:{seq}"
        self.latencies[key] = time.time() - sent
        self.topics[key] = topic

    def on_peer_connected(self, peer: str) -> None:
        """Nothing to note."""
        pass

    def on_peer_disconnected(self, peer: str) -> None:
        """Nothing to note."""
        pass

    def on_gossip(self, peer: str, topic: str, data: bytes) -> GossipVerdict:
        """Record the message's latency and accept it."""
        self.record(topic, data)
        return GossipVerdict.ACCEPT

    async def on_request(self, peer: str, protocol: str, data: bytes) -> bytes:
        """The bench sends no requests: an empty answer."""
        return b""


async def drive(
    spec: NodeSpec, publish: Callable[[str, bytes], Awaitable[None]], peers: Callable[[], int]
) -> dict[str, Any]:
    """Wait for the peers, say so, take the start time from the bench, publish the workload on
    time and drain; what this node saw."""
    give_up = time.time() + CONNECT_SECONDS
    while peers() < spec.expected_peers() and time.time() < give_up:
        await trio.sleep(0.05)
    connected = peers()
    sys.stdout.write(f"ready {connected}\n")
    sys.stdout.flush()
    start_at = float(await trio.to_thread.run_sync(sys.stdin.readline))
    await trio.sleep(max(0.0, start_at - time.time()))
    cpu_start = time.process_time()
    published = 0
    filler = os.urandom(spec.block_bytes)
    for offset, topic, size in workload(spec):
        await trio.sleep(max(0.0, start_at + offset - time.time()))
        published += 1
        header = _HEADER.pack(spec.index, published, time.time())
        await publish(topic, header + filler[: size - _HEADER.size])
    await trio.sleep(spec.drain)
    return {
        "index": spec.index,
        "connected": connected,
        "published": published,
        "cpu": time.process_time() - cpu_start,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


async def run_xpl_node(spec: NodeSpec) -> dict[str, Any]:
    """One bench node on `p2p.Network`."""
    from p2p.network import Network

    bootnodes = tuple(
        f"/ip4/127.0.0.1/tcp/{spec.ports[i]}/p2p/{peer_id_of(node_seed(i))}" for i in spec.dials()
    )
    config = NetworkConfig(
        node_key=spec.seed,
        protocol_prefix=PREFIX,
        topics=TOPICS,
        port=spec.ports[spec.index],
        bootnodes=bootnodes,
    )
    recorder = Recorder()
    network = Network(config, recorder)

    async def publish(topic: str, data: bytes) -> None:
        network.publish(topic, data)

    async with trio.open_nursery() as nursery:
        await nursery.start(network.run)
        result = await drive(spec, publish, lambda: len(network.peers()))
        nursery.cancel_scope.cancel()
    stats = network.stats
    result.update(
        received=recorder.latencies,
        topics=recorder.topics,
        duplicates=sum(stats.duplicates.values()),
        mb_in=sum(stats.bytes_in.values()) / 1e6,
        dropped=dict(stats.dropped),
    )
    return result


async def run_gossipsub_node(spec: NodeSpec) -> dict[str, Any]:
    """One bench node on py-libp2p's GossipSub, configured as notes/libp2p.md advises."""
    import multiaddr
    from libp2p.custom_types import TProtocol
    from libp2p.peer.id import ID
    from libp2p.pubsub.gossipsub import GossipSub
    from libp2p.pubsub.pubsub import Pubsub
    from libp2p.tools.anyio_service import background_trio_service

    from p2p.host import build_host

    host = build_host(spec.seed, max_connections=64, dial_timeout=10)
    router = GossipSub(
        protocols=[TProtocol("/meshsub/1.2.0"), TProtocol("/meshsub/1.1.0")],
        degree=6,
        degree_low=4,
        degree_high=12,
        heartbeat_interval=1,
        spam_protection_enabled=False,
    )
    pubsub = Pubsub(host, router, max_inbound_rpc_size=2 * 1024 * 1024)
    recorder = Recorder()
    listen = multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{spec.ports[spec.index]}")
    async with host.run([listen]), background_trio_service(pubsub), background_trio_service(router):
        await pubsub.wait_until_ready()
        async with trio.open_nursery() as nursery:
            for topic in TOPICS:
                pubsub.set_topic_validator(topic, lambda peer, message: True, False)
                subscription = await pubsub.subscribe(topic)
                nursery.start_soon(_drain_subscription, subscription, topic, recorder, spec.index)
            for i in spec.dials():
                peer = ID.from_base58(peer_id_of(node_seed(i)))
                address = multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{spec.ports[i]}")
                nursery.start_soon(_dial_until_connected, host, address, peer)

            async def publish(topic: str, data: bytes) -> None:
                await pubsub.publish(topic, data)

            result = await drive(spec, publish, lambda: len(host.get_connected_peers()))
            nursery.cancel_scope.cancel()
    result.update(received=recorder.latencies, topics=recorder.topics)
    return result


async def _drain_subscription(
    subscription: Any, topic: str, recorder: Recorder, index: int
) -> None:
    while True:
        message = await subscription.get()
        if _HEADER.unpack_from(message.data)[0] != index:
            recorder.record(topic, message.data)


async def _dial_until_connected(host: Any, address: Any, peer: Any) -> None:
    for _ in range(50):
        try:
            await host.get_network().dial_addr(address, peer)
            return
        except Exception:  # the other process may not listen yet
            await trio.sleep(0.2)


def _free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(len(values) * fraction))] if values else float("nan")


def summarize(specs: list[NodeSpec], results: list[dict[str, Any]]) -> list[str]:
    """The bench's report, as lines of text."""
    nodes = len(specs)
    published = sum(r["published"] for r in results)
    expected = published * (nodes - 1)
    delivered = sum(len(r["received"]) for r in results)
    wall = specs[0].seconds + specs[0].drain
    lines = [
        f"backend {specs[0].backend}, {nodes} nodes ({specs[0].topology}), "
        f"{specs[0].rate:g} messages/s per node for {specs[0].seconds:g} s, "
        f"blocks of {specs[0].block_bytes} bytes",
        f"connected peers per node at start: {[r['connected'] for r in results]}",
        f"published {published} ({published / specs[0].seconds:.0f}/s network-wide), "
        f"delivered {delivered} of {expected}, lost {expected - delivered}",
    ]
    for label, wanted in (("all", None), ("blocks", "blocks"), ("small", "small")):
        latencies = sorted(
            latency * 1e3
            for r in results
            for key, latency in r["received"].items()
            if wanted is None or (wanted == "blocks") == (r["topics"][key] == "blocks")
        )
        lines.append(
            f"latency {label:6s} ms: p50 {_percentile(latencies, 0.5):7.1f}  "
            f"p99 {_percentile(latencies, 0.99):7.1f}  max {max(latencies, default=0):7.1f}"
        )
    cpu = [r["cpu"] for r in results]
    lines.append(
        f"CPU s per node over {wall:g} s: {[round(c, 2) for c in cpu]} "
        f"(mean {sum(cpu) / nodes / wall:.0%} of a core)"
    )
    lines.append(f"peak RSS MB per node: {[round(r['rss_mb']) for r in results]}")
    if "mb_in" in results[0]:  # p2p.Network's own counters
        lines.append(
            f"gossip MB received per node: {[round(r['mb_in'], 1) for r in results]}, "
            f"of which duplicates (messages): {[r['duplicates'] for r in results]}"
        )
        dropped = [r["dropped"] for r in results]
        lines.append(f"dropped: {dropped if any(dropped) else 'none'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the bench's node processes and print what they saw (with --worker, be one of
    them); the exit code."""
    parser = argparse.ArgumentParser(prog="python -m p2p.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--rate", type=float, default=20.0, help="messages/s per node")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--block-bytes", type=int, default=900_000)
    parser.add_argument("--topology", choices=("mesh", "star"), default="mesh")
    parser.add_argument("--backend", choices=("xpl", "gossipsub"), default="xpl")
    parser.add_argument("--drain", type=float, default=5.0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    if args.worker:
        spec = NodeSpec(**json.loads(args.worker))
        runner = run_xpl_node if spec.backend == "xpl" else run_gossipsub_node
        result = trio.run(runner, spec)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
        os._exit(0)  # py-libp2p may leave threads behind (its log listener)
    if args.nodes < 2:
        parser.error("--nodes must be at least 2")
    ports = _free_ports(args.nodes)
    specs = [
        NodeSpec(
            i,
            args.nodes,
            ports,
            args.topology,
            args.rate,
            args.seconds,
            args.block_bytes,
            args.drain,
            args.backend,
        )
        for i in range(args.nodes)
    ]
    processes = [
        subprocess.Popen(
            [sys.executable, *WORKER_COMMAND, "--worker", json.dumps(asdict(spec))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for spec in specs
    ]
    try:
        return _conduct(specs, processes)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def _conduct(specs: list[NodeSpec], processes: list[subprocess.Popen[str]]) -> int:
    """Start the load once every node is connected, collect and print the results."""
    for process in processes:
        assert process.stdout is not None
        if not process.stdout.readline().startswith("ready"):
            sys.stderr.write("a node failed to start\n")
            return 1
    start_at = time.time() + 0.5
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(f"{start_at}\n")
        process.stdin.flush()
    results = []
    limit = specs[0].seconds + specs[0].drain + 60
    for process in processes:
        out, _ = process.communicate(timeout=limit)
        if process.returncode != 0:
            sys.stderr.write(f"a node exited with status {process.returncode}\n")
            return 1
        results.append(json.loads(out.strip().splitlines()[-1]))
    sys.stdout.write("\n".join(summarize(specs, results)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
