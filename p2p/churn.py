"""Measure connection churn: a node keeps accepting honest peers after many connections came
and went.

    python -m p2p.churn --count 10000          (or `xpl benchmark connections --count 10000`)

One node with the default limits (`max_peers` 50, so about 158 inbound slots) listens on
127.0.0.1; `lanes` dialers, each a bare py-libp2p host with a key of its own, connect to it one
connection after another (dial, Noise and yamux handshakes, close) until `count` connections
have come and gone. At each tenth of the run, and at the end, a fresh honest node (a full
`Network`) connects to it and the time until both see a session is recorded. Before inbound
slots were given back on close, the 159th connection of the node's lifetime was its last.
Everything runs in one process: on a 2-core machine the figure is the handshake rate of one
core, both ends' work included. (The per-IP limits do not apply: every dialer is on loopback.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Final

import multiaddr
import trio
from libp2p.host.basic_host import BasicHost
from libp2p.peer.id import ID

from p2p.config import NetworkConfig, TopicLimits
from p2p.handler import GossipVerdict
from p2p.host import LIBP2P_ERRORS, build_host, close_host, close_quietly
from p2p.network import Network

PREFIX: Final = "/xpl/churn"
TOPICS: Final = {"votes": TopicLimits(4096, 20, 100_000)}
CHECKPOINTS: Final = 10
"""Times during the run that an honest node connects (and once more at the end)."""
HONEST_CONNECT_TIMEOUT: Final = 30.0
"""An honest node that takes longer than this to connect counts as refused."""
SETTLE_SECONDS: Final = 5.0
"""How long the last connections get to close before the slots held are counted."""


@dataclass(frozen=True)
class ChurnFigures:
    """What a churn run measured."""

    connections: int
    """Connections that completed their handshake and were closed."""
    failed_dials: int
    """Dials the node refused or that failed."""
    seconds: float
    connections_per_s: float
    honest_connects: int
    """Honest nodes that connected at the checkpoints (out of `honest_tries`)."""
    honest_tries: int
    honest_connect_ms_max: float
    """The slowest honest connection, dial to session on both sides."""
    inbound_slots_held: int
    """The node's inbound slots taken at the end, once every connection had a few seconds to
    close (0 when every slot came back)."""

    def to_json(self) -> dict[str, object]:
        """The figures as a JSON object."""
        return asdict(self)


class _Quiet:
    """A handler that accepts everything and records nothing."""

    def on_peer_connected(self, peer: str) -> None:
        return None

    def on_peer_disconnected(self, peer: str) -> None:
        return None

    def on_gossip(self, peer: str, topic: str, data: bytes) -> GossipVerdict:
        return GossipVerdict.ACCEPT

    async def on_request(self, peer: str, protocol: str, data: bytes) -> bytes:
        return data


def _seed(name: str, index: int) -> bytes:
    return hashlib.sha256(b"xpl churn %s %d" % (name.encode(), index)).digest()


def _config(seed: bytes, bootnodes: tuple[str, ...] = ()) -> NetworkConfig:
    return NetworkConfig(
        node_key=seed, protocol_prefix=PREFIX, topics=TOPICS, port=0, bootnodes=bootnodes
    )


@asynccontextmanager
async def _running(network: Network) -> AsyncIterator[Network]:
    async with trio.open_nursery() as nursery:
        await nursery.start(network.run)
        yield network
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def _dialer(seed: bytes) -> AsyncIterator[BasicHost]:
    host = build_host(seed, max_connections=8, dial_timeout=10)
    async with host.run([multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        try:
            yield host
        finally:
            with trio.CancelScope(shield=True):
                await close_host(host)


async def run_churn(
    count: int, lanes: int, progress: Callable[[str], None] = lambda message: None
) -> ChurnFigures:
    """Open and close `count` connections to one node over `lanes` dialers, checking that an
    honest node still connects at each checkpoint."""
    node = Network(_config(_seed("node", 0)), _Quiet())
    done = failed = 0
    honest_ms: list[float] = []
    tries = 0
    async with _running(node):
        address = multiaddr.Multiaddr(node.listen_addresses[0].split("/p2p/")[0])
        target = ID.from_base58(node.peer_id)

        async def honest_check() -> None:
            nonlocal tries
            tries += 1
            honest = Network(_config(_seed("honest", tries), (node.listen_addresses[0],)), _Quiet())
            started = trio.current_time()
            async with _running(honest):
                with trio.move_on_after(HONEST_CONNECT_TIMEOUT):
                    while not (
                        any(p.peer == node.peer_id for p in honest.peers())
                        and any(p.peer == honest.peer_id for p in node.peers())
                    ):
                        await trio.sleep(0.01)
                    honest_ms.append((trio.current_time() - started) * 1000)
            progress(f"{done} connections: honest node connected: {len(honest_ms)}/{tries}")

        async def lane(index: int, quota: int) -> None:
            nonlocal done, failed
            async with _dialer(_seed("dialer", index)) as host:
                swarm = host.get_network()
                for _ in range(quota):
                    try:
                        conn = await swarm.dial_addr(address, target)
                    except LIBP2P_ERRORS:
                        failed += 1
                        continue
                    await close_quietly(conn)
                    done += 1

        started = time.monotonic()
        per_round = max(1, count // CHECKPOINTS)
        remaining = count
        while remaining > 0:
            batch = min(per_round, remaining)
            async with trio.open_nursery() as nursery:
                for index in range(lanes):
                    quota = batch // lanes + (1 if index < batch % lanes else 0)
                    nursery.start_soon(lane, index, quota)
            remaining -= batch
            await honest_check()
        seconds = time.monotonic() - started
        gate = node.inbound
        assert gate is not None
        with trio.move_on_after(SETTLE_SECONDS):
            while gate.slots_taken:
                await trio.sleep(0.05)
        held = gate.slots_taken
    return ChurnFigures(
        connections=done,
        failed_dials=failed,
        seconds=round(seconds, 1),
        connections_per_s=round(done / seconds, 1),
        honest_connects=len(honest_ms),
        honest_tries=tries,
        honest_connect_ms_max=round(max(honest_ms, default=0.0), 1),
        inbound_slots_held=held,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m p2p.churn`: run and print the figures (0 if every honest node connected)."""
    parser = argparse.ArgumentParser(prog="python -m p2p.churn", description=__doc__)
    parser.add_argument("--count", type=int, default=10_000, help="connections to open and close")
    parser.add_argument("--lanes", type=int, default=50, help="dialers at once (default 50)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    # py-libp2p logs a dialer's closed connection at ERROR: expected here, by the thousand.
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    figures = trio.run(
        run_churn, args.count, args.lanes, lambda m: print(f"  {m}", file=sys.stderr)
    )
    print(json.dumps(figures.to_json()) if args.json else format_figures(figures))
    return 0 if figures.honest_connects == figures.honest_tries else 1


def format_figures(f: ChurnFigures) -> str:
    """The figures as a few lines of text."""
    return "\n".join(
        [
            f"{f.connections} connections opened and closed in {f.seconds} s "
            f"({f.connections_per_s}/s; {f.failed_dials} dials failed)",
            f"  honest nodes connected: {f.honest_connects} of {f.honest_tries} "
            f"(slowest {f.honest_connect_ms_max:.0f} ms)",
            f"  inbound slots held at the end: {f.inbound_slots_held}",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
