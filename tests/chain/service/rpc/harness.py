"""A real RpcServer on 127.0.0.1 in a trio thread with test methods, and the raw HTTP and
WebSocket tools the transport tests drive it with."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import trio
from websockets.sync.client import ClientConnection, connect

from chain.service.rpc.errors import (
    UNKNOWN_BLOCK,
    RpcError,
)
from chain.service.rpc.protocol import Params
from chain.service.rpc.registry import RpcMethods
from chain.service.rpc.subscriptions import Subscription
from chain.service.rpc.transport import RpcServer

ECHO_METHOD = "test_echo"
COUNTER = ("test_subscribeCounter", "test_counter", "test_unsubscribeCounter")
FINITE = ("test_subscribeFinite", "test_finite", "test_unsubscribeFinite")


class CounterHub:
    """Sends an increasing counter to every subscription, from a trio task."""

    def __init__(self) -> None:
        self.subscriptions: set[Subscription] = set()
        self.value = 0

    def add(self, subscription: Subscription) -> None:
        self.subscriptions.add(subscription)
        subscription.on_close(lambda: self.subscriptions.discard(subscription))

    def broadcast(self, result: object) -> None:
        for subscription in list(self.subscriptions):
            subscription.send(result)

    async def run(self, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            self.value += 1
            self.broadcast(self.value)


class Harness:
    """An RpcServer serving test methods from `trio.run` in a background thread."""

    def __init__(self, **options: Any) -> None:
        self.hub = CounterHub()
        self.remembered: list[object] = []
        self.closed_ids: list[str] = []
        self.server = RpcServer(
            self._methods(),
            host="127.0.0.1",
            port=0,
            extra_routes={"/health": self._health, "/broken": self._broken},
            **options,
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def start(self) -> Harness:
        self._thread.start()
        assert self._ready.wait(10), "server did not start"
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> float:
        """Cancel the server; how long it took to stop."""
        started = time.monotonic()
        if self._token is not None and self._nursery is not None:
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(self._nursery.cancel_scope.cancel)
        self._thread.join(10)
        assert not self._thread.is_alive(), "server did not stop"
        if self._error is not None:
            raise self._error
        return time.monotonic() - started

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.hub.run, 0.005)
            self.port = await nursery.start(self.server.serve)
            self._ready.set()

    def _health(self) -> tuple[int, str, bytes]:
        return 200, "application/json", b'{"ok":true}'

    def _broken(self) -> tuple[int, str, bytes]:
        raise RuntimeError("route failed")

    def _methods(self) -> RpcMethods:
        methods = RpcMethods()
        methods.add("test_echo", lambda params: params)
        methods.add("test_add", _add)
        methods.add("test_fail", _fail)
        methods.add("test_invalid", _invalid)
        methods.add("test_crash", _crash)
        methods.add("test_sleep", _sleep)
        methods.add("test_big", lambda params: "x" * positional(params)[0])
        methods.add("test_bigint", lambda params: 2**200)
        methods.add("test_unencodable", lambda params: object())
        methods.add("test_remember", lambda params: self.remembered.append(params))
        methods.add("test_recall", lambda params: self.remembered)
        methods.add("test_flood", self._flood)
        methods.add("test_unsafe", lambda params: "done", (), unsafe=True)
        methods.add_subscription(*COUNTER, self._subscribe_counter)
        methods.add_subscription(*FINITE, self._subscribe_finite)
        return methods

    def _flood(self, params: Params) -> int:
        """Send params[0] notifications of params[1] characters to every counter subscription."""
        count, size = positional(params)
        for _ in range(count):
            self.hub.broadcast("f" * size)
        return len(self.hub.subscriptions)

    def _subscribe_counter(self, params: Params, subscription: Subscription) -> None:
        subscription.on_close(lambda: self.closed_ids.append(subscription.id))
        # Sent before the subscribe call is answered: must still arrive after the answer.
        subscription.send("initial")
        self.hub.add(subscription)

    def _subscribe_finite(self, params: Params, subscription: Subscription) -> None:
        count, mode = positional(params)
        if mode == "sync":
            for value in range(count):
                subscription.send(value)
            subscription.close()
        elif mode == "task":
            assert self._nursery is not None
            self._nursery.start_soon(_emit_then_close, subscription, count)
        # Any other mode: a subscription that stays silent.


def positional(params: Params) -> list[Any]:
    if not isinstance(params, list):
        raise TypeError("expected positional params")
    return params


def _add(params: Params) -> int:
    a, b = positional(params)
    if type(a) is not int or type(b) is not int:
        raise TypeError("test_add takes two integers")
    return a + b


def _fail(params: Params) -> None:
    raise RpcError(UNKNOWN_BLOCK, "Unknown block", data={"hash": "0x00"})


def _invalid(params: Params) -> None:
    raise ValueError("amount must be positive")


def _crash(params: Params) -> None:
    raise RuntimeError("secret database path /var/lib/xpl")


async def _sleep(params: Params) -> str:
    await trio.sleep(positional(params)[0])
    return "slept"


async def _emit_then_close(subscription: Subscription, count: int) -> None:
    for value in range(count):
        await trio.sleep(0.001)
        subscription.send(value)
    subscription.close()


def post(url: str, body: bytes | str) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=10) as http:
        return http.post(url, content=body, headers={"content-type": "application/json"})


def post_json(url: str, body: bytes | str) -> Any:
    response = post(url, body)
    assert response.status_code == 200, response.text
    return response.json()


def open_ws(url: str) -> ClientConnection:
    # max_queue=None: with websockets' default, a client holding more than 16 unread messages
    # stops reading its socket, and then misses the server's close frame and waits 10 s.
    return connect(
        url, proxy=None, max_size=16 * 1024 * 1024, max_queue=None, open_timeout=10, legacy=True
    )


def ws_call(ws: ClientConnection, request: object) -> Any:
    """Send a request and return its answer, skipping notifications."""
    ws.send(json.dumps(request))
    while "method" in (answer := json.loads(ws.recv(timeout=10))):
        pass
    return answer


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def raw_websocket(port: int) -> socket.socket:
    """A WebSocket handshake on a plain socket that then never reads unless told to."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def masked_text_frame(obj: object) -> bytes:
    return masked_frame(json.dumps(obj).encode())


def masked_frame(data: bytes, opcode: int = 0x1) -> bytes:
    """One final client frame (text by default) carrying `data`, as given, however invalid."""
    assert len(data) < 126
    mask = os.urandom(4)
    return (
        bytes([0x80 | opcode, 0x80 | len(data)])
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    )


def read_close_code(sock: socket.socket, timeout: float = 5.0) -> int | None:
    """The code of the close frame the server sends next (skipping other frames); None if the
    connection ends without one."""
    sock.settimeout(timeout)
    buffer = b""
    while True:
        while len(buffer) >= 2:
            opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
            head = 2
            if length == 126:
                head, length = 4, int.from_bytes(buffer[2:4], "big") if len(buffer) >= 4 else -1
            elif length == 127:
                head, length = 10, int.from_bytes(buffer[2:10], "big") if len(buffer) >= 10 else -1
            if length < 0 or len(buffer) < head + length:
                break
            payload, buffer = buffer[head : head + length], buffer[head + length :]
            if opcode == 0x8:
                return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return None
        if not data:
            return None
        buffer += data
