"""Who the RPC server answers: browser origins (CORS), Host names (DNS rebinding), unsafe
methods, and WebSocket frames that are not UTF-8."""

from __future__ import annotations

import base64
import json
import os
import socket
from collections.abc import Callable

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.service.rpc.access import AccessError, RpcAccess, parse_allowed_hosts, parse_cors
from chain.service.rpc.errors import METHOD_NOT_FOUND, PARSE_ERROR
from tests.chain.service.rpc.harness import (
    ECHO_METHOD,
    Harness,
    masked_frame,
    raw_websocket,
    read_close_code,
)

pytestmark = pytest.mark.timeout(60)

ECHO = {"jsonrpc": "2.0", "id": 1, "method": ECHO_METHOD, "params": ["hi"]}


def handshake_status(port: int, headers: dict[str, str]) -> int:
    """The HTTP status a WebSocket handshake with these extra headers is answered with."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = {"Host": "127.0.0.1", **headers}
    head = "".join(f"{name}: {value}\r\n" for name, value in lines.items())
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\n{head}Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    answer = sock.recv(1024)
    sock.close()
    return int(answer.split(b" ")[1])


def post(
    url: str, headers: dict[str, str], content_type: str = "application/json"
) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=10) as http:
        return http.post(
            url, content=json.dumps(ECHO), headers={"content-type": content_type, **headers}
        )


def test_a_foreign_origin_is_refused_on_http_and_websocket(harness: Harness) -> None:
    refused = post(harness.url, {"origin": "http://evil.example"})
    assert refused.status_code == 403
    # A browser's "simple" request (no preflight) from the same page is refused too.
    simple = post(harness.url, {"origin": "http://evil.example"}, "text/plain")
    assert simple.status_code == 403
    assert handshake_status(harness.port, {"Origin": "http://evil.example"}) == 403
    # Without an Origin (not a browser), a text/plain body is still not JSON-RPC.
    assert post(harness.url, {}, "text/plain").status_code == 415


def test_a_local_page_is_served_with_cors_headers_and_preflight(harness: Harness) -> None:
    origin = "http://localhost:3000"
    served = post(harness.url, {"origin": origin})
    assert served.status_code == 200
    assert served.headers["access-control-allow-origin"] == origin
    with httpx.Client(trust_env=False, timeout=10) as http:
        preflight = http.options(
            harness.url,
            headers={"origin": origin, "access-control-request-method": "POST"},
        )
        assert preflight.status_code == 204
        assert "POST" in preflight.headers["access-control-allow-methods"]
        foreign = http.options(harness.url, headers={"origin": "https://evil.example"})
        assert foreign.status_code == 403
    assert handshake_status(harness.port, {"Origin": "http://127.0.0.1:8080"}) == 101


def test_a_page_of_the_node_itself_is_served(start_server: Callable[..., Harness]) -> None:
    server = start_server(access=RpcAccess(allowed_hosts=("node.example",)))
    own = {"host": "node.example:9944", "origin": "https://node.example:9944"}
    assert post(server.url, own).status_code == 200
    spoofed = {"host": "node.example:9944", "origin": "https://node.example:9945"}
    assert post(server.url, spoofed).status_code == 403


def test_a_rebound_host_name_is_refused_and_addresses_are_served(harness: Harness) -> None:
    assert post(harness.url, {"host": "attacker.example"}).status_code == 403
    assert post(harness.url, {"host": "attacker.example:9944"}).status_code == 403
    assert handshake_status(harness.port, {"Host": "attacker.example"}) == 403
    for host in ("localhost:9944", "127.0.0.1", "[::1]:9944", "192.0.2.7:9944", "[2001:db8::1]"):
        assert post(harness.url, {"host": host}).status_code == 200, host


def test_allowed_hosts_and_cors_all_open_what_they_name(
    start_server: Callable[..., Harness],
) -> None:
    server = start_server(access=RpcAccess(cors=None, allowed_hosts=("node.example",)))
    assert post(server.url, {"host": "node.example"}).status_code == 200
    assert post(server.url, {"host": "other.example"}).status_code == 403
    served = post(server.url, {"origin": "https://wallet.example"})
    assert served.status_code == 200
    assert served.headers["access-control-allow-origin"] == "*"


def test_unsafe_methods_are_served_on_loopback_only_unless_asked() -> None:
    assert RpcAccess().serves_unsafe("127.0.0.1")
    assert not RpcAccess().serves_unsafe("0.0.0.0")
    assert not RpcAccess().serves_unsafe("::")
    assert RpcAccess(methods="unsafe").serves_unsafe("0.0.0.0")
    assert not RpcAccess(methods="safe").serves_unsafe("127.0.0.1")
    with pytest.raises(AccessError):
        RpcAccess(methods="some")


def test_a_safe_server_answers_an_unsafe_method_as_not_found(
    start_server: Callable[..., Harness],
) -> None:
    server = start_server(access=RpcAccess(methods="safe"))
    request = {"jsonrpc": "2.0", "id": 1, "method": "test_unsafe"}
    with httpx.Client(trust_env=False, timeout=10) as http:
        error = http.post(server.url, json=request).json()["error"]
        assert error["code"] == METHOD_NOT_FOUND and "--rpc-methods unsafe" in error["message"]
        assert http.post(server.url, json=ECHO).json()["result"] == ["hi"]


@pytest.mark.parametrize(
    "payload", [b"\xff", b'"\xed\xa0\x80"', b'["\xc3"]', b"\xf4\x90\x80\x80"], ids=str
)
def test_a_text_frame_that_is_not_utf8_is_closed_with_1007(
    harness: Harness, payload: bytes
) -> None:
    sock = raw_websocket(harness.port)
    sock.sendall(masked_frame(payload))
    assert read_close_code(sock) == 1007
    sock.close()


def test_an_http_body_with_encoded_surrogates_is_a_parse_error(harness: Harness) -> None:
    body = (
        b'{"jsonrpc":"2.0","id":1,"method":"'
        + ECHO_METHOD.encode()
        + b'","params":["\xed\xa0\x80"]}'
    )
    with httpx.Client(trust_env=False, timeout=10) as http:
        answer = http.post(harness.url, content=body, headers={"content-type": "application/json"})
    assert answer.json()["error"]["code"] == PARSE_ERROR


def test_cors_and_host_flags_parse() -> None:
    assert parse_cors("all") is None
    assert parse_cors("http://a.example, https://b.example:8443") == (
        "http://a.example",
        "https://b.example:8443",
    )
    with pytest.raises(AccessError):
        parse_cors("evil.example")
    assert parse_allowed_hosts("all") is None
    assert parse_allowed_hosts("node.example,Other.Example") == ("node.example", "other.example")
    with pytest.raises(AccessError):
        parse_allowed_hosts("node.example:9944")


@given(st.text(max_size=40))
def test_only_local_origins_pass_by_default(origin: str) -> None:
    allowed = RpcAccess().origin_allowed(origin)
    local = any(
        origin.lower() == base or origin.lower().startswith(base + ":")
        for scheme in ("http", "https")
        for base in (f"{scheme}://localhost", f"{scheme}://127.0.0.1", f"{scheme}://[::1]")
    )
    assert not allowed or local


@given(st.text(max_size=40))
def test_no_host_name_passes_unless_local_or_an_address(host: str) -> None:
    if RpcAccess().host_allowed(host):
        name = host.lower().rsplit(":", 1)[0] if not host.startswith("[") else host
        assert name.startswith(("localhost", "127.", "[")) or name[:1].isdigit(), host
