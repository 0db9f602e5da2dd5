"""The HTTP and WebSocket transport of a real RpcServer on 127.0.0.1: size limits, slow clients,
connection limits, shutdown, and garbage that must not bring it down."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chain.client.rpc import (
    RpcClient,
    RpcClientError,
    RpcConnectionError,
)
from chain.service.rpc.errors import (
    OVERSIZED_REQUEST,
    OVERSIZED_RESPONSE,
    SERVER_BUSY,
)
from chain.service.rpc.limits import RpcLimits
from tests.chain.service.rpc.harness import (
    COUNTER,
    Harness,
    masked_text_frame,
    open_ws,
    post,
    raw_websocket,
    wait_until,
    ws_call,
)

pytestmark = pytest.mark.timeout(60)


def test_oversized_http_body_is_refused_with_413(start_server: Callable[..., Harness]) -> None:
    small = start_server(max_request_bytes=64 * 1024)
    big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "test_echo", "params": ["x" * 100_000]})
    response = post(small.url, big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == OVERSIZED_REQUEST

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b" " * 16384

    with httpx.Client(trust_env=False, timeout=10) as http:
        chunked = http.post(
            small.url, content=chunks(), headers={"content-type": "application/json"}
        )
    assert chunked.status_code == 413

    with RpcClient(small.url) as rpc, pytest.raises(RpcClientError) as refused:
        rpc.call("test_echo", "x" * 100_000)
    assert refused.value.code == OVERSIZED_REQUEST
    with RpcClient(small.url) as rpc:
        assert rpc.call("test_echo", "x" * 1000) == ["x" * 1000]


def test_oversized_declared_body_is_refused_before_it_is_sent(
    start_server: Callable[..., Harness],
) -> None:
    small = start_server(max_request_bytes=64 * 1024)
    with socket.create_connection(("127.0.0.1", small.port), timeout=10) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n[1,"
        )
        started = time.monotonic()
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 413")
        assert time.monotonic() - started < 1.5


def test_oversized_response_becomes_an_error(start_server: Callable[..., Harness]) -> None:
    small = start_server(max_response_bytes=64 * 1024)
    with RpcClient(small.url) as rpc:
        assert len(rpc.call("test_big", 60_000)) == 60_000
        with pytest.raises(RpcClientError) as too_large:
            rpc.call("test_big", 70_000)
        assert too_large.value.code == OVERSIZED_RESPONSE
        with pytest.raises(RpcClientError) as batch_too_large:
            rpc.batch([("test_big", [40_000]), ("test_big", [40_000])])
        assert batch_too_large.value.code == OVERSIZED_RESPONSE


def test_oversized_websocket_message_closes_the_connection(
    start_server: Callable[..., Harness],
) -> None:
    small = start_server(max_request_bytes=64 * 1024)
    with open_ws(small.ws_url) as ws:
        assert ws_call(ws, {"jsonrpc": "2.0", "id": 1, "method": "test_echo"})["result"] == []
        request = {"jsonrpc": "2.0", "id": 2, "method": "test_echo", "params": ["x" * 100_000]}
        ws.send(json.dumps(request))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_burst_beyond_the_queue_closes_the_connection(start_server: Callable[..., Harness]) -> None:
    flooded = start_server(max_queued_messages=100)
    with RpcClient(flooded.url) as rpc:
        subscription = rpc.subscribe(COUNTER[0], [], COUNTER[2])
        assert subscription.next(timeout=10) == "initial"
        assert rpc.call("test_flood", 500, 10) == 1
        received = 0
        with pytest.raises(RpcConnectionError) as closed:
            while True:
                subscription.next(timeout=10)
                received += 1
        assert "1008" in str(closed.value)
        assert received <= 100 + 10
        subscription.close()
        wait_until(lambda: not flooded.hub.subscriptions)
        assert rpc.call("test_add", 1, 1) == 2


def test_client_that_stops_reading_is_disconnected(start_server: Callable[..., Harness]) -> None:
    slow = start_server(max_queued_messages=8)
    sock = raw_websocket(slow.port)
    try:
        sock.sendall(masked_text_frame({"jsonrpc": "2.0", "id": 1, "method": COUNTER[0]}))
        wait_until(lambda: len(slow.hub.subscriptions) == 1)
        with RpcClient(slow.url) as rpc:
            # Large notifications, a few at a time, until the socket's buffers are full and the
            # queue overflows; the server must then close the connection.
            deadline = time.monotonic() + 20
            while slow.hub.subscriptions:
                assert time.monotonic() < deadline, "slow client was never disconnected"
                rpc.call("test_flood", 2, 1_000_000)
            wait_until(lambda: slow.server.connection_count <= 1)
            assert rpc.call("test_echo", "still here") == ["still here"]
    finally:
        sock.close()


def test_a_full_server_replaces_an_idle_connection_and_refuses_when_all_are_busy(
    start_server: Callable[..., Harness],
) -> None:
    limited = start_server(limits=RpcLimits(max_connections=3))
    sockets = [open_ws(limited.ws_url) for _ in range(3)]
    ws_call(sockets[0], {"jsonrpc": "2.0", "id": 1, "method": "test_echo"})  # most recent
    try:
        # Full of idle connections: a newcomer replaces the least recently active one.
        sockets.append(open_ws(limited.ws_url))
        with pytest.raises(ConnectionClosed):
            sockets[1].recv(timeout=5)
        busy = [sockets[0], sockets[2], sockets[3]]
        for ws in busy:
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "test_sleep", "params": [3]}))
        wait_until(lambda: limited.server.busy_count == 3)
        # Every connection is busy answering a call: none is closed, the newcomer is refused.
        with pytest.raises(InvalidStatus) as refused:
            open_ws(limited.ws_url)
        assert refused.value.response.status_code == 429
        with RpcClient(limited.url) as rpc, pytest.raises(RpcClientError) as full:
            rpc.call("test_echo")
        assert full.value.code == SERVER_BUSY
        for ws in busy:
            assert json.loads(ws.recv(timeout=10))["result"] == "slept"
        with RpcClient(limited.url) as rpc:
            assert rpc.call("test_echo", 1) == [1]
    finally:
        for ws in sockets:
            ws.close()


def test_closed_connections_stop_counting_at_once(start_server: Callable[..., Harness]) -> None:
    # hypercorn's connection task outlives a closed socket by its keep-alive timeout (5 s); the
    # limit must count open sockets, or a script making short-lived calls would be refused.
    limited = start_server(limits=RpcLimits(max_connections=2))
    for value in range(6):
        with RpcClient(limited.url) as rpc:
            assert rpc.call("test_echo", value) == [value]
        wait_until(lambda: limited.server.connection_count == 0, timeout=2)


def test_shutdown_closes_sockets_and_subscriptions() -> None:
    stopping = Harness().start()
    try:
        stuck = raw_websocket(stopping.port)
        stuck.sendall(masked_text_frame({"jsonrpc": "2.0", "id": 1, "method": COUNTER[0]}))
        wait_until(lambda: len(stopping.hub.subscriptions) == 1)
        with RpcClient(stopping.url) as rpc:
            rpc.call("test_flood", 10, 1_000_000)  # fill the stuck client's buffers (10 MB)
            subscription = rpc.subscribe(COUNTER[0], [], COUNTER[2])
            assert len(stopping.hub.subscriptions) == 2
    finally:
        took = stopping.stop()
    assert took < 5
    assert not stopping.hub.subscriptions
    assert stopping.server.connection_count == 0
    with pytest.raises(RpcConnectionError) as closed:
        while True:
            subscription.next(timeout=10)
    assert "1001" in str(closed.value)
    subscription.close()
    stuck.close()
    with pytest.raises(RpcConnectionError) as unreachable:
        RpcClient(stopping.url, timeout=2).call("test_echo")
    assert f"127.0.0.1:{stopping.port}" in str(unreachable.value)


def test_server_survives_garbage_and_still_answers(harness: Harness) -> None:
    garbage = [
        b"\x00\xff\x13\x37 not http at all\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{",  # truncated body
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
        # A WebSocket frame sent before the handshake is answered.
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        + masked_text_frame({"jsonrpc": "2.0", "id": 1, "method": "test_echo"}),
    ]
    for data in garbage:
        with socket.create_connection(("127.0.0.1", harness.port), timeout=10) as sock:
            try:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(65536):
                    pass
            except OSError:
                pass
    sock = raw_websocket(harness.port)
    sock.sendall(b"\x81\x05hello")  # an unmasked client frame: a protocol error
    sock.close()
    with RpcClient(harness.url) as rpc:
        assert rpc.call("test_echo", "alive") == ["alive"]
        wait_until(lambda: harness.server.connection_count <= 1)
