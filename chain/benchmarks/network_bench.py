"""Transfers through a local validator network: what gets in, how fast blocks come and finalize.

1. A local network of `validators` processes (`chain.localnet`) on a chain whose genesis also
   funds `accounts` sender accounts.
2. All transfers are signed before the clock starts. Then, for `duration` seconds, `tps` of them a
   second are submitted through JSON-RPC (`author_submitExtrinsic`, in small batches every
   50 ms), spread over the validators.
3. One observer thread follows a node's best and finalized heads: which submitted transfers each
   block holds, when each block appeared and when it became final.
4. After the submissions, the run waits (up to `settle` seconds) until every accepted transfer is
   finalized. None may be lost: submitted = included = finalized.

Block time is the time between consecutive best blocks' slots (their timestamps); finality lag is
the time from a block's slot start to the moment the observer saw it finalized. CPU per node is
what the node's process used (user + system) during the submissions, in cores.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from chain.client.chain import XplClient, transfer_call
from chain.client.rpc import RpcClient, RpcClientError, RpcConnectionError
from chain.localnet import Localnet
from chain.spec import local_spec
from runtime.primitives.hashing import blake2b_256, from_hex, to_hex
from runtime.primitives.keys import Keypair
from runtime.transaction import SignedTransaction, sign_transaction

ENDOWMENT = 10**6 * 10**12
TRANSFER = 10**12
BATCH_INTERVAL_S = 0.05


@dataclass(frozen=True)
class NetworkFigures:
    """What one network run measured."""

    validators: int
    tps_target: int
    duration_s: float
    submitted: int
    refused: int
    included: int
    finalized: int
    lost: int
    submit_rate: float
    """Transfers per second the submitter achieved."""
    included_rate: float
    """Submitted transfers included per second, over the blocks that held them."""
    blocks: int
    block_time_p50_ms: float
    block_time_p99_ms: float
    finality_lag_p50_ms: float
    finality_lag_p99_ms: float
    cpu_per_node: dict[str, float]
    """Cores each node used while transfers were submitted."""

    def to_json(self) -> dict[str, object]:
        """The figures as one JSON object, for `--json`."""
        return asdict(self)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class _Observer(threading.Thread):
    """Follows one node's best and finalized chain from a thread."""

    def __init__(self, url: str, watched: set[bytes]) -> None:
        super().__init__(daemon=True)
        self.client = XplClient(url, timeout=10.0)
        self.watched = watched
        self.included: dict[bytes, int] = {}
        """Watched transaction -> number of the best-chain block holding it."""
        self.block_times: dict[int, int] = {}
        """Block number -> its timestamp (slot start, ms)."""
        self.block_hashes: dict[int, bytes] = {}
        self.finalized_at: dict[int, float] = {}
        """Block number -> wall time (ms) when it was first seen finalized."""
        self.finalized_number = 0
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)

    def run(self) -> None:
        next_number = self.client.best_number() + 1
        self.finalized_number = self.client.finalized_number()
        while not self._halt.is_set():
            try:
                best = self.client.best_number()
                while next_number <= best:
                    self._read_block(next_number)
                    next_number += 1
                finalized = self.client.finalized_number()
                now = time.time() * 1000
                for number in range(self.finalized_number + 1, finalized + 1):
                    self.finalized_at.setdefault(number, now)
                self.finalized_number = max(self.finalized_number, finalized)
            except (RpcConnectionError, RpcClientError):
                pass
            self._halt.wait(0.05)

    def _read_block(self, number: int) -> None:
        block_hash = self.client.block_hash(number)
        if block_hash is None:
            return
        block = self.client.block(block_hash)["block"]
        self.block_hashes[number] = block_hash
        self.block_times[number] = int(block["header"]["timestamp"])
        for raw in block["extrinsics"]:
            tx_hash = blake2b_256(from_hex(raw))
            if tx_hash in self.watched:
                self.included[tx_hash] = number

    def recheck(self) -> None:
        """Read the best chain again (a reorg may have moved transactions between blocks)."""
        self.included.clear()
        for number in sorted(self.block_hashes):
            self._read_block(number)


class _Submitter(threading.Thread):
    """Submits one node's share of the transfers at its rate, in JSON-RPC batches."""

    def __init__(
        self, client: RpcClient, txs: list[SignedTransaction], rate: float, started: float
    ) -> None:
        super().__init__(daemon=True)
        self.client, self.txs, self.rate, self.started = client, txs, rate, started
        self.submitted = self.refused = 0

    def run(self) -> None:
        cursor = tick = 0
        while cursor < len(self.txs):
            tick += 1
            due = min(len(self.txs), int(self.rate * tick * BATCH_INTERVAL_S))
            batch, cursor = self.txs[cursor:due], due
            if batch:
                try:
                    results = self.client.batch(
                        [("author_submitExtrinsic", [to_hex(tx.raw)]) for tx in batch]
                    )
                except (RpcConnectionError, RpcClientError):
                    self.refused += len(batch)
                    continue
                for result in results:
                    if isinstance(result, RpcClientError):
                        self.refused += 1
                    else:
                        self.submitted += 1
            sleep = self.started + tick * BATCH_INTERVAL_S - time.monotonic()
            if sleep > 0:
                time.sleep(sleep)


def _sign_transfers(
    senders: list[Keypair], count: int, genesis_hash: bytes
) -> list[SignedTransaction]:
    receivers = [
        Keypair.from_seed(blake2b_256(b"xpl-bench-receiver" + bytes([i]))) for i in range(64)
    ]
    txs = []
    nonces = [0] * len(senders)
    for i in range(count):
        s = i % len(senders)
        txs.append(
            sign_transaction(
                senders[s],
                transfer_call(receivers[i % len(receivers)].public, TRANSFER),
                nonce=nonces[s],
                genesis_hash=genesis_hash,
            )
        )
        nonces[s] += 1
    return txs


def run_network_benchmark(
    *,
    validators: int = 4,
    tps: int = 100,
    duration: float = 20.0,
    accounts: int = 1_000,
    settle: float = 60.0,
    base_path: Path | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> NetworkFigures:
    """Start a local network, push transfers through it, measure; see the module docstring."""
    if tps < 1 or duration <= 0:
        raise ValueError("--tps must be at least 1 and --duration positive")
    if not 1 <= validators <= 20:
        raise ValueError("--validators must be 1 to 20")
    senders = [
        Keypair.from_seed(b"xpl-bench-sender" + i.to_bytes(16, "big")) for i in range(accounts)
    ]
    base = local_spec(validators=validators)
    spec = dataclasses.replace(
        base,
        genesis=dataclasses.replace(
            base.genesis,
            balances=base.genesis.balances + tuple((k.public, ENDOWMENT) for k in senders),
        ),
    )
    temporary = base_path is None
    root = Path(tempfile.mkdtemp(prefix="xpl-bench-net-")) if base_path is None else base_path
    net = Localnet(root, validators=validators, spec=spec)
    total = int(tps * duration)
    genesis_hash = spec.genesis_header().hash
    progress(f"signing {total} transfers from {accounts} accounts")
    txs = _sign_transfers(senders, total, genesis_hash)
    watched = {tx.hash for tx in txs}
    progress(f"starting {validators} validators in {root}")
    net.start()
    observer = _Observer(net.nodes[-1].rpc_url, watched)
    clients = [RpcClient(node.rpc_url, timeout=30.0) for node in net.nodes]
    try:
        net.wait_finalized(2)
        observer.start()
        pids = {
            node.name: node.process.popen.pid
            for node in net.nodes
            if node.process and node.process.popen
        }
        cpu_before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
        progress(f"submitting {tps} transfers/s for {duration:.0f} s")
        started = time.monotonic()
        shares = [txs[i :: len(clients)] for i in range(len(clients))]
        submitters = [
            _Submitter(client, share, tps / len(clients), started)
            for client, share in zip(clients, shares, strict=True)
        ]
        for submitter in submitters:
            submitter.start()
        for submitter in submitters:
            submitter.join()
        elapsed = time.monotonic() - started
        submitted = sum(s.submitted for s in submitters)
        refused = sum(s.refused for s in submitters)
        cpu_after = {name: _cpu_seconds(pid) for name, pid in pids.items()}
        progress(f"submitted {submitted} in {elapsed:.1f} s; waiting for them to be finalized")
        settle_deadline = time.monotonic() + settle
        while time.monotonic() < settle_deadline:
            finalized_txs = sum(
                1 for n in observer.included.values() if n <= observer.finalized_number
            )
            if finalized_txs >= submitted:
                break
            time.sleep(0.5)
        time.sleep(1)
        observer.stop()
        observer.recheck()
        observer.client.close()
    finally:
        for client in clients:
            client.close()
        net.stop()
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
    included = len(observer.included)
    finalized = sum(1 for n in observer.included.values() if n <= observer.finalized_number)
    holding = sorted(set(observer.included.values()))
    numbers = sorted(observer.block_times)
    block_times = [
        float(observer.block_times[b] - observer.block_times[a])
        for a, b in itertools.pairwise(numbers)
        if b == a + 1
    ]
    lags = [
        observer.finalized_at[n] - observer.block_times[n]
        for n in numbers
        if n in observer.finalized_at
    ]
    span_s = (
        (observer.block_times[holding[-1]] - observer.block_times[holding[0]]) / 1000 + 1
        if holding
        else 0.0
    )
    return NetworkFigures(
        validators=validators,
        tps_target=tps,
        duration_s=round(elapsed, 2),
        submitted=submitted,
        refused=refused,
        included=included,
        finalized=finalized,
        lost=submitted - finalized,
        submit_rate=round(submitted / elapsed, 1),
        included_rate=round(included / span_s, 1) if span_s else 0.0,
        blocks=len(numbers),
        block_time_p50_ms=_percentile(block_times, 0.5),
        block_time_p99_ms=_percentile(block_times, 0.99),
        finality_lag_p50_ms=round(_percentile(lags, 0.5), 1),
        finality_lag_p99_ms=round(_percentile(lags, 0.99), 1),
        cpu_per_node={
            name: round((cpu_after[name] - cpu_before[name]) / elapsed, 3) for name in cpu_before
        },
    )
