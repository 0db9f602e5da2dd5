"""The transport's defences against clients that hold connections: deadlines for headers and
bodies, idle and unresponsive WebSockets, connections per address, and the rate of calls.

Every client here is on the loopback; a second address (127.0.0.2, also the loopback on Linux)
stands for another client where one address must not affect another.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from chain.service.rpc.errors import SERVER_BUSY
from chain.service.rpc.limits import RpcLimits
from tests.chain.service.rpc.harness import (
    COUNTER,
    Harness,
    masked_text_frame,
    open_ws,
    raw_websocket,
    wait_until,
    ws_call,
)

pytestmark = pytest.mark.timeout(60)

ECHO = {"jsonrpc": "2.0", "id": 1, "method": "test_echo", "params": ["hi"]}


def stalled_post(port: int, source: str = "127.0.0.1") -> socket.socket:
    """A POST announcing 1000 bytes of body and sending one: the slow-loris of the body."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    sock.sendall(
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )
    return sock


def read_all(sock: socket.socket, timeout: float) -> bytes:
    """What the server sends until it closes the connection (which it must within `timeout`)."""
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def call_from(source: str, url: str) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, trust_env=False, timeout=10) as http:
        return http.post(url, json=ECHO)


def test_a_stalled_body_is_answered_408_and_closed_at_its_deadline(
    start_server: Callable[..., Harness],
) -> None:
    server = start_server(limits=RpcLimits(body_timeout_s=0.5))
    sock = stalled_post(server.port)
    started = time.monotonic()
    answer = read_all(sock, timeout=5)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert 0.4 < time.monotonic() - started < 3
    wait_until(lambda: server.server.connection_count == 0)
    assert server.server.closed_counts["timeout"] >= 1


def test_headers_sent_slowly_are_cut_off_at_the_header_deadline(
    start_server: Callable[..., Harness],
) -> None:
    server = start_server(limits=RpcLimits(header_timeout_s=0.5))
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    started = time.monotonic()
    sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    # One header line every 0.2 s would keep a connection alive forever without a deadline.
    try:
        for _ in range(25):
            time.sleep(0.2)
            sock.sendall(b"X-Slow: 1\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert read_all(sock, timeout=5) == b""
    assert time.monotonic() - started < 3
    wait_until(lambda: server.server.connection_count == 0)


def test_an_idle_websocket_is_closed_but_one_with_a_subscription_stays(
    start_server: Callable[..., Harness],
) -> None:
    server = start_server(limits=RpcLimits(ws_idle_timeout_s=0.6, ws_ping_interval_s=0.2))
    idle = open_ws(server.ws_url)
    subscribed = open_ws(server.ws_url)
    assert "result" in ws_call(subscribed, {"jsonrpc": "2.0", "id": 1, "method": COUNTER[0]})
    started = time.monotonic()
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            idle.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    assert time.monotonic() - started < 3
    # The subscriber answers pings and has a subscription: it is still served.
    assert ws_call(subscribed, ECHO)["result"] == ["hi"]
    subscribed.close()


def test_a_websocket_that_answers_no_ping_is_dropped(start_server: Callable[..., Harness]) -> None:
    server = start_server(limits=RpcLimits(ws_ping_interval_s=0.2, ws_idle_timeout_s=60))
    silent = raw_websocket(server.port)  # never reads, never answers a ping
    silent.sendall(masked_text_frame({"jsonrpc": "2.0", "id": 1, "method": COUNTER[0]}))
    wait_until(lambda: len(server.hub.subscriptions) == 1)
    wait_until(lambda: server.server.connection_count == 0, timeout=5)
    assert server.server.closed_counts["unresponsive"] == 1
    silent.close()


def test_one_address_is_held_to_its_connection_limit_and_others_are_not(
    start_server: Callable[..., Harness],
) -> None:
    server = start_server(limits=RpcLimits(max_connections_per_ip=2))
    first, second = stalled_post(server.port), stalled_post(server.port)
    wait_until(lambda: server.server.connection_count == 2)
    # A third from the same address replaces the least recently active of its own.
    third = stalled_post(server.port)
    assert read_all(first, timeout=5) == b""
    wait_until(lambda: server.server.connection_count == 2)
    # Another address is not affected.
    assert call_from("127.0.0.2", server.url).json()["result"] == ["hi"]
    for sock in (second, third):
        sock.close()


def test_an_address_with_every_connection_busy_is_refused_429(
    start_server: Callable[..., Harness],
) -> None:
    server = start_server(limits=RpcLimits(max_connections_per_ip=2))
    sleepers = [open_ws(server.ws_url) for _ in range(2)]
    for ws in sleepers:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "test_sleep", "params": [2]}))
    wait_until(lambda: server.server.busy_count == 2)
    refused = httpx.post(server.url, json=ECHO, timeout=10)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == SERVER_BUSY
    assert call_from("127.0.0.2", server.url).json()["result"] == ["hi"]
    for ws in sleepers:
        assert json.loads(ws.recv(timeout=10))["result"] == "slept"
        ws.close()


def test_calls_over_an_address_rate_limit_are_refused_and_other_addresses_served(
    start_server: Callable[..., Harness],
) -> None:
    # 6 calls a minute, a burst of 1 (a second's worth, at least one): the second call within
    # ten seconds is refused at once rather than delayed, and so is a batch, whole.
    server = start_server(limits=RpcLimits(rate_limit_per_minute=6), max_batch=5)
    with httpx.Client(trust_env=False, timeout=10) as http:
        started = time.monotonic()
        answers = [http.post(server.url, json=ECHO) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 429, 429]
        assert time.monotonic() - started < 1  # refused, not made to wait
        assert answers[-1].json()["error"]["code"] == SERVER_BUSY
        batch = [dict(ECHO, id=i) for i in range(2)]
        refused = http.post(server.url, json=batch)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == SERVER_BUSY
    assert call_from("127.0.0.2", server.url).json()["result"] == ["hi"]


def test_a_batch_is_charged_whole_before_any_call_runs(
    start_server: Callable[..., Harness],
) -> None:
    # 240 calls a minute, a burst of 4: a batch of 4 passes, one of 5 (more than a burst) is
    # refused whole at once (no call of it ran), and another of 4 waits about a second.
    server = start_server(limits=RpcLimits(rate_limit_per_minute=240), max_batch=5)
    with httpx.Client(trust_env=False, timeout=10) as http:
        started = time.monotonic()
        four = [dict(ECHO, id=i) for i in range(4)]
        assert [a["result"] for a in http.post(server.url, json=four).json()] == [["hi"]] * 4
        refused = http.post(server.url, json=[*four, ECHO])
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == SERVER_BUSY
        assert time.monotonic() - started < 0.7  # refused, not made to wait
        assert len(http.post(server.url, json=four).json()) == 4
        assert 0.7 <= time.monotonic() - started < 3
