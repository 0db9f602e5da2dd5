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
    for _ in range(3000):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    held = open_fds() - before
    counted = server.server.connection_count
    print(f"3000 connect+close in {elapsed:.2f} s: {held} server sockets held, {counted} counted")
    assert held > 300  # thirty times the connection limit
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


def _rss_mib() -> float:
    for line in open("/proc/self/status").read().splitlines():  # noqa: SIM115
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _frame(data: bytes, opcode: int, final: bool) -> bytes:
    """One masked client frame (mask 0: the payload is sent as is)."""
    first = (0x80 if final else 0) | opcode
    if len(data) < 126:
        length = bytes([0x80 | len(data)])
    elif len(data) < 65536:
        length = bytes([0x80 | 126]) + len(data).to_bytes(2, "big")
    else:
        length = bytes([0x80 | 127]) + len(data).to_bytes(8, "big")
    return bytes([first]) + length + b"\0\0\0\0" + data


def test_websockets_with_a_silent_subscription_hold_15_mib_each_past_every_timeout(
    start_server: Callable[..., Harness],
) -> None:
    """A WebSocket with one subscription that never fires is never idle, and one that sends a
    frame now and then is never unresponsive; meanwhile the first 15 MiB fragment of a message
    that is never finished sits in the server's buffer. Ten such sockets from one address hold
    150 MiB past the idle timeout (the node: 20 an address, 300 MiB an address, for ever)."""
    from tests.chain.service.rpc.harness import raw_websocket

    limits = RpcLimits(ws_idle_timeout_s=1.0, ws_ping_interval_s=2.0)
    server = start_server(limits=limits)
    subscribe = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "test_subscribeFinite", "params": [0, "silent"]}
    ).encode()
    fragment = b'{"jsonrpc":"2.0","id":2,"method":"test_echo","params":["' + b"a" * (
        15 * 1024 * 1024 - 200
    )
    before = _rss_mib()
    sockets = []
    for _ in range(10):
        sock = raw_websocket(server.port)
        sock.sendall(_frame(subscribe, 0x1, True))
        sock.sendall(_frame(fragment, 0x1, False))
        sockets.append(sock)
    try:
        for _ in range(10):  # five idle timeouts, two and a half ping intervals
            time.sleep(0.5)
            for sock in sockets:
                sock.sendall(_frame(b"", 0x9, True))  # a ping of its own: something arrives
        held = server.server.connection_count
        grown = _rss_mib() - before
    finally:
        for sock in sockets:
            sock.close()
    print(f"10 WebSockets held {held} connections and {grown:.0f} MiB after 5 s (idle: 1 s)")
    assert held == 10
    assert grown > 100


def test_requests_that_are_not_calls_are_never_charged_to_the_rate_limit(
    start_server: Callable[..., Harness],
) -> None:
    """The rate limit counts calls that reach a method; a request that fails to parse, is not a
    request object, is an oversized batch, or is not a JSON-RPC POST at all (OPTIONS, GET, 404,
    415) costs the node its parsing and answering and is never refused. At a limit of one call
    a second, one client has 2,400 such requests answered in a row without one 429."""
    server = start_server(limits=RpcLimits(rate_limit_per_minute=60), max_batch=2)
    bodies = [b"{}", b"[]", b'"x"', b"[1,2,3]", b"{", b'{"jsonrpc":"2.0","id":1}']
    head = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    requests = [head + b"Content-Length: %d\r\n\r\n" % len(body) + body for body in bodies]
    requests.append(b"OPTIONS / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    requests.append(b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    statuses: dict[bytes, int] = {}
    started = time.monotonic()
    for _ in range(3):  # hypercorn closes a connection after 1,000 requests
        with socket.create_connection(
            ("127.0.0.1", server.port), timeout=10, source_address=("127.0.0.2", 0)
        ) as sock:
            for _ in range(100):  # pipelined, one of each at a time
                sock.sendall(b"".join(requests))
                answers = b""
                while answers.count(b"HTTP/1.1 ") < len(requests):
                    chunk = sock.recv(1 << 20)
                    assert chunk, "connection closed"
                    answers += chunk
                for line in answers.split(b"HTTP/1.1 ")[1:]:
                    statuses[line[:3]] = statuses.get(line[:3], 0) + 1
    rate = 2400 / (time.monotonic() - started)
    print(f"2,400 uncharged requests at {rate:.0f} a second: {statuses}")
    assert b"429" not in statuses
    assert statuses.get(b"200", 0) == 1800  # six of every eight


def test_answers_queue_without_bound_in_bytes_for_a_websocket_that_does_not_read(
    start_server: Callable[..., Harness],
) -> None:
    """Answers wait in a queue of 4,096 messages per WebSocket, of up to 15 MiB each: a client
    that keeps sending calls (so it is never unresponsive) and never reads makes the server keep
    every answer. 2,000 calls answered with 100 kB each hold 200 MB on one connection; on the
    node a batch of 1,024 `rpc_methods` calls (a few kB each) makes one message of megabytes."""
    from tests.chain.service.rpc.harness import raw_websocket

    server = start_server()
    before = _rss_mib()
    sock = raw_websocket(server.port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    call = _frame(
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "test_big", "params": [100_000]}).encode(),
        0x1,
        True,
    )
    try:
        for _ in range(20):
            sock.sendall(call * 100)
            time.sleep(0.1)
        time.sleep(1.0)
        grown = _rss_mib() - before
        held = server.server.connection_count
    finally:
        sock.close()
    print(f"a WebSocket that does not read: {grown:.0f} MiB of answers held, {held} open")
    assert held == 1
    assert grown > 150
