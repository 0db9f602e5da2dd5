"""An honest RPC client's latency while strangers hold connections to the node.

The attack is the one that once locked every client out: `stalled` HTTP connections that each
send a POST's headers announcing a 1000-byte body and one byte of it, then nothing, and `idle`
WebSocket connections that complete the handshake, answer pings and send nothing else. While
they are open, an honest client calls `system_health` and `author_submitExtrinsic` (pre-signed
transfers) in turn over one keep-alive connection for `duration` seconds; every call's latency
is measured, a failed call counting as infinitely slow.

`xpl benchmark rpc-attack` runs it against a fresh `xpl node --dev`; the attack suite
(tests/chain/test_rpc_attacks.py) runs it against its node.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from websockets.sync.client import ClientConnection, connect

from chain.client.chain import XplClient, transfer_call
from chain.client.rpc import RpcClient, RpcClientError, RpcConnectionError
from chain.localnet import XPL_COMMAND, Process, free_port
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import Keypair, dev_keypair
from runtime.transaction import sign_transaction

HONEST_SENDER = "Ferdie"
"""The dev account whose transfers the honest client submits."""

GOAL_P99_MS = 1000.0
"""An honest client's calls must answer within a second (p99) under the attack."""


@dataclass(frozen=True)
class AttackFigures:
    """What the honest client saw while the attack's connections were open."""

    stalled: int
    idle: int
    calls: int
    failed: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def stalled_post(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A POST announcing 1000 bytes of body that sends one and stops."""
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )
    return sock


def idle_websocket(port: int, host: str = "127.0.0.1") -> ClientConnection:
    """A WebSocket that answers pings (the client library does) and makes no call."""
    return connect(
        f"ws://{host}:{port}/", proxy=None, open_timeout=10, close_timeout=1, legacy=True
    )


def raw_handshake(port: int, host: str = "127.0.0.1", **headers: str) -> socket.socket:
    """A WebSocket handshake with extra headers on a plain socket, its answer left unread."""
    sock = socket.create_connection((host, port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = {"Host": f"{host}:{port}", **headers}
    head = "".join(f"{name}: {value}\r\n" for name, value in lines.items())
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\n{head}Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    return sock


@contextlib.contextmanager
def attack(port: int, *, stalled: int, idle: int) -> Iterator[tuple[list[socket.socket], int]]:
    """Hold `stalled` stalled POSTs and `idle` idle WebSockets open; the stalled sockets and the
    number of WebSockets opened (a node that refuses some opens fewer)."""
    posts: list[socket.socket] = []
    sockets: list[ClientConnection] = []
    try:
        for _ in range(stalled):
            posts.append(stalled_post(port))
        for _ in range(idle):
            with contextlib.suppress(OSError, Exception):
                sockets.append(idle_websocket(port))
        yield posts, len(sockets)
    finally:
        for sock in posts:
            sock.close()
        for ws in sockets:
            with contextlib.suppress(Exception):
                ws.close()


def presigned_transfers(url: str, count: int, sender: Keypair) -> list[str]:
    """`count` transfers of 1 planck to Alice from `sender`, signed ahead, as 0x hex."""
    with XplClient(url, timeout=10) as client:
        genesis = client.genesis_hash()
        nonce = client.next_nonce(sender.public)
    alice = dev_keypair("Alice").public
    return [
        to_hex(
            sign_transaction(
                sender, transfer_call(alice, 1), nonce=nonce + i, genesis_hash=genesis
            ).raw
        )
        for i in range(count)
    ]


def honest_latencies(url: str, transfers: list[str], duration: float) -> tuple[list[float], int]:
    """Latencies (ms) of system_health and author_submitExtrinsic in turn for `duration` s,
    and how many calls failed (counted as infinitely slow)."""
    latencies: list[float] = []
    failed = 0
    deadline = time.monotonic() + duration
    with RpcClient(url, timeout=5) as rpc:
        for raw in transfers:
            if time.monotonic() > deadline:
                break
            for method, params in (("system_health", ()), ("author_submitExtrinsic", (raw,))):
                started = time.perf_counter()
                try:
                    rpc.call(method, *params)
                except (RpcClientError, RpcConnectionError):
                    failed += 1
                    latencies.append(float("inf"))
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
    return latencies, failed


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values` by nearest rank; inf if empty."""
    if not values:
        return float("inf")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(url: str, port: int, *, stalled: int, idle: int, duration: float) -> AttackFigures:
    """The honest client's figures while the attack holds its connections to the node."""
    transfers = presigned_transfers(url, int(duration * 200) + 10, dev_keypair(HONEST_SENDER))
    with attack(port, stalled=stalled, idle=idle) as (_, opened):
        latencies, failed = honest_latencies(url, transfers, duration)
    return AttackFigures(
        stalled=stalled,
        idle=opened,
        calls=len(latencies),
        failed=failed,
        p50_ms=round(percentile(latencies, 0.5), 2),
        p99_ms=round(percentile(latencies, 0.99), 2),
        max_ms=round(max(latencies, default=float("inf")), 2),
    )


def run_rpc_attack_benchmark(
    *, stalled: int, idle: int, duration: float, progress: Callable[[str], None]
) -> AttackFigures:
    """Start `xpl node --dev` with room for every attacking connection, measure, stop it."""
    if stalled < 0 or idle < 0 or not duration > 0:
        raise ValueError("--stalled and --idle must be at least 0 and --duration positive")
    base = Path(tempfile.mkdtemp(prefix="xpl-rpc-attack-"))
    port = free_port()
    room = str(stalled + idle + 20)
    node = Process(
        [
            *XPL_COMMAND,
            "node",
            "--dev",
            "--base-path",
            str(base),
            "--rpc-port",
            str(port),
            "--no-prometheus",
            "--port",
            "0",
            # Hold every attacking connection open: the worst case for the honest client.
            "--rpc-max-connections",
            room,
            "--rpc-max-connections-per-ip",
            room,
        ],
        base / "node.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        node.spawn()
        progress(f"waiting for xpl node --dev on port {port}")
        _wait_ready(url)
        progress(f"opening {stalled} stalled POSTs and {idle} idle WebSockets")
        return measure(url, port, stalled=stalled, idle=idle, duration=duration)
    finally:
        node.stop()
        shutil.rmtree(base, ignore_errors=True)


def _wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with XplClient(url, timeout=2) as client:
        while True:
            with contextlib.suppress(RpcClientError, RpcConnectionError):
                if client.block_hash(1) is not None:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the node did not answer within {timeout:.0f} s")
            time.sleep(0.2)
