"""Attacks on the RPC transport's limits, each driven as an attacker would, showing it fails:
closed sockets are counted and freed, rate-limited batches cannot hold connections busy,
requests that are not calls are charged, a body of many JSON values is refused unparsed, and
subscriptions are capped per address."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from chain.service.rpc.errors import OVERSIZED_REQUEST, TOO_MANY_SUBSCRIPTIONS
from chain.service.rpc.limits import MAX_REQUEST_STRUCTURE, RpcLimits
from chain.service.rpc.subscriptions import SubscriptionCounts
from tests.chain.service.rpc.harness import (
    FINITE,
    Harness,
    masked_text_frame,
    open_ws,
    raw_websocket,
    wait_until,
    ws_call,
)
from tests.chain.service.rpc.test_transport_limits import call_from

pytestmark = pytest.mark.timeout(90)

HTTP_HEAD = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_connect_and_close_loops_hold_no_more_sockets_than_the_limits(
    start_server: Callable[..., Harness],
) -> None:
    """3,000 connect-and-close: each closed connection stays counted until its socket is closed,
    which happens within a deadline check; the server never holds more sockets than its limit
    (it held about 1,000, uncounted, while a closed socket stopped counting at EOF)."""
    server = start_server(limits=RpcLimits(max_connections=10, max_connections_per_ip=5))
    before = open_fds()
    most_held = 0
    for round_ in range(3000):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        if round_ % 100 == 0:
            most_held = max(most_held, open_fds() - before)
    assert server.server.connection_count <= 10
    assert most_held <= 10 + 2  # the limit, and a socket being accepted or refused
    wait_until(lambda: server.server.connection_count == 0, timeout=3)
    assert open_fds() - before <= 10


def _pipelined_batches(port: int, source: str, batch: bytes, stop: threading.Event) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
    request = HTTP_HEAD + b"Content-Length: %d\r\n\r\n" % len(batch) + batch
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


def test_rate_limited_batches_cannot_hold_connections_busy_against_an_honest_client(
    start_server: Callable[..., Harness],
) -> None:
    """Two addresses fill the server with connections that pipeline batches over their rate
    limit: each batch over it is refused whole at once instead of waiting for its tokens, so
    the connections are idle between requests and an honest newcomer replaces one of them
    (it was refused 429 on 20 of 20 tries while a throttled batch kept its connection busy)."""
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
        time.sleep(1.0)
        statuses = []
        for _ in range(20):
            with httpx.Client(trust_env=False, timeout=10) as http:
                answer = http.post(
                    server.url,
                    content=json.dumps(call),
                    headers={"content-type": "application/json"},
                )
            statuses.append(answer.status_code)
            time.sleep(0.1)  # the honest client keeps within its own rate limit (10 a second)
    finally:
        stop.set()
        for thread in attackers:
            thread.join(30)
    assert statuses.count(200) == 20, f"{statuses} {server.server.closed_counts}"


def _pipeline(port: int, requests: list[bytes], statuses: list[bytes]) -> None:
    with socket.create_connection(
        ("127.0.0.1", port), timeout=10, source_address=("127.0.0.2", 0)
    ) as sock:
        sock.sendall(b"".join(requests))
        answers = b""
        while answers.count(b"HTTP/1.1 ") < len(requests):
            chunk = sock.recv(1 << 20)
            assert chunk, "connection closed"
            answers += chunk
        statuses.extend(line[:3] for line in answers.split(b"HTTP/1.1 ")[1:])


def test_requests_that_are_not_calls_are_charged_to_the_rate_limit(
    start_server: Callable[..., Harness],
) -> None:
    """Parse errors, oversized batches, OPTIONS and 404s cost a token each: at ten calls a
    second, twenty connections pipelining 80 of them at once are paced to the rate and many
    refused 429 (before, all were answered at once)."""
    server = start_server(limits=RpcLimits(rate_limit_per_minute=600), max_batch=2)
    bodies = [b"[1,2,3]", b"{"]
    requests = [HTTP_HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body for body in bodies]
    requests.append(b"OPTIONS / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    requests.append(b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    statuses: list[bytes] = []
    started = time.monotonic()
    clients = [
        threading.Thread(target=_pipeline, args=(server.port, requests, statuses))
        for _ in range(20)
    ]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(30)
    served = len(statuses) - statuses.count(b"429")
    # Ten tokens a second, a burst of ten, and a second's wait: what the tokens paid for.
    assert len(statuses) == 80
    assert served <= 10 + 10 * (time.monotonic() - started) + 10
    assert statuses.count(b"429") >= 20


def test_a_body_of_too_many_json_values_is_refused_before_it_is_parsed(
    start_server: Callable[..., Harness],
) -> None:
    """A batch of nested empty arrays (cheap to send, slow to parse) over MAX_REQUEST_STRUCTURE
    values is refused by counting its punctuation, without parsing it (the 15 MiB one, about
    2 s of parsing on the event loop, was parsed and then refused as too large a batch)."""
    server = start_server()
    count = MAX_REQUEST_STRUCTURE  # twice the bound in punctuation: "[[]]," is 3 of it
    body = b"[" + b"[[]]," * count + b"[]]"
    with httpx.Client(trust_env=False, timeout=30) as http:
        started = time.monotonic()
        answer = http.post(server.url, content=body, headers={"content-type": "application/json"})
        took = time.monotonic() - started
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == OVERSIZED_REQUEST
        # Honest calls are still served at once.
        echo = {"jsonrpc": "2.0", "id": 1, "method": "test_echo", "params": ["hi"]}
        assert http.post(server.url, json=echo).json()["result"] == ["hi"]
    assert took < 2.0


def test_subscriptions_are_capped_per_address_across_its_websockets(
    start_server: Callable[..., Harness],
) -> None:
    """An address that opens subscriptions over several WebSockets is refused beyond its cap
    (two addresses held 40,960 with only a per-connection cap); closing them gives them back."""
    server = start_server()
    server.server.subscription_counts = SubscriptionCounts(per_address=3, total=10)
    subscribe = {"jsonrpc": "2.0", "id": 1, "method": FINITE[0], "params": [0, "silent"]}
    first, second = open_ws(server.ws_url), open_ws(server.ws_url)
    answers = [ws_call(ws, subscribe) for ws in (first, first, second, second)]
    assert ["result" in a for a in answers] == [True, True, True, False]
    assert answers[-1]["error"]["code"] == TOO_MANY_SUBSCRIPTIONS
    assert "per address" in answers[-1]["error"]["message"]
    first.close()
    deadline = time.monotonic() + 5
    while server.server.subscription_counts.count != 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert "result" in ws_call(second, subscribe)
    second.close()


def test_subscription_counts_cap_the_total_and_give_back() -> None:
    counts = SubscriptionCounts(per_address=2, total=3)
    for address in ("a", "a", "b"):
        counts.take(address)
    with pytest.raises(Exception, match="per address"):
        counts.take("a")
    with pytest.raises(Exception, match="node holds its limit of 3"):
        counts.take("c")
    counts.give_back("a")
    counts.take("c")
    assert counts.count == 3 and counts.by_address == {"a": 1, "b": 1, "c": 1}


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


def test_an_unfinished_websocket_message_is_not_held_past_the_body_timeout(
    start_server: Callable[..., Harness],
) -> None:
    """WebSockets kept busy by a silent subscription and their own pings, each with the first
    4 MiB fragment of a message never finished, are closed once the body timeout passes (they
    were held, with their fragments, for as long as they stayed)."""
    limits = RpcLimits(ws_idle_timeout_s=60.0, ws_ping_interval_s=60.0, body_timeout_s=1.0)
    server = start_server(limits=limits)
    subscribe = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": FINITE[0], "params": [0, "silent"]}
    ).encode()
    fragment = b'{"jsonrpc":"2.0","id":2,"method":"test_echo","params":["' + b"a" * (4 << 20)
    sockets = []
    for _ in range(3):
        sock = raw_websocket(server.port)
        sock.sendall(_frame(subscribe, 0x1, True))
        sock.sendall(_frame(fragment, 0x1, False))
        sockets.append(sock)
    try:
        deadline = time.monotonic() + 10
        while server.server.connection_count:
            assert time.monotonic() < deadline, "unfinished messages held past the deadline"
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.sendall(_frame(b"", 0x9, True))  # something arrives: not unresponsive
            time.sleep(0.2)
    finally:
        for sock in sockets:
            sock.close()
    assert server.server.closed_counts.get("unresponsive", 0) == 3


def test_answers_held_for_a_websocket_that_does_not_read_are_bounded_in_bytes(
    start_server: Callable[..., Harness],
) -> None:
    """A client that keeps sending calls and never reads: its requests stop being read once
    MAX_QUEUED_BYTES of answers wait, and with writes making no progress for the body timeout
    it is closed (it made the server hold 200 MB of answers on one connection)."""
    server = start_server(limits=RpcLimits(body_timeout_s=2.0, rate_limit_per_minute=None))
    before = _rss_mib()
    sock = raw_websocket(server.port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    call = _frame(
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "test_big", "params": [100_000]}).encode(),
        0x1,
        True,
    )
    grown = 0.0
    try:
        sock.settimeout(0.5)
        for _ in range(20):
            try:
                sock.sendall(call * 100)
            except OSError:
                break  # not read from any more, or closed
            grown = max(grown, _rss_mib() - before)
            time.sleep(0.05)
        wait_until(lambda: server.server.connection_count == 0, timeout=10)
    finally:
        sock.close()
    assert grown < 100  # MAX_QUEUED_BYTES (16 MiB) of answers, one more, and buffers
    assert server.server.closed_counts.get("unresponsive", 0) == 1


def test_a_server_full_of_calls_that_never_end_admits_a_newcomer_after_the_body_timeout(
    start_server: Callable[..., Harness],
) -> None:
    """An address fills the server with WebSockets each in a long call: a newcomer holding no
    connection is refused while those calls are younger than the body timeout, then replaces
    the longest-busy one (its call is ended); before, it was refused for as long as they ran."""
    limits = RpcLimits(max_connections=2, max_connections_per_ip=2, body_timeout_s=1.0)
    server = start_server(limits=limits)
    sleepers = [raw_websocket(server.port) for _ in range(2)]
    for sock in sleepers:
        sock.sendall(
            masked_text_frame({"jsonrpc": "2.0", "id": 1, "method": "test_sleep", "params": [20]})
        )
    try:
        wait_until(lambda: server.server.busy_count == 2)
        assert call_from("127.0.0.2", server.url).status_code == 429
        time.sleep(1.2)  # the body timeout passes: what the test is about
        assert call_from("127.0.0.2", server.url).json()["result"] == ["hi"]
        assert server.server.closed_counts.get("evicted", 0) == 1
    finally:
        for sock in sleepers:
            sock.close()
