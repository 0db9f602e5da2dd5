"""WebSocket calls and subscriptions on a real RpcServer: order, ids, unsubscribing, closing,
time-outs and the per-connection subscription limit."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from chain.client.rpc import (
    RpcClient,
    RpcClientError,
    SubscriptionClosedError,
)
from chain.service.rpc.errors import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    TOO_MANY_SUBSCRIPTIONS,
)
from tests.chain.service.rpc.harness import (
    COUNTER,
    FINITE,
    Harness,
    open_ws,
    wait_until,
    ws_call,
)

pytestmark = pytest.mark.timeout(60)


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
