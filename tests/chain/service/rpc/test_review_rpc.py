"""Attacks on the RPC transport that its limits do not stop yet; each test passes while the
hole is open (it asserts what the attack achieves)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from chain.service.rpc.limits import RpcLimits
from tests.chain.service.rpc.harness import Harness

pytestmark = pytest.mark.timeout(90)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_closed_connections_keep_server_sockets_that_no_limit_counts(
    start_server: Callable[..., Harness],
) -> None:
    """A client that connects and closes at once leaves the server its socket (and a task) for
    the header timeout, uncounted: the connection limits never see it, so a loop of
    connect+close exhausts the node's file descriptors (LevelDB, p2p and accept then fail)."""
    server = start_server(limits=RpcLimits(max_connections=10, max_connections_per_ip=5))
    before = open_fds()
    started = time.monotonic()
    for _ in range(1500):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    held = open_fds() - before
    counted = server.server.connection_count
    print(f"1500 connect+close in {elapsed:.2f} s: {held} server sockets held, {counted} counted")
    assert held > 500  # fifty times the connection limit
    assert counted <= 10
    assert server.server.closed_counts.get("refused", 0) == 0  # none was ever refused


def _pipelined_batches(port: int, source: str, batch: bytes, stop: threading.Event) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
    request = (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(batch)
    ) + batch
    try:
        sock.sendall(request * 2)  # always one more queued behind the one being answered
        while not stop.is_set():
            buffer = b""
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            sock.sendall(request)
    except OSError:
        pass
    finally:
        sock.close()


def test_connections_kept_busy_by_rate_limited_batches_lock_out_an_honest_client(
    start_server: Callable[..., Harness],
) -> None:
    """Eviction spares busy connections; a batch of cheap calls throttled by the address's own
    rate limit keeps a connection busy for seconds (calls of a batch wait for their tokens one
    after another). Two addresses filling the server with such connections get every honest
    newcomer refused 429, whatever the limits' scale (the burst is one full batch)."""
    limits = RpcLimits(max_connections=10, max_connections_per_ip=5, rate_limit_per_minute=600)
    server = start_server(limits=limits, max_batch=10)
    call = {"jsonrpc": "2.0", "id": 1, "method": "test_echo", "params": [1]}
    batch = json.dumps([call] * 10).encode()
    stop = threading.Event()
    attackers = [
        threading.Thread(target=_pipelined_batches, args=(server.port, source, batch, stop))
        for source in ("127.0.0.2", "127.0.0.3")
        for _ in range(5)
    ]
    for thread in attackers:
        thread.start()
    try:
        time.sleep(1.5)
        refused = 0
        tries = 20
        for _ in range(tries):
            with httpx.Client(trust_env=False, timeout=10) as http:
                answer = http.post(
                    server.url,
                    content=json.dumps(call),
                    headers={"content-type": "application/json"},
                )
            refused += answer.status_code == 429
            time.sleep(0.1)
        busy = server.server.busy_count
    finally:
        stop.set()
        for thread in attackers:
            thread.join(30)
    print(f"honest client refused {refused} of {tries} times; {busy} attacker connections busy")
    assert refused >= tries * 3 // 4
