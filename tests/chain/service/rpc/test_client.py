"""The client SDK's RpcClient against a real RpcServer: a reset during the WebSocket handshake,
its URLs, an unreachable node, and any JSON round-tripped."""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.client.rpc import (
    RpcClient,
    RpcConnectionError,
)
from tests.chain.service.rpc.harness import (
    COUNTER,
    Harness,
)

pytestmark = pytest.mark.timeout(60)


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
