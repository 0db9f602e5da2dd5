"""JSON-RPC 2.0 over a real RpcServer: calls, named and positional parameters, errors,
notifications, batches and malformed requests."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from chain.client.rpc import (
    RpcClient,
    RpcClientError,
)
from chain.service.rpc.errors import (
    BATCH_TOO_LARGE,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    UNKNOWN_BLOCK,
)
from tests.chain.service.rpc.harness import (
    COUNTER,
    FINITE,
    Harness,
    post,
    post_json,
)

pytestmark = pytest.mark.timeout(60)


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


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"not json",
        b'{"jsonrpc": "2.0", "id": 1, "method": "test_echo", "params": [NaN]}',
        b"[" * 100_000,
        b"\xff\xfe\x00garbage",
        b"",
        rb'{"jsonrpc": "2.0", "id": 1, "method": "test_echo", "params": ["\ud800"]}',
        rb'{"jsonrpc": "2.0", "id": 1, "method": "test_echo", "params": {"\udfff": 1}}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "test_echo", "method": "rpc_methods"}',
    ],
    ids=["truncated", "text", "nan", "deep", "binary", "empty", "lone", "lone-key", "dup-key"],
)
def test_parse_error(harness: Harness, body: bytes) -> None:
    answer = post_json(harness.url, body)
    assert answer["error"]["code"] == PARSE_ERROR
    assert answer["id"] is None


def test_a_surrogate_pair_escape_is_one_character(harness: Harness) -> None:
    body = rb'{"jsonrpc": "2.0", "id": 1, "method": "test_echo", "params": ["\ud83d\ude00"]}'
    assert post_json(harness.url, body)["result"] == ["\U0001f600"]


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
