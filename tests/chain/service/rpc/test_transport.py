"""The JSON-RPC transport: a real RpcServer on 127.0.0.1 in a trio thread, driven through RpcClient
and, where the client hides details, raw httpx, websockets and sockets."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from chain.client.rpc import (
    RpcClient,
    RpcClientError,
    RpcConnectionError,
    SubscriptionClosedError,
)
from chain.service.rpc.errors import (
    BATCH_TOO_LARGE,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    OVERSIZED_REQUEST,
    OVERSIZED_RESPONSE,
    PARSE_ERROR,
    SERVER_BUSY,
    TOO_MANY_SUBSCRIPTIONS,
    UNKNOWN_BLOCK,
    RpcError,
)
from chain.service.rpc.protocol import Params
from chain.service.rpc.registry import RpcMethods
from chain.service.rpc.subscriptions import Subscription
from chain.service.rpc.transport import RpcServer

pytestmark = pytest.mark.timeout(60)

COUNTER = ("test_subscribeCounter", "test_counter", "test_unsubscribeCounter")
FINITE = ("test_subscribeFinite", "test_finite", "test_unsubscribeFinite")


# ---------------------------------------------------------------------------------------------
# A server in a thread, with test methods


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


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    running = Harness().start()
    yield running
    assert running.stop() < 5


@pytest.fixture
def start_server() -> Iterator[Callable[..., Harness]]:
    """Start servers with special limits; stopped at teardown."""
    started: list[Harness] = []

    def start(**options: Any) -> Harness:
        running = Harness(**options).start()
        started.append(running)
        return running

    yield start
    for running in started:
        assert running.stop() < 5


@pytest.fixture
def client(harness: Harness) -> Iterator[RpcClient]:
    with RpcClient(harness.url, timeout=10) as rpc:
        yield rpc


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
    data = json.dumps(obj).encode()
    assert len(data) < 126
    mask = os.urandom(4)
    return (
        bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    )


# ---------------------------------------------------------------------------------------------
# Calls


def test_call_returns_results(client: RpcClient) -> None:
    assert client.call("test_echo", 1, "two", [3], {"four": 4}) == [1, "two", [3], {"four": 4}]
    assert client.call("test_add", 2, 40) == 42
    assert client.call("test_sleep", 0.01) == "slept"
    assert client.call("test_bigint") == 2**200
    assert client.call("test_echo") == []


def test_rpc_methods_lists_every_method(client: RpcClient) -> None:
    methods = client.call("rpc_methods")["methods"]
    assert methods == sorted(methods)
    assert {"rpc_methods", "test_echo", *COUNTER[::2], *FINITE[::2]} <= set(methods)
    assert "test_counter" not in methods  # a notification, not a method


def test_named_params_and_missing_params(harness: Harness) -> None:
    request: dict[str, object] = {
        "jsonrpc": "2.0",
        "id": "a",
        "method": "test_echo",
        "params": {"x": 1},
    }
    assert post_json(harness.url, json.dumps(request)) == {
        "jsonrpc": "2.0",
        "result": {"x": 1},
        "id": "a",
    }
    request = {"jsonrpc": "2.0", "id": None, "method": "test_echo"}
    assert post_json(harness.url, json.dumps(request))["result"] == []


def test_handler_errors(client: RpcClient) -> None:
    with pytest.raises(RpcClientError) as failed:
        client.call("test_fail")
    assert (failed.value.code, failed.value.message) == (UNKNOWN_BLOCK, "Unknown block")
    assert failed.value.data == {"hash": "0x00"}

    with pytest.raises(RpcClientError) as invalid:
        client.call("test_invalid")
    assert invalid.value.code == INVALID_PARAMS
    assert "amount must be positive" in invalid.value.message

    with pytest.raises(RpcClientError) as wrong_type:
        client.call("test_add", "2", 40)
    assert wrong_type.value.code == INVALID_PARAMS

    for method in ("test_crash", "test_unencodable"):
        with pytest.raises(RpcClientError) as internal:
            client.call(method)
        assert internal.value.code == INTERNAL_ERROR
        assert internal.value.message == "Internal error"
        assert internal.value.data is None
        assert "secret" not in str(internal.value)

    with pytest.raises(RpcClientError) as unknown:
        client.call("no_suchMethod")
    assert unknown.value.code == METHOD_NOT_FOUND
    assert "no_suchMethod" in unknown.value.message


def test_notification_runs_but_gets_no_answer(harness: Harness) -> None:
    request = {"jsonrpc": "2.0", "method": "test_remember", "params": ["note"]}
    response = post(harness.url, json.dumps(request))
    assert (response.status_code, response.content) == (200, b"")
    assert ["note"] in RpcClient(harness.url).call("test_recall")


# ---------------------------------------------------------------------------------------------
# Batches


def test_batch_results_in_request_order(client: RpcClient) -> None:
    results = client.batch(
        [("test_add", [1, 2]), ("test_fail", []), ("test_echo", ["x"]), ("nope", [])]
    )
    assert results[0] == 3
    assert isinstance(results[1], RpcClientError) and results[1].code == UNKNOWN_BLOCK
    assert results[2] == ["x"]
    assert isinstance(results[3], RpcClientError) and results[3].code == METHOD_NOT_FOUND
    assert client.batch([]) == []


def test_batch_with_notifications_and_bad_items(harness: Harness) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "test_add", "params": [1, 1]},
        {"jsonrpc": "2.0", "method": "test_remember", "params": ["in batch"]},
        {"jsonrpc": "2.0", "method": "test_crash"},
        {"jsonrpc": "2.0", "id": 2, "method": "test_crash"},
        3,
        {"jsonrpc": "1.0", "id": 4, "method": "test_echo"},
    ]
    answers = post_json(harness.url, json.dumps(batch))
    assert [answer["id"] for answer in answers] == [1, 2, None, 4]
    assert answers[0]["result"] == 2
    assert answers[1]["error"]["code"] == INTERNAL_ERROR
    assert answers[2]["error"]["code"] == INVALID_REQUEST
    assert answers[3]["error"]["code"] == INVALID_REQUEST


def test_batch_of_notifications_gets_empty_body(harness: Harness) -> None:
    batch = [{"jsonrpc": "2.0", "method": "test_remember", "params": [i]} for i in range(3)]
    response = post(harness.url, json.dumps(batch))
    assert (response.status_code, response.content) == (200, b"")


def test_empty_and_invalid_batches(harness: Harness) -> None:
    empty = post_json(harness.url, "[]")
    assert empty == {
        "jsonrpc": "2.0",
        "error": {"code": INVALID_REQUEST, "message": "Invalid request: empty batch"},
        "id": None,
    }
    answers = post_json(harness.url, "[1, 2, 3]")
    assert [(a["id"], a["error"]["code"]) for a in answers] == [(None, INVALID_REQUEST)] * 3


def test_batch_too_large(start_server: Callable[..., Harness]) -> None:
    small = start_server(max_batch=10)
    with RpcClient(small.url) as rpc:
        assert rpc.batch([("test_echo", [i]) for i in range(10)]) == [[i] for i in range(10)]
        with pytest.raises(RpcClientError) as too_large:
            rpc.batch([("test_echo", [i]) for i in range(11)])
    assert too_large.value.code == BATCH_TOO_LARGE


# ---------------------------------------------------------------------------------------------
# Malformed requests


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"not json",
        b'{"jsonrpc": "2.0", "id": 1, "method": "test_echo", "params": [NaN]}',
        b"[" * 100_000,
        b"\xff\xfe\x00garbage",
        b"",
    ],
    ids=["truncated", "text", "nan", "deep", "binary", "empty"],
)
def test_parse_error(harness: Harness, body: bytes) -> None:
    answer = post_json(harness.url, body)
    assert answer["error"]["code"] == PARSE_ERROR
    assert answer["id"] is None


@pytest.mark.parametrize(
    ("request_object", "answer_id"),
    [
        ({"id": 1, "method": "test_echo"}, 1),
        ({"jsonrpc": "1.0", "id": 2, "method": "test_echo"}, 2),
        ({"jsonrpc": "2.0", "id": 3, "method": 5}, 3),
        ({"jsonrpc": "2.0", "id": 4}, 4),
        ({"jsonrpc": "2.0", "id": 5, "method": "test_echo", "params": "x"}, 5),
        ({"jsonrpc": "2.0", "id": 6, "method": "test_echo", "params": None}, 6),
        ({"jsonrpc": "2.0", "id": True, "method": "test_echo"}, None),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "test_echo"}, None),
        ({"jsonrpc": "2.0", "id": [1], "method": "test_echo"}, None),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "test_echo"}, None),
        ("a string", None),
        (7, None),
    ],
)
def test_invalid_request_shapes(
    harness: Harness, request_object: object, answer_id: object
) -> None:
    answer = post_json(harness.url, json.dumps(request_object))
    assert answer["error"]["code"] == INVALID_REQUEST
    assert answer["id"] == answer_id


def test_http_methods_and_routes(harness: Harness) -> None:
    with httpx.Client(trust_env=False, timeout=10) as http:
        assert http.put(harness.url, content=b"{}").status_code == 405
        assert http.delete(harness.url).status_code == 405
        health = http.get(harness.url + "health")
        assert (health.status_code, health.json()) == (200, {"ok": True})
        assert health.headers["content-type"] == "application/json"
        assert http.get(harness.url + "broken").status_code == 500
        assert http.get(harness.url + "nowhere").status_code == 404
        assert http.post(harness.url + "nowhere", content=b"{}").status_code == 404


# ---------------------------------------------------------------------------------------------
# Size limits


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
        chunked = http.post(small.url, content=chunks())
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


# ---------------------------------------------------------------------------------------------
# WebSocket calls and subscriptions


def test_websocket_calls_are_answered_in_order(harness: Harness) -> None:
    with open_ws(harness.ws_url) as ws:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "test_sleep", "params": [0.05]}))
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "test_echo", "params": [2]}))
        ws.send(json.dumps({"jsonrpc": "2.0", "method": "test_remember", "params": ["ws"]}))
        ws.send(b"{broken")
        ws.send(json.dumps([{"jsonrpc": "2.0", "id": 3, "method": "test_add", "params": [1, 2]}]))
        answers = [json.loads(ws.recv(timeout=10)) for _ in range(4)]
    assert [answers[0]["id"], answers[1]["id"], answers[2]["id"]] == [1, 2, None]
    assert answers[2]["error"]["code"] == PARSE_ERROR
    assert answers[3] == [{"jsonrpc": "2.0", "result": 3, "id": 3}]


def test_subscription_delivers_notifications_in_order(client: RpcClient) -> None:
    with client.subscribe(COUNTER[0], [], COUNTER[2]) as subscription:
        assert isinstance(subscription.id, str) and subscription.id
        assert subscription.next(timeout=10) == "initial"
        values = [subscription.next(timeout=10) for _ in range(20)]
    assert values == list(range(values[0], values[0] + 20))


def test_subscription_ids_are_distinct(client: RpcClient, harness: Harness) -> None:
    subscriptions = [client.subscribe(COUNTER[0], [], COUNTER[2]) for _ in range(5)]
    try:
        assert len({s.id for s in subscriptions}) == 5
    finally:
        for subscription in subscriptions:
            subscription.close()
    wait_until(lambda: not harness.hub.subscriptions)


def test_notifications_never_precede_the_subscribe_answer(harness: Harness) -> None:
    with open_ws(harness.ws_url) as ws:
        for request_id in range(30):
            ws.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": COUNTER[0]}))
        answered: set[str] = set()
        while len(answered) < 30:
            message = json.loads(ws.recv(timeout=10))
            if "method" in message:
                assert message["params"]["subscription"] in answered
            else:
                answered.add(message["result"])
    wait_until(lambda: not harness.hub.subscriptions)


def test_unsubscribe_answers_true_then_false(harness: Harness) -> None:
    with open_ws(harness.ws_url) as ws:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": COUNTER[0]}))
        sub_id = json.loads(ws.recv(timeout=10))["result"]
        unsubscribe = {"jsonrpc": "2.0", "id": 2, "method": COUNTER[2], "params": [sub_id]}
        ws.send(json.dumps(unsubscribe))
        while (message := json.loads(ws.recv(timeout=10))).get("id") != 2:
            assert message["params"]["subscription"] == sub_id
        assert message["result"] is True
        # Nothing for that id after the answer; the second unsubscribe finds nothing.
        assert ws_call(ws, {**unsubscribe, "id": 3}) == {"jsonrpc": "2.0", "result": False, "id": 3}
        wrong_kind = {"jsonrpc": "2.0", "id": 4, "method": FINITE[2], "params": [sub_id]}
        assert ws_call(ws, wrong_kind)["result"] is False
        bad_params = {"jsonrpc": "2.0", "id": 5, "method": COUNTER[2], "params": [1, 2]}
        assert ws_call(ws, bad_params)["error"]["code"] == INVALID_PARAMS
    assert sub_id in harness.closed_ids


@pytest.mark.parametrize("mode", ["task", "sync"])
def test_server_side_close_ends_iteration(client: RpcClient, mode: str) -> None:
    with client.subscribe(FINITE[0], [25, mode], FINITE[2]) as subscription:
        assert list(subscription) == list(range(25))
        with pytest.raises(SubscriptionClosedError):
            subscription.next(timeout=1)


def test_next_times_out(client: RpcClient) -> None:
    with client.subscribe(FINITE[0], [1, "silent"], FINITE[2]) as subscription:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            subscription.next(timeout=0.2)
        assert 0.15 < time.monotonic() - started < 5


def test_subscriptions_need_a_websocket(client: RpcClient) -> None:
    for method, params in ((COUNTER[0], []), (COUNTER[2], ["abc"])):
        with pytest.raises(RpcClientError) as refused:
            client.call(method, *params)
        assert refused.value.code == METHOD_NOT_FOUND
        assert "WebSocket" in refused.value.message


def test_subscribe_error_is_raised(client: RpcClient) -> None:
    with pytest.raises(RpcClientError) as failed:
        client.subscribe(FINITE[0], ["not", "enough", "params"], FINITE[2])
    assert failed.value.code == INVALID_PARAMS


def test_subscribe_in_a_batch(harness: Harness) -> None:
    with open_ws(harness.ws_url) as ws:
        batch = [
            {"jsonrpc": "2.0", "id": 1, "method": COUNTER[0]},
            {"jsonrpc": "2.0", "id": 2, "method": "test_echo", "params": [2]},
        ]
        answers = ws_call(ws, batch)
        assert answers[1]["result"] == [2]
        sub_id = answers[0]["result"]
        notification = json.loads(ws.recv(timeout=10))
        assert notification["params"] == {"subscription": sub_id, "result": "initial"}


def test_dropped_socket_ends_its_subscriptions(harness: Harness) -> None:
    ws = open_ws(harness.ws_url)
    ids = [ws_call(ws, {"jsonrpc": "2.0", "id": i, "method": COUNTER[0]})["result"] for i in (1, 2)]
    ws.socket.close()  # no close frame
    wait_until(lambda: set(ids) <= set(harness.closed_ids))
    ws.close()


def test_too_many_subscriptions(start_server: Callable[..., Harness]) -> None:
    small = start_server(max_subscriptions_per_connection=3)
    with open_ws(small.ws_url) as ws:
        answers = [
            ws_call(ws, {"jsonrpc": "2.0", "id": 100 + i, "method": FINITE[0], "params": [0, "x"]})
            for i in range(4)
        ]
    assert all("result" in answer for answer in answers[:3])
    assert answers[3]["error"]["code"] == TOO_MANY_SUBSCRIPTIONS


# ---------------------------------------------------------------------------------------------
# Slow clients, connection limits, shutdown


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


def test_connection_limit(start_server: Callable[..., Harness]) -> None:
    limited = start_server(max_connections=3)
    sockets = [open_ws(limited.ws_url) for _ in range(3)]
    try:
        with pytest.raises(InvalidStatus) as refused:
            open_ws(limited.ws_url)
        assert refused.value.response.status_code == 429
        with RpcClient(limited.url) as rpc, pytest.raises(RpcClientError) as busy:
            rpc.call("test_echo")
        assert busy.value.code == SERVER_BUSY
    finally:
        sockets.pop().close()
    wait_until(lambda: limited.server.connection_count < 3)
    with RpcClient(limited.url) as rpc:
        assert rpc.call("test_echo", 1) == [1]
    for ws in sockets:
        ws.close()


def test_closed_connections_stop_counting_at_once(start_server: Callable[..., Harness]) -> None:
    # hypercorn's connection task outlives a closed socket by its keep-alive timeout (5 s); the
    # limit must count open sockets, or a script making short-lived calls would be refused.
    limited = start_server(max_connections=2)
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
            rpc.call("test_flood", 20, 1_000_000)  # fill the stuck client's buffers
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


# ---------------------------------------------------------------------------------------------
# The client


def test_a_connection_reset_during_the_websocket_handshake_is_a_connection_error() -> None:
    """A node that goes down as a subscriber connects resets the socket mid-handshake."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def reset_each_connection() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                connection.close()

    threading.Thread(target=reset_each_connection, daemon=True).start()
    try:
        rpc = RpcClient(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=5)
        for _ in range(3):
            with pytest.raises(RpcConnectionError, match="cannot open a WebSocket"):
                rpc.subscribe(COUNTER[0], [], COUNTER[2])
    finally:
        listener.close()


def test_client_urls(harness: Harness) -> None:
    with RpcClient(f"ws://127.0.0.1:{harness.port}") as rpc:
        assert rpc.http_url == f"http://127.0.0.1:{harness.port}/"
        assert rpc.call("test_echo", "via ws url") == ["via ws url"]
        with rpc.subscribe(COUNTER[0], [], COUNTER[2]) as subscription:
            assert subscription.next(timeout=10) == "initial"
    assert RpcClient("https://node.example:443").ws_url == "wss://node.example:443/"
    with pytest.raises(ValueError):
        RpcClient("ftp://127.0.0.1:9944")


def test_unreachable_node() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with RpcClient(url, timeout=2) as rpc:
        with pytest.raises(RpcConnectionError) as call_failed:
            rpc.call("system_health")
        assert url in str(call_failed.value)
        with pytest.raises(RpcConnectionError) as subscribe_failed:
            rpc.subscribe(COUNTER[0], [], COUNTER[2])
        assert f"ws://127.0.0.1:{port}" in str(subscribe_failed.value)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(json_values, max_size=4))
def test_echo_round_trips_any_json(harness: Harness, values: list[object]) -> None:
    with RpcClient(harness.url) as rpc:
        assert rpc.call("test_echo", *values) == values


# ---------------------------------------------------------------------------------------------
# Still standing


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
