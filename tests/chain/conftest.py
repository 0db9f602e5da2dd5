"""Real `xpl node` processes for the integration tests, and the `xpl` command in a subprocess.

`NodeProcess` runs `xpl node ... --base-path B --rpc-port P --prometheus-port Q` on free ports of
127.0.0.1, waits until `chain_getHeader` answers and block #1 exists, and stops it with SIGINT
(SIGKILL if it does not exit in time). Starting it again on the same base path is a restart.
The fixtures stop every process they started, whatever the test did.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

import httpx
import pytest

from chain.client.chain import XplClient
from chain.client.rpc import RpcClientError, RpcConnectionError
from chain.localnet import XPL_COMMAND, Process, free_port
from chain.storage.chain_store import ChainStore
from chain.storage.kv import LevelDBStore
from runtime.block import Header

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
PORT_ATTEMPTS = 3

T = TypeVar("T")


def poll_until(
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.1
) -> T:
    """Poll `probe` until it returns something other than None; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Waiter(Protocol):
    """The type of `poll_until`, which the `wait_until` fixture hands to test modules."""

    def __call__(
        self, probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.1
    ) -> T: ...


def db_path(base_path: Path, chain: str = "dev") -> Path:
    return base_path / "chains" / chain / "db"


def read_heads(base_path: Path, chain: str = "dev") -> tuple[Header, Header]:
    """The best and finalized headers of a stopped node's database."""
    store = ChainStore(LevelDBStore(db_path(base_path, chain)))
    try:
        store.open()
        return store.best_header, store.finalized_header
    finally:
        store.close()


class NodeProcess:
    """One `xpl node` on a base path; `start` after `stop` (or `kill`) restarts it there."""

    def __init__(self, base_path: Path, args: Sequence[str] = ("--dev",)) -> None:
        self.base_path = base_path
        self.args = tuple(args)
        self.log_path = base_path / "node.log"
        self.rpc_port = free_port()
        self.prometheus_port = free_port()
        self.process: Process | None = None
        self._clients: list[XplClient] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}/metrics"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    def command(self) -> list[str]:
        return [
            *XPL_COMMAND,
            "node",
            *self.args,
            "--base-path",
            str(self.base_path),
            "--rpc-port",
            str(self.rpc_port),
            "--prometheus-port",
            str(self.prometheus_port),
            "--port",
            "0",
            "--check-invariants",
        ]

    def spawn(self) -> None:
        """Start the process without waiting for it (crash tests kill it while it starts)."""
        assert not self.running, "the node is already running"
        self.process = Process(self.command(), self.log_path)
        self.process.spawn()

    def start(self, *, timeout: float = START_TIMEOUT_S) -> NodeProcess:
        """Start the node and wait until it answers and block #1 exists; new ports if taken."""
        for attempt in range(PORT_ATTEMPTS):
            log_size = self.log_path.stat().st_size if self.log_path.exists() else 0
            self.spawn()
            try:
                self.wait_ready(timeout=timeout)
                return self
            except NodeExited:
                started_log = self.log_text()[log_size:]
                if "Address already in use" not in started_log or attempt + 1 == PORT_ATTEMPTS:
                    raise
                self.rpc_port, self.prometheus_port = free_port(), free_port()
        raise AssertionError("unreachable")

    def wait_ready(self, *, timeout: float = START_TIMEOUT_S) -> None:
        probe = XplClient(self.url, timeout=2.0)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                popen = self.process.popen if self.process is not None else None
                assert popen is not None
                if popen.poll() is not None:
                    raise NodeExited(
                        f"the node exited with code {popen.returncode} while starting:\n"
                        + self.log_tail()
                    )
                with contextlib.suppress(RpcConnectionError, RpcClientError):
                    probe.header()
                    if probe.block_hash(1) is not None:
                        return
                time.sleep(0.1)
        finally:
            probe.close()
        self.kill()
        raise AssertionError(
            f"the node did not become ready in {timeout:.0f} s:\n{self.log_tail()}"
        )

    def client(self, *, timeout: float = 10.0) -> XplClient:
        """A client of the running node, closed when the node stops."""
        client = XplClient(self.url, timeout=timeout)
        self._clients.append(client)
        return client

    def stop(self, *, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGINT, then SIGKILL after `timeout`; the exit code (None if it was not running)."""
        self._close_clients()
        return None if self.process is None else self.process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL: a crash, as far as the database can tell."""
        self._close_clients()
        if self.process is not None:
            self.process.kill()

    def _close_clients(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def heads_on_disk(self, chain: str = "dev") -> tuple[Header, Header]:
        """The best and finalized headers in the database; the node must not be running."""
        assert not self.running, "the database is locked while the node runs"
        return read_heads(self.base_path, chain)

    def metrics(self) -> str:
        response = httpx.get(self.metrics_url, timeout=5.0, trust_env=False)
        response.raise_for_status()
        return response.text

    def wait_finalized(self, number: int, *, timeout: float = 20.0) -> int:
        """Wait until block `number` is final; the finalized number then."""
        client = XplClient(self.url, timeout=5.0)
        try:
            return poll_until(
                lambda: n if (n := client.finalized_number()) >= number else None,
                timeout=timeout,
                what=f"block #{number} to be finalized",
            )
        finally:
            client.close()


class NodeExited(AssertionError):
    """The node process exited while it was expected to start."""


class NodeFactory:
    """Starts nodes and, on `stop_all`, stops every one of them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.nodes: list[NodeProcess] = []

    def create(
        self, base_path: Path | None = None, args: Sequence[str] = ("--dev",)
    ) -> NodeProcess:
        """A node that is not started yet (the base path defaults to a fresh directory)."""
        if base_path is None:
            base_path = self.tmp / f"node{len(self.nodes)}"
        node = NodeProcess(base_path, args)
        self.nodes.append(node)
        return node

    def start(self, base_path: Path | None = None, args: Sequence[str] = ("--dev",)) -> NodeProcess:
        return self.create(base_path, args).start()

    def stop_all(self) -> None:
        for node in self.nodes:
            try:
                node.stop()
            finally:
                node.kill()


class XplCli:
    """The `xpl` command, run in a subprocess as a user runs it."""

    def run(
        self,
        *argv: str,
        env: dict[str, str] | None = None,
        timeout: float = 60.0,
        stdin: str = "",
    ) -> subprocess.CompletedProcess[str]:
        """Run `xpl ARGV...` with `stdin` as its input (empty: no one types anything)."""
        return subprocess.run(
            [*XPL_COMMAND, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )

    def fails(
        self,
        *argv: str,
        env: dict[str, str] | None = None,
        timeout: float = 30.0,
        stdin: str = "",
    ) -> str:
        """Run a command that must fail with one `error:` line and no traceback; that line."""
        result = self.run(*argv, env=env, timeout=timeout, stdin=stdin)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode != 0, (result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: "), result.stderr
        return lines[0]


@pytest.fixture
def node_factory(tmp_path: Path) -> Iterator[NodeFactory]:
    factory = NodeFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="module")
def module_node_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeFactory]:
    factory = NodeFactory(tmp_path_factory.mktemp("nodes"))
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="module")
def dev_node(module_node_factory: NodeFactory) -> NodeProcess:
    """One `xpl node --dev` shared by the tests of a module."""
    return module_node_factory.start()


@pytest.fixture(scope="session")
def xpl() -> XplCli:
    return XplCli()


@pytest.fixture(scope="session")
def wait_until() -> Waiter:
    """`poll_until`, for the test modules (which cannot import this conftest)."""
    return poll_until
