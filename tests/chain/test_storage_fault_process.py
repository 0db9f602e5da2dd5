"""A dev node whose disk fills up, as a real process: `xpl node --dev` keeps its database on a
small tmpfs (`tests.chain.tiny_filesystem`), and a ballast file fills it until LevelDB's writes
fail with a real ENOSPC. The first fault deletes the node's reserve file, in whose room it resumes
by itself; the ballast then fills that too.

While the disk is full the node must say so (system_health's `storage`, the metrics, one log line
naming the database and the error, no traceback per slot), answer a transaction with the storage
error code, and lose nothing finalized. Once the ballast is deleted it must resume authoring and
finalizing by itself, with the total issuance still equal to the sum of the balances (the node
runs with --check-invariants, and the database is checked after it stops).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chain.client.chain import XplClient, transfer_call
from chain.client.rpc import RpcClientError, RpcConnectionError
from chain.service.rpc.errors import STORAGE_FAILURE
from chain.service.storage_faults import STORAGE_RETRY_MAX_MS
from chain.storage.chain_store import ChainStore
from chain.storage.kv import LevelDBStore
from runtime.invariants import check_invariants
from runtime.primitives.keys import dev_keypair
from runtime.transaction import sign_transaction
from tests.chain.conftest import NodeProcess, poll_until
from tests.chain.tiny_filesystem import TinyFilesystem, tiny_filesystem

BOB, CHARLIE = dev_keypair("Bob"), dev_keypair("Charlie")
DISK_BYTES = 64 * 1024 * 1024
HEALTH_SAMPLES = 20


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[TinyFilesystem]:
    with tiny_filesystem(tmp_path / "disk", DISK_BYTES) as fs:
        yield fs


@pytest.fixture
def node(disk: TinyFilesystem, tmp_path: Path) -> Iterator[NodeProcess]:
    node = NodeProcess(disk.path / "node", ("--dev",))
    node.log_path = tmp_path / "node.log"  # the log must not share the disk that fills up
    try:
        yield node
    finally:
        try:
            node.stop()
        finally:
            node.kill()


def metric(node: NodeProcess, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", node.metrics(), re.MULTILINE)
    assert found is not None, f"no metric {name}"
    return float(found.group(1))


def storage_fault(client: XplClient) -> dict[str, object] | None:
    """system_health's `storage` member (None while the database takes writes)."""
    try:
        fault = client.health().get("storage")
    except (RpcClientError, RpcConnectionError):
        return None
    return fault if isinstance(fault, dict) else None


def test_a_node_whose_disk_fills_reports_it_and_resumes_once_space_is_freed(node, disk):
    node.start()
    client = node.client()
    genesis = client.genesis_hash()
    nonce = client.next_nonce(BOB.public)
    sent = client.submit(
        sign_transaction(
            BOB, transfer_call(CHARLIE.public, 10**12), nonce=nonce, genesis_hash=genesis
        )
    )
    assert sent
    node.wait_finalized(3)
    before_number = client.finalized_number()
    before_hash = client.block_hash(before_number)
    assert metric(node, "xpl_storage_healthy") == 1

    disk.fill()
    # The first fault releases the node's reserve file, whose room lets it resume by itself.
    poll_until(
        lambda: True if "storage recovered" in node.log_text() else None,
        timeout=STORAGE_RETRY_MAX_MS / 1000 + 20,
        what="the node to resume in the room of its reserve file",
    )
    assert "deleted the reserve file" in node.log_text()
    disk.fill()  # the ballast takes that room too, and the reserve file is not made again
    fault = poll_until(lambda: storage_fault(client), timeout=20, what="health to report storage")
    assert fault["healthy"] is False
    assert "No space left on device" in str(fault["error"])
    fault_finalized = client.finalized_hash()
    # Further failures (the retries on a still-full disk) are counted, not logged.
    poll_until(
        lambda: True if metric(node, "xpl_storage_write_failures_total") >= 3 else None,
        timeout=20,
        what="three failed writes or reopenings",
    )
    assert metric(node, "xpl_storage_healthy") == 0
    refused = sign_transaction(
        BOB, transfer_call(CHARLIE.public, 10**12), nonce=nonce + 1, genesis_hash=genesis
    )
    # An honest client is answered at once while the disk is full.
    latencies = []
    for _ in range(HEALTH_SAMPLES):
        started = time.perf_counter()
        assert storage_fault(client) is not None
        with pytest.raises(RpcClientError) as caught:
            client.submit(refused)
        assert caught.value.code == STORAGE_FAILURE
        latencies.append(time.perf_counter() - started)
    print(f"system_health + author_submitExtrinsic while faulted: max {max(latencies):.3f} s")
    assert max(latencies) < 1.0
    log = node.log_text()
    fault_lines = [line for line in log.splitlines() if "storage fault:" in line]
    assert len(fault_lines) == 2, log  # the fault the reserve file ended, and this one
    assert "No space left on device" in fault_lines[0] and "/db" in fault_lines[0]
    assert "Traceback" not in log

    disk.free()
    poll_until(
        lambda: True if storage_fault(client) is None else None,
        timeout=STORAGE_RETRY_MAX_MS / 1000 + 15,
        what="the node to take writes again",
    )
    assert metric(node, "xpl_storage_healthy") == 1
    assert "storage recovered" in node.log_text()
    fault_number = int(client.header(fault_finalized)["number"], 16)
    node.wait_finalized(fault_number + 2)
    assert client.block_hash(before_number) == before_hash
    assert client.block_hash(fault_number) == fault_finalized
    client.submit(refused)
    assert "Traceback" not in node.log_text()
    assert node.stop() == 0

    store = ChainStore(LevelDBStore(node.base_path / "chains" / "dev" / "db"))
    store.open()
    try:
        assert store.hash_at(fault_number) == fault_finalized
        assert store.finalized_header.number >= fault_number + 2
        best = store.best_hash
        problems = check_invariants(store.reader(best), lambda p: store.iterate_state(best, p))
        assert problems == []
    finally:
        store.close()
