"""Request-response: answers up to a few MiB, and every way a request fails says why."""

from __future__ import annotations

import os

import pytest
import trio

from p2p.config import RequestLimits
from p2p.errors import FailureReason, RequestFailed, RequestRefused
from p2p.scoring import OVERSIZED_REQUEST, RATE_EXCEEDED
from tests.p2p.nodes import PROTOCOLS, Node, Recorder, connected, run_scenario, start_node

pytestmark = pytest.mark.timeout(60)

BIG = os.urandom(2 * 1024 * 1024)


async def answer(peer: str, data: bytes) -> bytes:
    if data == b"big":
        return BIG
    if data == b"slow":
        await trio.sleep(10)
    if data == b"fail":
        raise KeyError("no such block")
    if data == b"refuse":
        raise RequestRefused("unknown block", cost=10)
    if data == b"huge":
        return b"x" * (4 * 1024 * 1024)
    return data[::-1]


async def pair(nursery: trio.Nursery, **client_overrides: object) -> tuple[Node, Node]:
    server = await start_node(nursery, 1, handler=Recorder(answer=answer))
    client = await start_node(nursery, 0, boot=(server,), **client_overrides)  # type: ignore[arg-type]
    await connected((client, server))
    return client, server


async def failure(client: Node, server: Node, data: bytes, **kwargs: float) -> RequestFailed:
    with pytest.raises(RequestFailed) as error:
        await client.network.request(server.peer, "sync", data, **kwargs)
    return error.value


def test_a_request_is_answered_and_a_2_mib_response_arrives_whole() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        client, server = await pair(nursery)
        assert await client.network.request(server.peer, "sync", b"ping") == b"gnip"
        with trio.fail_after(3):
            assert await client.network.request(server.peer, "sync", b"big") == BIG
        assert server.network.stats.requests_in["sync"] == 2
        assert client.network.stats.requests_out["sync"] == 2

    run_scenario(scenario)


def test_an_oversized_request_is_refused_on_both_sides() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        generous = {"sync": RequestLimits(100_000, 3 * 1024 * 1024, timeout=3.0)}
        client, server = await pair(nursery, request_protocols=generous)
        error = await failure(client, server, b"q" * 2000)
        assert error.reason is FailureReason.REQUEST_TOO_LARGE
        assert "1024-byte" in str(error)
        assert server.network.score(client.peer) == pytest.approx(-OVERSIZED_REQUEST, abs=0.5)
        proper = await start_node(nursery, 2, boot=(server,))
        await connected((proper, server))
        local = await failure(proper, server, b"q" * 2000)  # refused before it is sent
        assert local.reason is FailureReason.REQUEST_TOO_LARGE and "2000 bytes" in str(local)
        assert server.network.score(proper.peer) == 0

    run_scenario(scenario)


def test_a_slow_answer_times_out_on_either_side() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        client, server = await pair(nursery)
        started = trio.current_time()
        error = await failure(client, server, b"slow", timeout=0.5)
        assert error.reason is FailureReason.TIMEOUT and "0.5 s" in str(error)
        assert trio.current_time() - started < 1.5
        patient = await failure(client, server, b"slow", timeout=6.0)  # the server gives up at 3 s
        assert patient.reason is FailureReason.REMOTE_ERROR and "timed out" in str(patient)
        assert await client.network.request(server.peer, "sync", b"ok") == b"ko"

    run_scenario(scenario)


def test_handler_errors_and_refusals_are_reported_to_the_requester() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        client, server = await pair(nursery)
        error = await failure(client, server, b"fail")
        assert error.reason is FailureReason.REMOTE_ERROR and "KeyError" in str(error)
        assert server.network.score(client.peer) == 0
        refused = await failure(client, server, b"refuse")
        assert refused.reason is FailureReason.REFUSED and "unknown block" in str(refused)
        assert server.network.score(client.peer) == pytest.approx(-10, abs=0.5)
        too_big = await failure(client, server, b"huge")  # the handler's answer is over the cap
        assert too_big.reason is FailureReason.REMOTE_ERROR and "size limit" in str(too_big)
        assert await client.network.request(server.peer, "sync", b"still") == b"llits"
        assert client.network.stats.request_failures["refused by the peer"] == 1

    run_scenario(scenario)


def test_a_response_over_the_requesters_limit_is_not_read() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        stingy = {"sync": RequestLimits(1024, 1024 * 1024, timeout=3.0)}
        client, server = await pair(nursery, request_protocols=stingy)
        error = await failure(client, server, b"big")
        assert error.reason is FailureReason.RESPONSE_TOO_LARGE

    run_scenario(scenario)


def test_concurrent_requests_wait_for_a_slot_and_a_peer_that_does_not_is_refused() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        client, server = await pair(nursery)
        results: list[bytes] = []

        async def ask(i: int) -> None:
            results.append(await client.network.request(server.peer, "sync", b"%d" % i))

        async with trio.open_nursery() as asking:
            for i in range(6):  # 2 at a time (the protocol's limit), the rest wait
                asking.start_soon(ask, i)
        assert sorted(results) == sorted(b"%d" % i for i in range(6))
        assert server.network.score(client.peer) == 0

        greedy_limits = {"sync": RequestLimits(1024, 3 * 1024 * 1024, max_concurrent_per_peer=8)}
        greedy = await start_node(nursery, 2, boot=(server,), request_protocols=greedy_limits)
        await connected((greedy, server))
        failures: list[FailureReason] = []

        async def slow(i: int) -> None:
            try:
                await greedy.network.request(server.peer, "sync", b"slow", timeout=1.0)
            except RequestFailed as error:
                failures.append(error.reason)

        async with trio.open_nursery() as asking:
            for i in range(4):
                asking.start_soon(slow, i)
        assert failures.count(FailureReason.BUSY) == 2
        assert failures.count(FailureReason.TIMEOUT) == 2
        assert server.network.score(greedy.peer) == pytest.approx(-2 * RATE_EXCEEDED, abs=0.5)

    run_scenario(scenario)


def test_requests_that_cannot_be_sent() -> None:
    async def scenario(nursery: trio.Nursery) -> None:
        other = {"blobs": PROTOCOLS["sync"], **PROTOCOLS}
        client, server = await pair(nursery, request_protocols=other)
        unknown = await client.network.request(server.peer, "sync", b"ok")
        assert unknown == b"ko"
        with pytest.raises(RequestFailed) as error:
            await client.network.request(server.peer, "blobs", b"chunk 0")
        assert error.value.reason is FailureReason.UNSUPPORTED
        with pytest.raises(RequestFailed) as error:
            await client.network.request(server.peer, "no-such-protocol", b"")
        assert error.value.reason is FailureReason.UNKNOWN_PROTOCOL
        with pytest.raises(RequestFailed) as error:
            await client.network.request("12D3KooWNotConnected", "sync", b"")
        assert error.value.reason is FailureReason.NOT_CONNECTED

    run_scenario(scenario)
