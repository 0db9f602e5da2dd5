"""A network of real node processes on 127.0.0.1: validators, full nodes and workers.

    net = Localnet(Path("/tmp/net"), validators=4, workers=1)
    net.start()                      # writes the spec, keys and node keys, starts every process
    net.nodes[0].rpc_url             # http://127.0.0.1:PORT
    net.kill("bob"); net.restart("bob")
    net.stop()                       # SIGINT to all, SIGKILL to any that does not exit in time

The base path holds `spec.json` (a local chain spec with the validators //Alice, //Bob, ...),
`keys/` (each validator's encrypted key file; the password is in `password`), and one folder per
node with its database, its libp2p node key and its `node.log`. Every node lists every other as a
bootnode, so the network is a full mesh that reconnects whatever restarts. Ports are free ports
found at creation. `xpl localnet`, `xpl benchmark network`, the demo and the tests all use this.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

from chain.client.chain import XplClient
from chain.client.rpc import RpcClientError, RpcConnectionError
from chain.keystore import write_key_file
from chain.spec import ChainSpec, local_spec, validator_uris_of
from p2p.keys import load_or_create_node_key, peer_id_of
from runtime.primitives.keys import DEV_ACCOUNT_NAMES, keypair_from_suri

XPL_COMMAND: Final = (sys.executable, "-m", "chain.cli.main")
PASSWORD_ENV: Final = "XPL_LOCALNET_PASSWORD"
KEY_FILE_OPSLIMIT: Final = 2
KEY_FILE_MEMLIMIT: Final = 64 * 1024 * 1024
"""Local test keys are encrypted with cheaper Argon2id settings than real ones (64 MiB)."""
START_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 15.0


class LocalnetError(Exception):
    """A local network that cannot be set up or started; the message says why."""


T = TypeVar("T")


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.25
) -> T:
    """Poll `probe` until it returns something other than None; that value. A node that does not
    answer (it is starting, or restarting) counts as "not yet"; LocalnetError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except (RpcConnectionError, RpcClientError):
            value = None
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise LocalnetError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


LISTEN_PORTS_FLOOR: Final = 10_000
"""The lowest port `free_port` hands out."""


def _ephemeral_floor() -> int:
    """The first port the kernel hands to outgoing connections (Linux's ip_local_port_range)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
            return int(ranges.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, drawn below the kernel's ephemeral
    range where one exists: a port from that range (what binding port 0 gives) can be taken by
    any outgoing connection between this check and the node's bind, and the tests open thousands
    of those at once."""
    top = _ephemeral_floor()
    for _ in range(64 if top - LISTEN_PORTS_FLOOR > 1_000 else 0):
        port = random.randrange(LISTEN_PORTS_FLOOR, top)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Process:
    """One child process with its log file."""

    command: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None
    _interrupted: bool = False

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def spawn(self) -> None:
        """Start the command, its output appended to the log; LocalnetError if it is running."""
        if self.running:
            raise LocalnetError(f"{self.log_path.parent.name} is already running")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"--- {' '.join(self.command)}\n".encode())
            log.flush()
            self._interrupted = False
            self.popen = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
                start_new_session=True,  # Ctrl-C at the terminal reaches the parent only
            )

    def interrupt(self) -> None:
        """Send SIGINT once (a second one would cut short a clean shutdown)."""
        if self.popen is not None and self.popen.poll() is None and not self._interrupted:
            self._interrupted = True
            self.popen.send_signal(signal.SIGINT)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGINT, then SIGKILL after `timeout`; the exit code (None if never started)."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.interrupt()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL: a crash, as far as the process's database can tell."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def log_tail(self, lines: int = 30) -> str:
        """The last `lines` lines of the log ('' if there is none yet)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class LocalnetNode:
    """One node of the network, validator or not."""

    name: str
    base_path: Path
    key_uri: str | None
    p2p_port: int
    rpc_port: int
    prometheus_port: int
    peer_id: str
    extra_args: tuple[str, ...] = ()
    process: Process | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}/metrics"

    @property
    def p2p_address(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.p2p_port}/p2p/{self.peer_id}"

    @property
    def log_path(self) -> Path:
        return self.base_path / "node.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    def client(self, *, timeout: float = 10.0) -> XplClient:
        """A new client of the node's RPC (the caller closes it)."""
        return XplClient(self.rpc_url, timeout=timeout)

    def finalized_number(self) -> int:
        """The number of the node's finalized block, asked over RPC."""
        with self.client(timeout=5.0) as client:
            return client.finalized_number()

    def best_number(self) -> int:
        """The number of the node's best block, asked over RPC."""
        with self.client(timeout=5.0) as client:
            return client.best_number()


@dataclass
class LocalnetWorker:
    """A worker process and the node it talks to."""

    name: str
    key_uri: str
    node: LocalnetNode
    process: Process


class Localnet:
    """Validators (and full nodes and workers) of one local chain, as processes."""

    def __init__(
        self,
        base_path: Path,
        *,
        validators: int = 4,
        full_nodes: int = 0,
        workers: int = 0,
        slot_ms: int = 1000,
        node_args: Sequence[str] = (),
        worker_args: Sequence[str] = ("--stake", "1000XPL", "--ask", "gemm_i8=1XPL"),
        spec: ChainSpec | None = None,
        check_invariants: bool = False,
    ) -> None:
        """`check_invariants` runs every node with `--check-invariants` (the tests do)."""
        if not 1 <= validators <= 100:
            raise LocalnetError("a local network has 1 to 100 validators")
        if workers < 0 or full_nodes < 0:
            raise LocalnetError("the numbers of workers and full nodes cannot be negative")
        self.base_path = base_path
        self.spec = spec or local_spec(validators=validators, slot_duration_ms=slot_ms)
        self.spec_path = base_path / "spec.json"
        self.node_args = tuple(node_args) + (("--check-invariants",) if check_invariants else ())
        self.worker_args = tuple(worker_args)
        validator_uris = validator_uris_of(validators)
        free_accounts = [f"//{n}" for n in DEV_ACCOUNT_NAMES if f"//{n}" not in validator_uris]
        if workers > len(free_accounts):
            raise LocalnetError(
                f"{workers} workers need {workers} funded accounts besides the validators; "
                f"only {len(free_accounts)} development accounts are left"
            )
        self.nodes: list[LocalnetNode] = []
        for i in range(validators + full_nodes):
            uri = validator_uris[i] if i < validators else None
            name = uri[2:].lower() if uri is not None else f"full{i - validators + 1}"
            node_dir = base_path / name
            seed = load_or_create_node_key(node_dir / "node_key")
            self.nodes.append(
                LocalnetNode(
                    name=name,
                    base_path=node_dir,
                    key_uri=uri,
                    p2p_port=free_port(),
                    rpc_port=free_port(),
                    prometheus_port=free_port(),
                    peer_id=peer_id_of(seed),
                )
            )
        self.workers: list[LocalnetWorker] = []
        for i in range(workers):
            uri = free_accounts[i]
            node = self.nodes[(i + 1) % len(self.nodes)]
            log = base_path / f"worker-{uri[2:].lower()}" / "worker.log"
            self.workers.append(
                LocalnetWorker(
                    uri[2:].lower(), uri, node, Process(self._worker_command(uri, node), log)
                )
            )
        self.password = os.urandom(16).hex()

    # Setting up and running

    def write_files(self) -> None:
        """The chain spec and the validators' key files (the node keys exist already)."""
        self.base_path.mkdir(parents=True, exist_ok=True)
        self.spec_path.write_text(json.dumps(self.spec.to_json(), indent=2) + "\n")
        keys = self.base_path / "keys"
        keys.mkdir(exist_ok=True)
        (self.base_path / "password").write_text(self.password + "\n")
        (self.base_path / "password").chmod(0o600)
        for node in self.nodes:
            if node.key_uri is None:
                continue
            write_key_file(
                keys / f"{node.name}.json",
                keypair_from_suri(node.key_uri),
                self.password.encode(),
                opslimit=KEY_FILE_OPSLIMIT,
                memlimit=KEY_FILE_MEMLIMIT,
                overwrite=True,
            )

    def node(self, name: str) -> LocalnetNode:
        """The node named `name`; LocalnetError if there is none."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise LocalnetError(f"no node named {name}")

    def node_command(self, node: LocalnetNode) -> list[str]:
        """The `xpl node` command line of `node`, the other nodes as its bootnodes."""
        command = [
            *XPL_COMMAND,
            "node",
            "--chain",
            str(self.spec_path),
            "--name",
            node.name,
            "--base-path",
            str(node.base_path),
            "--node-key-file",
            str(node.base_path / "node_key"),
            "--port",
            str(node.p2p_port),
            "--rpc-port",
            str(node.rpc_port),
            "--prometheus-port",
            str(node.prometheus_port),
        ]
        others = [n.p2p_address for n in self.nodes if n is not node]
        if others:
            command += ["--bootnodes", *others]
        if node.key_uri is not None:
            command += [
                "--validator",
                "--key-file",
                str(self.base_path / "keys" / f"{node.name}.json"),
                "--password-env",
                PASSWORD_ENV,
            ]
        return command + list(self.node_args) + list(node.extra_args)

    def _worker_command(self, uri: str, node: LocalnetNode) -> list[str]:
        return [
            *XPL_COMMAND,
            "worker",
            "--rpc",
            node.rpc_url,
            "--dev-key",
            uri,
            "--state-dir",
            str(self.base_path / f"worker-{uri[2:].lower()}" / "state"),
            *self.worker_args,
        ]

    def spawn(self, node: LocalnetNode) -> None:
        """Start `node`'s process without waiting for it (again, if it ran before)."""
        if node.process is None:
            node.process = Process(
                self.node_command(node), node.log_path, {PASSWORD_ENV: self.password}
            )
        node.process.command = self.node_command(node)
        node.process.spawn()

    def start(self, *, timeout: float = START_TIMEOUT_S, workers: bool = True) -> None:
        """Write the files, start every node (and worker) and wait until each node answers."""
        self.write_files()
        try:
            for node in self.nodes:
                self.spawn(node)
            for node in self.nodes:
                self.wait_ready(node, timeout=timeout)
            if workers:
                for worker in self.workers:
                    worker.process.spawn()
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, node: LocalnetNode, *, timeout: float = START_TIMEOUT_S) -> None:
        """Wait until `node` answers RPC; LocalnetError (with its log) if it exits or hangs."""
        deadline = time.monotonic() + timeout
        probe = node.client(timeout=2.0)
        try:
            while time.monotonic() < deadline:
                process = node.process
                if process is None or process.popen is None or process.popen.poll() is not None:
                    tail = "" if process is None else process.log_tail()
                    raise LocalnetError(f"node {node.name} exited while starting:\n{tail}")
                with contextlib.suppress(RpcConnectionError, RpcClientError):
                    probe.header()
                    return
                time.sleep(0.2)
        finally:
            probe.close()
        raise LocalnetError(f"node {node.name} did not answer in {timeout:.0f} s")

    def wait_finalized(
        self,
        number: int,
        *,
        nodes: Sequence[LocalnetNode] | None = None,
        timeout: float = START_TIMEOUT_S,
    ) -> None:
        """Wait until each of `nodes` (default: all) has finalized block `number`."""
        for node in self.nodes if nodes is None else nodes:
            wait_until(
                functools.partial(_finalized_at_least, node, number),
                timeout=timeout,
                what=f"{node.name} to finalize block #{number}",
            )

    def kill(self, name: str) -> None:
        """SIGKILL one node."""
        node = self.node(name)
        if node.process is not None:
            node.process.kill()

    def stop_node(self, name: str) -> int | None:
        """Stop one node cleanly; its exit code (None if it never ran)."""
        node = self.node(name)
        return None if node.process is None else node.process.stop()

    def restart(self, name: str, *, timeout: float = START_TIMEOUT_S) -> None:
        """Start `node` again on its base path and wait until it answers."""
        node = self.node(name)
        self.spawn(node)
        self.wait_ready(node, timeout=timeout)

    def stop(self) -> dict[str, int | None]:
        """Stop every process cleanly (workers first); their exit codes by name."""
        codes: dict[str, int | None] = {}
        for worker in self.workers:
            worker.process.interrupt()
        for worker in self.workers:
            codes[f"worker-{worker.name}"] = worker.process.stop()
        for node in self.nodes:
            if node.process is not None:
                node.process.interrupt()
        for node in self.nodes:
            codes[node.name] = None if node.process is None else node.process.stop()
        return codes


def _finalized_at_least(node: LocalnetNode, number: int) -> bool | None:
    return True if node.finalized_number() >= number else None
