"""Fixtures of the RPC server tests: a server per module, servers with special limits, a client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chain.client.rpc import RpcClient
from tests.chain.service.rpc.harness import Harness


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
